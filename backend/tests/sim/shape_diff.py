"""Pure shape comparison of JSON-like values, and a protobuf wire walk that feeds it.

The conformance test compares what the simulator sends with payloads recorded from the real
MEXC. Values differ by nature (prices, times), so only the *shape* is compared: key sets
(recursively), JSON kinds (number, string, null, bool, object, array), positional array
lengths, and the unit of timestamps (seconds or milliseconds, judged by magnitude).
Protobuf frames are first turned into the same JSON-like form by field number, so a field
that the bundled ccxt classes do not know (MEXC's 2026-06 additions) is still seen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

_TIME_KEY = re.compile(r"(?i)(time|^ts$|^t$|^cts$|timestamp|^serverTime$)")


def kind(value: Any) -> str:
    """JSON kind of a value; int and float are one kind, as on the wire."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def time_unit(value: Any) -> str | None:
    """'ms' or 's' for a number that looks like an epoch time of 2001-2286, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if 1e12 <= value < 1e13:
        return "ms"
    if 1e9 <= value < 1e10:
        return "s"
    return None


def _homogeneous(items: list[Any]) -> bool:
    """An array whose elements all have one kind is a list; otherwise a positional tuple."""
    return len({kind(i) for i in items}) <= 1


def shape_diff(actual: Any, expected: Any, path: str = "$", key: str = "") -> list[str]:
    """Differences in shape between ``actual`` (simulator) and ``expected`` (recording).

    Each difference is one line ``<path>: <what>``; array elements of a list are reported
    under ``[*]`` so that one difference is listed once however long the list is. Empty
    arrays are compared by kind only (the recording cannot tell what their elements were).
    Objects in a list are compared with the recording's first element.
    """
    ka, ke = kind(actual), kind(expected)
    if ka != ke:
        return [f"{path}: {ka} != {ke}"]
    out: list[str] = []
    if ke == "number":
        ue = time_unit(expected)
        if ue is not None and (_TIME_KEY.search(key) or ue == "ms"):
            ua = time_unit(actual)
            if ua != ue:
                out.append(f"{path}: unit {ua} != {ue}")
    elif ke == "object":
        for k in sorted(set(expected) - set(actual)):
            out.append(f"{path}.{k}: missing")
        for k in sorted(set(actual) - set(expected)):
            out.append(f"{path}.{k}: extra")
        for k in sorted(set(expected) & set(actual)):
            out.extend(shape_diff(actual[k], expected[k], f"{path}.{k}", str(k)))
    elif ke == "array" and actual and expected:
        if _homogeneous(expected) and _homogeneous(actual):
            seen: dict[str, None] = {}
            for item in actual:
                for line in shape_diff(item, expected[0], f"{path}[*]", key):
                    seen.setdefault(line)
            out.extend(seen)
        elif len(actual) != len(expected):
            out.append(f"{path}: length {len(actual)} != {len(expected)}")
        else:
            for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
                out.extend(shape_diff(a, e, f"{path}[{i}]", key))
    return out


# -- protobuf ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PbField:
    """One field of a protobuf message: name, scalar kind ('string'/'int'/'message'), nesting."""

    name: str
    kind: str
    repeated: bool = False
    message: PbSchema | None = None


PbSchema = dict[int, PbField]


def schema_of(descriptor: Descriptor, extra: Mapping[str, Mapping[int, PbField]] | None = None) -> PbSchema:
    """Field table of a generated protobuf class, plus ``extra`` fields per message name
    (fields of the official schema that the generated class lacks)."""
    extra = extra or {}
    fields: PbSchema = {}
    for f in descriptor.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            fields[f.number] = PbField(f.name, "message", _is_repeated(f), schema_of(f.message_type, extra))
        elif f.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            fields[f.number] = PbField(f.name, "string", _is_repeated(f))
        else:
            fields[f.number] = PbField(f.name, "int", _is_repeated(f))
    fields.update(extra.get(descriptor.name, {}))
    return fields


def _is_repeated(f: FieldDescriptor) -> bool:
    is_repeated = getattr(f, "is_repeated", None)
    if is_repeated is not None:
        return bool(is_repeated)
    return bool(f.label == FieldDescriptor.LABEL_REPEATED)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def walk_wire(data: bytes, schema: PbSchema) -> dict[str, Any]:
    """Decode protobuf bytes into a JSON-like dict by field number.

    Known fields get their schema name; unknown ones ``#<number>`` (varints as numbers,
    length-delimited as strings). Strings stay strings and int64 stay numbers, as on the wire.
    """
    out: dict[str, Any] = {}
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value: Any
            value, pos = _varint(data, pos)
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            chunk = data[pos : pos + length]
            if len(chunk) != length:
                raise ValueError(f"truncated field {number}")
            pos += length
            field = schema.get(number)
            if field is not None and field.kind == "message":
                value = walk_wire(chunk, field.message or {})
            else:
                value = chunk.decode()
        elif wire_type == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire_type == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"wire type {wire_type} of field {number}")
        field = schema.get(number)
        name = field.name if field is not None else f"#{number}"
        if field is not None and field.repeated:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def from_rendering(rendered: Mapping[str, Any], schema: PbSchema) -> dict[str, Any]:
    """A MessageToDict-style rendering (int64 as strings) in ``walk_wire``'s form.

    Values a proto3 encoder never puts on the wire (empty lists, "" and 0) are dropped, so a
    rendering and a walked frame of the same message compare equal in shape.
    """
    by_name = {f.name: f for f in schema.values()}
    out: dict[str, Any] = {}
    for name, value in rendered.items():
        field = by_name.get(name)
        if field is None:
            out[name] = value
            continue
        values = value if field.repeated else [value]
        converted = [_convert(v, field) for v in values]
        converted = [v for v in converted if v not in ("", 0)]
        if not converted:
            continue
        out[name] = converted if field.repeated else converted[0]
    return out


def _convert(value: Any, field: PbField) -> Any:
    if field.kind == "message":
        return from_rendering(value, field.message or {})
    if field.kind == "int":
        return int(value)
    return str(value)
