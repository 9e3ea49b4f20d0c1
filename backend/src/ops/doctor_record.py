"""What ``doctor`` saw on the wire: raw REST bodies and websocket frames, kept and saved.

Why: a doctor run is only worth something if its verdicts can be re-checked later, by
someone who was not there when MEXC answered. So every REST body (with its request) and
every websocket frame (as received, with the local receive time) is kept in memory during the
run; with ``--save DIR`` it is written as one JSON Lines file per run (format: see
:mod:`backend.src.ops.doctor`). The checks read the same frames, so what is saved is exactly
what was judged.

The websocket side is a :class:`MexcWsClient` (the library's client, fast path and refusal
detection included) with this log as its ``WireTap``: it sees each frame before the library
handles it, and what the client sends. REST bodies come through the same hook as a session
recording's (``recording.hooks.tap_rest``).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType
from ccxt.async_support.base.ws.client import Client
from ccxt.protobuf.mexc.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper
from google.protobuf.message import DecodeError

from ..adapters.mexc_subscriptions import message_hash, rejected_channels
from ..adapters.mexc_ws_client import GuardedClient, MexcWsClient
from ..errors import SubscriptionRejected
from ..recording.hooks import tap_rest


@dataclass(frozen=True)
class Frame:
    """One websocket frame as it arrived: text (``str``) or binary (``bytes``)."""

    url: str
    data: str | bytes
    #: local wall clock at arrival (ns since the epoch): what ``--save`` writes.
    t_ns: int
    #: local monotonic clock at arrival (s): for intervals inside the run.
    mono: float
    #: a binary frame decoded with ccxt's bundled protobuf classes (None: text or undecodable),
    #: once at arrival, so checks can scan thousands of frames repeatedly
    push: PushDataV3ApiWrapper | None = None


def decode_push(data: bytes | bytearray) -> PushDataV3ApiWrapper | None:
    """The push wrapper of a binary frame, with ccxt's bundled classes; None if undecodable."""
    msg = PushDataV3ApiWrapper()
    try:
        msg.ParseFromString(bytes(data))
    except DecodeError:
        return None
    return msg


@dataclass
class WireLog:
    """Every frame received, and, when ``keep_records``, every record for ``--save``; the
    doctor's websocket client's ``WireTap``."""

    keep_records: bool = False
    frames: list[Frame] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        if self.keep_records:
            self.records.append(record)

    def frame(self, url: str, data: str | bytes) -> None:
        t_ns, mono = time.time_ns(), time.monotonic()
        is_bytes = isinstance(data, bytes | bytearray)
        frame = Frame(url, data, t_ns, mono, decode_push(data) if is_bytes else None)
        self.frames.append(frame)
        if self.keep_records:
            payload = bytes(data).hex() if is_bytes else data
            kind = "binary" if is_bytes else "text"
            self.records.append({"type": "ws", "t_ns": frame.t_ns, "url": url, "kind": kind, "data": payload})

    # ------------------------------------------------------------------ WireTap
    def register(self, ws: MexcWsClient) -> int:
        return 0

    def connect(self, conn: GuardedClient, dial: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        return dial()

    def received(self, conn: GuardedClient, message: Any) -> None:
        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            self.frame(conn.url, message.data)

    def sent(self, conn: GuardedClient, message: Any) -> None:
        text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
        self.add({"type": "ws_sent", "t_ns": time.time_ns(), "url": conn.url, "data": text})

    def ended(self, conn: GuardedClient, code: int | None, error: BaseException | None) -> None:
        """Closes and failures show in the checks' verdicts; the log keeps frames only."""

    def watch_rest(self, exchange: Any) -> None:
        """Log every REST response of ccxt client ``exchange`` (the body text before JSON
        parsing, with its request)."""
        if not self.keep_records:
            return

        def on_response(exchange_: dict[str, Any]) -> None:
            exchange_.pop("headers")
            self.add({"type": "rest", "t_ns": time.time_ns(), **exchange_})

        tap_rest(exchange, on_response)

    async def save(self, directory: str | os.PathLike[str], header: dict[str, Any]) -> Path:
        """Write ``header`` and every record as JSON Lines to a new file in ``directory``."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = Path(directory) / f"doctor-{stamp}-{os.getpid()}.jsonl"
        lines = [json.dumps(r, ensure_ascii=False) for r in [header, *self.records]]

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")

        await asyncio.to_thread(write)
        return path


@dataclass(frozen=True)
class Refusal:
    """One refusal the library's ``rejected_channels`` recognised."""

    mono: float
    channels: list[str]
    reason: str
    #: refused channels the library maps to a ccxt message hash (it rejects the watch on it)
    mapped_by_library: dict[str, str]


class DoctorWsClient(MexcWsClient):
    """The library's websocket client, with every frame logged to ``wire``.

    Refusals: the library rejects the watch waiting on a refused channel when it knows the
    ccxt message hash of that channel (its own protobuf channels). A watch that waits on the
    channel name itself (the doctor's raw subscription to a legacy channel) has no such hash;
    it is rejected here, with the library's own :class:`SubscriptionRejected`, and the
    refusal is noted in ``refusals`` either way so the check can tell who raised it.
    """

    def __init__(self, config: dict[str, Any], wire: WireLog) -> None:
        super().__init__(config, tap=wire)
        self.wire = wire
        self.refusals: list[Refusal] = []

    def _handle_rejection(self, client: Client, message: Any) -> bool:
        refusal = rejected_channels(message)
        if refusal is None:
            return super()._handle_rejection(client, message)
        channels, reason = refusal
        handled = super()._handle_rejection(client, message)
        timeframes = {
            v: k for k, v in self.safe_dict(self.options, "timeframes", {}).items() if isinstance(v, str)
        }
        mapped = {c: h for c in channels if (h := message_hash(c, self._symbol_of, timeframes)) is not None}
        for channel in channels:
            if channel in client.futures:  # a raw watch on the channel name: no ccxt hash
                client.reject(SubscriptionRejected(f"MEXC refused {channel}: {reason}"), channel)
        self.refusals.append(Refusal(time.monotonic(), channels, reason, mapped))
        return handled
