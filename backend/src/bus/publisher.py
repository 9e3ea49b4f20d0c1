"""``BusPublisher``: the feeder's md callback that puts every md on its symbol's NATS subject.

Why an outbox: the feeder serves every symbol from one event loop and calls ``on_md`` inline,
so the callback must never wait for the network. ``on_md`` only encodes (a few µs, and it
snapshots the dict) and appends to a bounded outbox; a background task publishes. When NATS is
slow or down the outbox keeps the newest md and drops the oldest — the same policy as the
engine inbox, counted in :meth:`stats`, and visible downstream as gaps in ``Levibot-Seq``.

md are published with core NATS publish into the ``LEVIBOT_MD`` stream's subjects: the stream
stores them without a per-message acknowledgement round trip. While disconnected the task waits
for the reconnect (instead of filling the client's own buffer with stale md), then re-ensures
the stream, since the server may have come back empty.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from typing import Any

import nats.errors

from ..errors import CodecError, UsageError
from ..log_limits import RateLimitedLog
from ..tasks import cancel_bounded
from .codec import encode_md, md_headers
from .connection import BusClient, ensure_md_stream
from .subjects import md_subject

log = logging.getLogger(__name__)

#: md published between two explicit yields to the event loop while draining a backlog.
_YIELD_EVERY = 256


class BusPublisher:
    """Publishes md dicts to ``md.mexc.spot.<BASE>_<QUOTE>``; ``on_md`` never blocks."""

    def __init__(
        self,
        client: BusClient,
        *,
        source: str,
        outbox_size: int = 10_000,
        retry_s: float = 0.5,
    ) -> None:
        if outbox_size < 1:
            raise UsageError(f"outbox_size must be >= 1, got {outbox_size}")
        self.client = client
        self.source = source
        #: ``Levibot-Source`` value: a new session per publisher, so a restarted node's md
        #: (sequence numbers from 1 again) never look like replays of its earlier ones.
        self.session = f"{source}/{secrets.token_hex(4)}"
        self.retry_s = retry_s
        self.published = 0
        self.dropped_outbox_full = 0
        self.encode_errors = 0
        self.publish_errors = 0
        self._outbox: deque[tuple[str, int, bytes]] = deque(maxlen=outbox_size)
        self._seq: dict[str, int] = {}
        self._subjects: dict[str, str] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stream_ready = False
        self._task: asyncio.Task[None] | None = None
        self._drop_log = RateLimitedLog(log, 10.0)
        self._error_log = RateLimitedLog(log, 10.0, level=logging.ERROR)

    async def start(self) -> None:
        """Connect (waiting for the server if needed) and start the publish task; idempotent."""
        if self._task is not None:
            return
        await self.client.connect()
        self.client.on_reconnect(self._on_reconnect)
        self._task = asyncio.create_task(self._run(), name=f"bus-publisher:{self.source}")

    def _on_reconnect(self) -> None:
        self._stream_ready = False
        self._wakeup.set()

    def on_md(self, md: dict[str, Any]) -> None:
        """Feeder callback: encode ``md`` and queue it; never blocks, never raises."""
        symbol = md.get("symbol")
        try:
            if not isinstance(symbol, str):
                raise CodecError(f"md has no string 'symbol': {symbol!r}")
            subject = self._subjects.get(symbol)
            if subject is None:
                subject = self._subjects[symbol] = md_subject(symbol)
            payload = encode_md(md)
        except ValueError as exc:  # CodecError, or a symbol that cannot be a subject
            self.encode_errors += 1
            self._error_log.event("md of %r not published (%d so far): %s", symbol, self.encode_errors, exc)
            return
        seq = self._seq[symbol] = self._seq.get(symbol, 0) + 1
        if len(self._outbox) == self._outbox.maxlen:
            self.dropped_outbox_full += 1
            self._drop_log.event(
                "bus outbox full (%d md); dropped the oldest md, %d so far",
                self._outbox.maxlen,
                self.dropped_outbox_full,
            )
        self._outbox.append((subject, seq, payload))
        self._idle.clear()
        self._wakeup.set()

    async def _run(self) -> None:
        """Ensure the stream (at once: engine hosts wait for it), then publish the outbox in
        order; wait out disconnects; re-ensure the stream after them."""
        sent = 0
        while True:
            if not self._stream_ready:
                await self.client.wait_connected()
                if not await self._ensure_stream():
                    await asyncio.sleep(self.retry_s)
                    continue
            if not self._outbox:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self.client.wait_connected()
            subject, seq, payload = self._outbox.popleft()
            try:
                await self.client.nc.publish(subject, payload, headers=md_headers(self.session, seq))
                self.published += 1
            except (nats.errors.Error, OSError) as exc:
                self.publish_errors += 1
                self._error_log.event(
                    "publish to %s failed (%d so far): %r", subject, self.publish_errors, exc
                )
            sent += 1
            if sent % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def _ensure_stream(self) -> bool:
        try:
            await ensure_md_stream(self.client.js)
        except (nats.errors.Error, OSError) as exc:
            self.publish_errors += 1
            self._error_log.event(
                "cannot ensure the md stream (%d errors so far): %r", self.publish_errors, exc
            )
            return False
        self._stream_ready = True
        return True

    def stats(self) -> dict[str, Any]:
        """Plain-dict counters: published, dropped (outbox full), errors, still queued."""
        return {
            "source": self.session,
            "published": self.published,
            "dropped_outbox_full": self.dropped_outbox_full,
            "encode_errors": self.encode_errors,
            "publish_errors": self.publish_errors,
            "queued": len(self._outbox),
            "connection": self.client.stats(),
        }

    async def close(self, drain_s: float = 2.0) -> None:
        """Publish what is queued (at most ``drain_s``), flush, stop the task; idempotent."""
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=drain_s)
            if self.client.connected:
                await self.client.nc.flush(timeout=max(int(drain_s), 1))
        except (TimeoutError, nats.errors.Error) as exc:
            log.warning(
                "bus publisher closed with %d md unpublished or unflushed: %r", len(self._outbox), exc
            )
        await cancel_bounded(task, 1.0, "bus publisher")
