"""``BusPublisher``: the feeder's md callback that puts every md on its symbol's NATS subject,
and its bar listener that puts every closed bar on the symbol's bar subject.

Why an outbox: the feeder serves every symbol from one event loop and calls ``on_md`` inline,
so the callback must never wait for the network. ``on_md`` only encodes (a few µs, and it
snapshots the dict) and appends to a bounded outbox; a background task publishes. When NATS is
slow or down the outbox keeps the newest md and drops the oldest — the same policy as the
engine inbox, counted in :meth:`stats`, and visible downstream as gaps in ``Levibot-Seq``.

md are published with core NATS publish into the ``LEVIBOT_MD`` stream's subjects: the stream
stores them without a per-message acknowledgement round trip. While disconnected the task waits
for the reconnect (instead of filling the client's own buffer with stale md), then re-ensures
the stream, since the server may have come back empty.

Bars (``on_history``, ``on_bar``: the feeder's :class:`~backend.src.market_data.BarListener`)
go into the ``LEVIBOT_BARS`` stream, which keeps a history per symbol for engine hosts that
start later. Closed bars have a bounded outbox of their own, published before any md waiting
beside them. Histories (one per symbol, given when it bootstraps) wait in a
:class:`~.history_queue.HistoryQueue`, packed and never dropped, and take turns with the md:
one history, then every md that waits, so a universe's bootstrap neither holds the md back
(an md waits one history at most) nor loses histories; a symbol's waiting history always goes
out before its closed bars.
A history is not published whole each time: the task reads the stream's last bar of the symbol
and publishes the bars from ``REPUBLISH_MINUTES`` before it on, since the last minutes a
stopped feeder published may predate their backfill; an empty stream gets the whole history.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Sequence
from typing import Any

import nats.errors
from nats.js.errors import NotFoundError

from ..errors import CodecError, UsageError
from ..log_limits import RateLimitedLog
from ..market_data import MINUTE_MS, Bar
from ..tasks import cancel_bounded
from .codec import CODEC_HEADER, bar_headers, decode_bar, encode_bar, encode_md, md_headers
from .connection import BusClient, ensure_bar_stream, ensure_md_stream
from .history_queue import HistoryQueue
from .subjects import BAR_STREAM, bar_subject, md_subject

log = logging.getLogger(__name__)

#: md published between two explicit yields to the event loop while draining a backlog.
_YIELD_EVERY = 256
#: Minutes before the stream's last bar of a symbol that a bootstrapped feeder publishes
#: again from its history: as many as the feeder's warm start asks MEXC for again
#: (``data.bootstrap.WARM_OVERLAP``), for the same reason.
REPUBLISH_MINUTES = 30
_NATS_ERRORS = (nats.errors.Error, OSError)


class BusPublisher:
    """Publishes md dicts to ``md.mexc.spot.<BASE>_<QUOTE>`` and bars to
    ``bars.mexc.spot.<BASE>_<QUOTE>``; ``on_md``, ``on_history`` and ``on_bar`` never block."""

    def __init__(
        self,
        client: BusClient,
        *,
        source: str,
        outbox_size: int = 10_000,
        bar_outbox_size: int = 100_000,
        retry_s: float = 0.5,
    ) -> None:
        if outbox_size < 1 or bar_outbox_size < 1:
            raise UsageError(f"outbox sizes must be >= 1, got {outbox_size} and {bar_outbox_size}")
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
        self.bars_published = 0
        self.bars_dropped_outbox_full = 0
        #: closed bars ``(symbol, bars)`` waiting to be published; at most ``bar_outbox_size``
        #: in all (a day of bars of 70 symbols), the oldest dropped
        self._bar_outbox: deque[tuple[str, list[Bar]]] = deque()
        self._bar_outbox_size = bar_outbox_size
        self._bars_queued = 0
        #: bootstrapped symbols' histories waiting to be published (never dropped)
        self._histories = HistoryQueue()
        #: per symbol: the sequence of its bars (apart from its md's)
        self._bar_seq: dict[str, int] = {}
        self._bars_direct = False
        #: messages published so far (for the yields while draining a backlog)
        self._sent = 0
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

    def on_history(self, symbol: str, bars: Sequence[Bar]) -> None:
        """Feeder bar listener: ``symbol`` bootstrapped; its history is queued (what the
        stream lacks of it is published, see the module doc). Never blocks."""
        self._histories.put(symbol, bars)
        self._wake()

    def on_bar(self, bar: Bar) -> None:
        """Feeder bar listener: a closed (or revised) bar is queued. Never blocks."""
        symbol = bar["symbol"]
        self._bar_outbox.append((symbol, [bar]))
        self._bars_queued += 1
        while self._bars_queued > self._bar_outbox_size:
            _, dropped = self._bar_outbox.popleft()
            self._bars_queued -= len(dropped)
            self.bars_dropped_outbox_full += len(dropped)
            self._drop_log.event(
                "bus bar outbox full (%d bars); dropped the oldest %d, %d so far",
                self._bar_outbox_size,
                len(dropped),
                self.bars_dropped_outbox_full,
            )
        self._wake()

    @property
    def _bars_waiting(self) -> int:
        """Closed and history bars not published yet."""
        return self._bars_queued + self._histories.bars

    def _wake(self) -> None:
        self._idle.clear()
        self._wakeup.set()

    async def _run(self) -> None:
        """Ensure the streams (at once: engine hosts wait for them), then publish in turns: a
        closed bar (its symbol's waiting history before it) or else the oldest history, then
        every md waiting; wait out disconnects; re-ensure the streams after them."""
        while True:
            if not self._stream_ready:
                await self.client.wait_connected()
                if not await self._ensure_stream():
                    await asyncio.sleep(self.retry_s)
                    continue
            if self._bar_outbox:
                symbol, bars = self._bar_outbox.popleft()
                self._bars_queued -= len(bars)
                history = self._histories.take(symbol)
                if history is not None:
                    await self._publish_bars(symbol, history, history=True)
                await self._publish_bars(symbol, bars, history=False)
            elif (oldest := self._histories.take_oldest()) is not None:
                await self._publish_bars(*oldest, history=True)
            elif not self._outbox:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            for _ in range(len(self._outbox)):  # every md waiting, then the next bar or history
                await self.client.wait_connected()
                subject, seq, payload = self._outbox.popleft()
                self.published += await self._send(subject, payload, md_headers(self.session, seq))

    async def _send(self, subject: str, payload: bytes, headers: dict[str, str]) -> bool:
        """Publish one message once connected; a failure is counted and logged, not raised.
        Yields to the event loop every ``_YIELD_EVERY`` messages while draining a backlog."""
        await self.client.wait_connected()
        sent = False
        try:
            await self.client.nc.publish(subject, payload, headers=headers)
            sent = True
        except _NATS_ERRORS as exc:
            self.publish_errors += 1
            self._error_log.event("publish to %s failed (%d so far): %r", subject, self.publish_errors, exc)
        self._sent += 1
        if self._sent % _YIELD_EVERY == 0:
            await asyncio.sleep(0)
        return sent

    async def _publish_bars(self, symbol: str, bars: list[Bar], history: bool) -> None:
        """Publish ``bars`` of ``symbol`` in order (of a history, only what the stream lacks)."""
        try:
            subject = bar_subject(symbol)
        except ValueError as exc:
            self.encode_errors += len(bars)
            self._error_log.event("bars of %r not published: %s", symbol, exc)
            return
        if history:
            await self.client.wait_connected()  # the stream decides what of it is missing
            bars = await self._missing(subject, bars)
        for bar in bars:
            try:
                payload = encode_bar(bar)
            except CodecError as exc:
                self.encode_errors += 1
                self._error_log.event(
                    "bar of %r not published (%d so far): %s", symbol, self.encode_errors, exc
                )
                continue
            seq = self._bar_seq[symbol] = self._bar_seq.get(symbol, 0) + 1
            self.bars_published += await self._send(
                subject, payload, bar_headers(self.session, seq, history=history)
            )

    async def _missing(self, subject: str, bars: list[Bar]) -> list[Bar]:
        """The bars of a history the stream lacks: from ``REPUBLISH_MINUTES`` before the
        stream's last bar of ``subject`` on; all of them when it has none (or cannot say)."""
        try:
            last = await self.client.js.get_last_msg(BAR_STREAM, subject, direct=self._bars_direct)
            newest = decode_bar(last.data or b"", (last.headers or {}).get(CODEC_HEADER))["ts"]
            since = int(newest) - REPUBLISH_MINUTES * MINUTE_MS
        except NotFoundError:
            return bars
        except (*_NATS_ERRORS, CodecError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "%s: cannot read the last bar on the bus (%r); publishing the whole history", subject, exc
            )
            return bars
        return [bar for bar in bars if bar["ts"] > since]

    async def _ensure_stream(self) -> bool:
        try:
            await ensure_md_stream(self.client.js)
            info = await ensure_bar_stream(self.client.js)
        except _NATS_ERRORS as exc:
            self.publish_errors += 1
            self._error_log.event(
                "cannot ensure the md and bar streams (%d errors so far): %r", self.publish_errors, exc
            )
            return False
        self._bars_direct = bool(info.config.allow_direct)
        self._stream_ready = True
        return True

    def stats(self) -> dict[str, Any]:
        """Plain-dict counters: published, dropped (outbox full), errors, still queued; md and bars."""
        return {
            "source": self.session,
            "published": self.published,
            "dropped_outbox_full": self.dropped_outbox_full,
            "encode_errors": self.encode_errors,
            "publish_errors": self.publish_errors,
            "queued": len(self._outbox),
            "bars_published": self.bars_published,
            "bars_dropped_outbox_full": self.bars_dropped_outbox_full,
            "bars_queued": self._bars_waiting,
            "histories_queued": len(self._histories),
            "histories_replaced": self._histories.replaced,
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
                "bus publisher closed with %d md and %d bars unpublished or unflushed: %r",
                len(self._outbox),
                self._bars_waiting,
                exc,
            )
        await cancel_bounded(task, 1.0, "bus publisher")
