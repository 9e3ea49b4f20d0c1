"""The recording format: JSON Lines in zstd frames, one frame per flush, a header per segment.

Why this shape: a recording must survive ``kill -9`` (every flush is one independently
decodable zstd frame, appended with one ``write``), be readable without this library
(``zstdcat SEGMENT | jq``: every line is one JSON object, binary websocket payloads in
standard base64), and say which format it is (the first line of every segment is a
``header`` with ``format`` and ``version``). Each data frame is preceded by a zstd *skippable*
frame holding its compressed length, so a reader can step over a corrupt frame without
decoding it; standard zstd decoders skip skippable frames by definition.

Record types (``type`` first, ``t`` the local wall clock in ns since the epoch); the full
description is ``docs/RECORDING.md``:

``header``  ``format``, ``version``, ``session``, ``segment``, ``pid``, ``code`` (ccxt version, source hash)
``meta``    ``kind`` (``adapter`` / ``feeder``) and what a replay needs to rebuild them
``rx``      one websocket frame as received: ``conn``, ``b64`` (binary) or ``text``; ``drain``
            when ccxt handled it in one go with the frames around it (see ``hooks``)
``msg``     any other websocket message ccxt saw (close, closing, closed, error, ping, pong)
``tx``      a frame the client sent (subscriptions, pings): ``conn``, ``text``
``dial`` / ``open`` / ``dial_error``  a connection attempt (``conn``, ``url``, ``client``)
``close`` / ``error``  ccxt closing or failing a connection (``code`` / ``error``, informative)
``rest_req`` a REST request as sent (``req`` its number); ``rest`` its response with the
            request, ``rest_error`` (``kind``, ``error``) when it got none
``gap``     records lost (memory bound reached, write error): a replay is not exact there
``mark``    a timer-driven step changed state (``name``) after ``seq`` stream results (``pacing``)
``stop``    the feeder stopped delivering md (a replay ends here)
"""

from __future__ import annotations

import base64
import socket
import struct
from typing import Any

import aiohttp
import orjson

#: ``header.format`` of every segment.
FORMAT = "levibot-rec"
#: ``header.version``: a reader refuses any other (a replay would misread the records).
VERSION = 1
#: segment files end with this; their names sort in recording order.
SUFFIX = ".rec.zst"

#: zstd skippable frame (magic 0x184D2A5E, 4-byte payload): the next data frame's length.
INDEX_MAGIC = 0x184D2A5E
INDEX = struct.Struct("<III")
INDEX_PREFIX = struct.pack("<II", INDEX_MAGIC, 4)

#: what the writer's queue holds per websocket frame (built on the event loop: a tuple, no
#: encoding), and per other event (a dict encoded as is).
RX = "rx"
EVENT = "ev"

_DRAIN = b',"drain":true'

#: ``rest_error.kind`` → the transport exception ccxt met (it maps each to its own error); a
#: replay raises the same one, so ccxt maps it the same way. First match wins.
REST_FAILURES: tuple[tuple[str, type[BaseException]], ...] = (
    ("dns", socket.gaierror),
    ("timeout", TimeoutError),
    ("connection", aiohttp.ClientConnectionError),
    ("client", aiohttp.ClientError),
)


def encode_rx(t: int, conn: int, data: bytes | bytearray | str, drained: bool) -> bytes:
    """One ``rx`` line: ~1 µs, so the writer thread holds the GIL briefly per frame."""
    if isinstance(data, str):
        payload = b'"text":' + orjson.dumps(data)
    else:
        payload = b'"b64":"' + base64.b64encode(data) + b'"'
    return b'{"type":"rx","t":%d,"conn":%d,%s%s}\n' % (t, conn, payload, _DRAIN if drained else b"")


def encode_event(kind: str, t: int, body: dict[str, Any]) -> bytes:
    """One line of any other record type; values orjson cannot encode are written as text,
    keys that are ``str`` subclasses (aiohttp's header names, ``Channel``) as plain text."""
    return orjson.dumps({"type": kind, "t": t, **body}, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n"


def index_frame(length: int) -> bytes:
    """The skippable frame that announces a data frame of ``length`` bytes."""
    return INDEX.pack(INDEX_MAGIC, 4, length)


def rx_payload(record: dict[str, Any]) -> bytes | str:
    """The frame of an ``rx`` record as it was received (bytes or text)."""
    text = record.get("text")
    if text is not None:
        return str(text)
    return base64.b64decode(record["b64"], validate=True)
