"""Inspecting MEXC's protobuf pushes: which frames belong to a channel, which fields are unknown.

Why apart from the frame checks in :mod:`.doctor_ws`: MEXC adds protobuf fields without notice
(2026-06-17: three at once) and ccxt's bundled classes keep the bytes as unknown fields; listing
them needs protobuf-version-specific APIs, kept here in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ccxt.protobuf.mexc.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper
from google.protobuf.message import Message

from .doctor_record import Frame

try:  # protobuf ≥ 4.21: the only unknown-field API the upb backend implements
    from google.protobuf.unknown_fields import UnknownFieldSet
except ImportError:  # pragma: no cover - older protobuf: fall back to byte counts
    UnknownFieldSet = None

#: Protobuf fields MEXC added on 2026-06-17, unknown to ccxt's bundled classes (expected).
KNOWN_NEW_FIELDS = {
    "publicAggreDeals.deals#5": "tradeId",
    "publicAggreBookTicker#5": "version",
    "publicAggreBookTicker#6": "lastOrderCreateTime",
}


def spot_pushes(frames: Sequence[Frame], channel: str) -> list[tuple[Frame, PushDataV3ApiWrapper]]:
    """The decoded binary frames of ``channel``, in arrival order."""
    return [(f, f.push) for f in frames if f.push is not None and f.push.channel == channel]


def _repeated(fd: Any) -> bool:
    repeated = getattr(fd, "is_repeated", None)  # protobuf ≥ 6; ``label`` is deprecated there
    return bool(repeated) if repeated is not None else fd.label == fd.LABEL_REPEATED


def unknown_fields(msg: Message, path: str = "wrapper") -> list[str] | None:
    """Paths (``publicAggreDeals.deals#5``) of every unknown field in ``msg`` and the messages
    it contains; None when the installed protobuf offers no way to list them.

    protobuf 7.x with the upb backend raises ``NotImplementedError`` from
    ``Message.UnknownFields()``; ``google.protobuf.unknown_fields.UnknownFieldSet`` works.
    """
    if UnknownFieldSet is None:
        return None
    found = [f"{path}#{f.field_number}" for f in UnknownFieldSet(msg)]
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        sub = fd.name if path == "wrapper" else f"{path}.{fd.name}"
        for item in value if _repeated(fd) else [value]:
            found += unknown_fields(item, sub) or []
    return found


def unknown_bytes(msg: Message) -> int:
    """Bytes of ``msg`` that the schema does not describe (fallback without UnknownFieldSet)."""
    known = type(msg)()
    known.CopyFrom(msg)
    known.DiscardUnknownFields()
    return msg.ByteSize() - known.ByteSize()


def wrapper_fields(msg: PushDataV3ApiWrapper) -> list[str]:
    """Names of the wrapper's metadata fields that are set (the body excluded)."""
    body = msg.WhichOneof("body")
    return [fd.name for fd, _ in msg.ListFields() if fd.name != body]
