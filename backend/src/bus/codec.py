"""Wire format of md on the bus, version ``md/1`` (pure; no NATS import).

Payload: the md dict as compact JSON (orjson), keys in the feeder's order. Headers:

* ``Levibot-Codec: md/1`` — the payload format; a subscriber rejects any other value, so a
  future ``md/2`` can be rolled out by upgrading subscribers first.
* ``Levibot-Source: <publisher>/<session>`` and ``Levibot-Seq: <n>`` — who published it and
  its per-symbol sequence number in that publisher session (1, 2, ...), so a subscriber can
  drop an md it already has and count the ones it missed.

Why JSON and why exact: engines must get the same dict over the bus as in-process. orjson
writes the shortest repr of a float, which parses back to the same double, keeps ints as ints
and ``None``/bools as themselves. It would silently turn NaN/inf into ``null`` and tuples
into lists, so such values are rejected instead of being changed.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from ..errors import CodecError

CODEC_HEADER = "Levibot-Codec"
CODEC_VERSION = "md/1"
SOURCE_HEADER = "Levibot-Source"
SEQ_HEADER = "Levibot-Seq"


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


def encode_md(md: dict[str, Any]) -> bytes:
    """The ``md/1`` payload of ``md``; ``CodecError`` when it would not decode to an equal dict."""
    for key, value in md.items():  # runs per md in the feeder: plain fields take the fast path
        kind = type(value)
        if kind in _EXACT or (kind is float and math.isfinite(value)):
            continue
        _check_exact(value, f"md.{key}")
    try:
        return orjson.dumps(md)
    except TypeError as exc:  # orjson.JSONEncodeError: a value or key JSON has no type for
        raise CodecError(f"md is not encodable: {exc}") from exc


def md_headers(source: str, seq: int) -> dict[str, str]:
    """Headers of the ``seq``-th md of a symbol published by ``source``."""
    return {CODEC_HEADER: CODEC_VERSION, SOURCE_HEADER: source, SEQ_HEADER: str(seq)}


def decode_md(payload: bytes, codec: str | None) -> dict[str, Any]:
    """The md dict of a payload whose ``Levibot-Codec`` header is ``codec``."""
    if codec != CODEC_VERSION:
        raise CodecError(f"unsupported md codec {codec!r}; this subscriber reads {CODEC_VERSION!r} only")
    try:
        md = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"{CODEC_VERSION} payload is not JSON: {exc}") from exc
    if not isinstance(md, dict):
        raise CodecError(f"{CODEC_VERSION} payload is a {type(md).__name__}, not an md object")
    return md
