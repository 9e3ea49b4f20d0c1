"""Wire format of md and bars on the bus, versions ``md/1`` and ``bar/1`` (pure; no NATS import).

Payload: the md (or :class:`~backend.src.market_data.Bar`) dict as compact JSON (orjson), keys
in the feeder's order. Headers:

* ``Levibot-Codec: md/1`` (``bar/1``) — the payload format; a subscriber rejects any other
  value, so a future ``md/2`` can be rolled out by upgrading subscribers first.
* ``Levibot-Source: <publisher>/<session>`` and ``Levibot-Seq: <n>`` — who published it and
  its per-symbol sequence number in that publisher session (1, 2, ...; md and bars counted
  apart), so a subscriber can drop a message it already has and count the ones it missed.
* ``Levibot-History: 1`` on a bar — part of a symbol's history, published when its feeder
  bootstrapped, not a bar that just closed.

Why JSON and why exact: engines must get the same dict over the bus as in-process. orjson
writes the shortest repr of a float, which parses back to the same double, keeps ints as ints
and ``None``/bools as themselves. It would silently turn NaN/inf into ``null`` and tuples
into lists, so such values are rejected instead of being changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import CodecError

CODEC_HEADER = "Levibot-Codec"
CODEC_VERSION = "md/1"
BAR_CODEC_VERSION = "bar/1"
SOURCE_HEADER = "Levibot-Source"
SEQ_HEADER = "Levibot-Seq"
HISTORY_HEADER = "Levibot-History"


#: Types JSON gives back as themselves (the common md values: checked with one set lookup).
_EXACT = frozenset({str, int, bool, type(None)})


def _check_exact(value: Any, path: str) -> None:
    """Raise ``CodecError`` unless JSON gives ``value`` back as an equal value of the same type
    (non-string dict keys are left to orjson, which refuses them)."""
    if isinstance(value, str | int) or value is None:  # bool is an int
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodecError(f"{path} is {value!r}; JSON cannot carry it")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_exact(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _check_exact(item, f"{path}.{key}")
        return
    raise CodecError(f"{path} is a {type(value).__name__}; JSON would not give it back as one")


def _encode(obj: Mapping[str, Any], what: str) -> bytes:
    """Compact JSON of ``obj``; ``CodecError`` when it would not decode to an equal dict."""
    for key, value in obj.items():  # runs per md in the feeder: plain fields take the fast path
        kind = type(value)
        if kind in _EXACT or (kind is float and math.isfinite(value)):
            continue
        _check_exact(value, f"{what}.{key}")
    try:
        return orjson.dumps(obj)
    except TypeError as exc:  # orjson.JSONEncodeError: a value or key JSON has no type for
        raise CodecError(f"{what} is not encodable: {exc}") from exc


def _decode(payload: bytes, codec: str | None, version: str, what: str) -> dict[str, Any]:
    if codec != version:
        raise CodecError(f"unsupported {what} codec {codec!r}; this subscriber reads {version!r} only")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"{version} payload is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise CodecError(f"{version} payload is a {type(obj).__name__}, not an {what} object")
    return obj


def encode_md(md: Mapping[str, Any]) -> bytes:
    """The ``md/1`` payload of ``md``; ``CodecError`` when it would not decode to an equal dict."""
    return _encode(md, "md")


def md_headers(source: str, seq: int) -> dict[str, str]:
    """Headers of the ``seq``-th md of a symbol published by ``source``."""
    return {CODEC_HEADER: CODEC_VERSION, SOURCE_HEADER: source, SEQ_HEADER: str(seq)}


def decode_md(payload: bytes, codec: str | None) -> dict[str, Any]:
    """The md dict of a payload whose ``Levibot-Codec`` header is ``codec``."""
    return _decode(payload, codec, CODEC_VERSION, "md")


def encode_bar(bar: Mapping[str, Any]) -> bytes:
    """The ``bar/1`` payload of a :class:`~backend.src.market_data.Bar`."""
    return _encode(bar, "bar")


def bar_headers(source: str, seq: int, *, history: bool) -> dict[str, str]:
    """Headers of the ``seq``-th bar of a symbol published by ``source``."""
    headers = {CODEC_HEADER: BAR_CODEC_VERSION, SOURCE_HEADER: source, SEQ_HEADER: str(seq)}
    if history:
        headers[HISTORY_HEADER] = "1"
    return headers


def decode_bar(payload: bytes, codec: str | None) -> dict[str, Any]:
    """The bar dict of a payload whose ``Levibot-Codec`` header is ``codec`` (not yet checked:
    see ``validation.check_bus_bar``)."""
    return _decode(payload, codec, BAR_CODEC_VERSION, "bar")
