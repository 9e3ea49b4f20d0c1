"""``BusSubscriber``: the ``Feeder`` an :class:`EngineManager` uses on a host without exchange access.

It implements the manager's feeder protocol (``symbols``, ``run(on_md)``, ``close()``), so
``EngineManager(symbols, feeder=BusSubscriber(url, symbols))`` routes bus md through the same
``push_md`` — and the same drop accounting — as in-process md.

How it reads, per symbol:

* **live md**: a core NATS subscription on the symbol's subject — every md the feeder publishes,
  in publish order. Not a JetStream consumer: the stream keeps one md per subject, and a push
  consumer reads the stream behind the publisher, so in a burst it only sees the md that were
  not replaced yet (measured on nats-server 2.9: 10 of 300 md of a burst). Engines must get the
  same md as in-process, so live md never go through the consumer path.
* **last value**: after subscribing — and again after every reconnect, since core messages sent
  while disconnected are gone — it reads the stream's last md of the subject (the last-per-
  subject value; a direct get when the stream allows it). A late engine host therefore starts
  from the latest md of each symbol, and after an outage resumes from the newest one.

Live and last-value reads can overlap, so every md carries ``Levibot-Source`` (publisher and its
session) and ``Levibot-Seq`` (per symbol): an md not newer than the last delivered one of the
same source is dropped as a ``duplicate``; a jump in the sequence counts the md in between as
``skipped`` (lost while disconnected, or dropped by a full publisher outbox). Other counters:
``received`` (live), ``fetched`` (last values), ``decode_errors``, ``callback_errors``,
``setup_errors`` (failed subscribe/read attempts, retried) and ``seq_jumps`` (confirmed jumps).

Nothing on the network is trusted (whoever may publish on the subject can forge an md), so
before an md reaches ``on_md`` it must pass, else it is dropped, counted in ``rejected`` by
reason and logged (rate-limited):

* the **subject decides the symbol**: an md whose ``symbol`` is not its subject's symbol is
  ``symbol_mismatch`` (it would reach the wrong engine);
* the feeder's rules for values (:func:`backend.src.validation.check_md`): finite positive
  prices, ``bid < ask``, funding within bounds, ``oi >= 0``, ``ts`` not more than
  ``MAX_FUTURE_MS`` ahead of this host's clock;
* a ``Levibot-Source``/``Levibot-Seq`` pair (``no_sequence`` without one);
* a **bounded sequence**: a jump of more than ``MAX_SEQ_JUMP`` from the last delivered md of
  the source (forward or back) is ``seq_jump`` and does not move the high-water mark; only an
  md that continues the jumped-to sequence confirms it. So one forged ``Levibot-Seq: 10**15``
  cannot make the real md that follow look like duplicates, nor add 10**15 to ``skipped``.
  Marks are kept per source (``MAX_SOURCES`` a symbol), so an md naming another session never
  resets the real session's mark.
  The price: after a gap that large (hours of md lost), the first md is dropped too.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import NotFoundError

from ..backoff import Backoff
from ..errors import BusClosedError, BusError, CodecError
from ..log_limits import RateLimitedLog
from ..market_data import MarketData as MD
from ..validation import check_md
from .codec import CODEC_HEADER, SEQ_HEADER, SOURCE_HEADER, decode_md
from .connection import BusClient
from .subjects import MD_STREAM, md_subject

log = logging.getLogger(__name__)

_NATS_ERRORS = (nats.errors.Error, OSError)

#: Largest ``Levibot-Seq`` step accepted from one md to the next of a source without
#: confirmation. A real gap is md lost while disconnected: at 100 md/s a symbol, ~17 min.
MAX_SEQ_JUMP = 100_000
#: Publisher sessions remembered per symbol (the oldest is forgotten first): a handover between
#: nodes, a restarted node, and room for forged sources that must not evict the real one at once.
MAX_SOURCES = 8

# Rejection reasons of the bus itself (the value rules' reasons come from validation).
SYMBOL_MISMATCH = "symbol_mismatch"
NO_SEQUENCE = "no_sequence"
SEQ_JUMP = "seq_jump"
_DUPLICATE = "duplicate"


@dataclass
class _Mark:
    """The last delivered md of a symbol from one source: its sequence, and an unconfirmed jump."""

    seq: int
    pending: int | None = None


class BusSubscriber:
    """Reads the md of ``symbols`` from the bus and hands each md dict to ``on_md``."""

    def __init__(
        self,
        client: BusClient | str,
        symbols: Iterable[str],
        *,
        retry_s: float = 0.5,
        fetch_concurrency: int = 32,
    ) -> None:
        self.client = client if isinstance(client, BusClient) else BusClient(client, name="levibot-engines")
        self._owns_client = not isinstance(client, BusClient)
        self.symbols: list[str] = list(dict.fromkeys(symbols))
        self._subjects = {s: md_subject(s) for s in self.symbols}  # ValueError now, not at run()
        self.retry_s = retry_s
        self.counts = {
            "received": 0,
            "fetched": 0,
            #: last values read from the stream that had already arrived live (expected: the
            #: subscription starts before the read), dropped without counting as duplicates
            "fetched_known": 0,
            "duplicates": 0,
            "skipped": 0,
            "decode_errors": 0,
            "callback_errors": 0,
            "setup_errors": 0,
            "seq_jumps": 0,
        }
        #: md dropped before ``on_md``, by reason (see the module docstring).
        self.rejected: dict[str, int] = {}
        self._fetch_slots = asyncio.Semaphore(fetch_concurrency)
        self._direct = False
        #: symbol → source → mark: each publisher session is deduplicated on its own, so an md
        #: claiming another source never resets the state of the real one.
        self._marks: dict[str, dict[str, _Mark]] = {s: {} for s in self.symbols}
        self._subs: list[Subscription] = []
        #: set once every symbol is subscribed and its last md (if there is one) was delivered.
        self.ready = asyncio.Event()
        self._resync = asyncio.Event()
        self._closed = asyncio.Event()
        self._error_log = RateLimitedLog(log, 10.0, level=logging.ERROR)
        self._reject_log = RateLimitedLog(log, 10.0)

    async def run(self, on_md: Callable[[MD], Any]) -> None:
        """Subscribe every symbol and read the last values (retrying while the server is
        unreachable), then deliver until :meth:`close`, re-reading last values after reconnects."""
        try:
            await self.client.connect()
        except BusClosedError:
            return  # closed before the server was reached
        self.client.on_reconnect(self._resync.set)
        for symbol in self.symbols:
            await self._retry(f"subscribe {symbol}", lambda s=symbol: self._subscribe(s, on_md))
        await self._retry("register the subscriptions", lambda: self.client.nc.flush())
        if self._closed.is_set():
            return
        log.info("bus subscriber: %d symbols subscribed on %s", len(self._subs), self.client.url)
        # Live md flow from here on; the last values need the stream, which a feeder creates.
        info = await self._retry("find the md stream", self._find_stream)
        if info is None:
            return
        self._direct = bool(info.config.allow_direct)
        await self._fetch_all(on_md)
        self.ready.set()
        while True:
            await self._resync.wait()  # set by every reconnect, and by close()
            self._resync.clear()
            if self._closed.is_set():
                return
            await self._fetch_all(on_md)

    async def _find_stream(self) -> Any:
        """The md stream's info. Looked up, never created: an engine host needs only read rights,
        and a stream it made up could differ from the one the feeders keep."""
        try:
            return await self.client.js.stream_info(MD_STREAM)
        except NotFoundError:
            raise BusError(
                f"stream {MD_STREAM} does not exist on NATS {self.client.url}: "
                "a feeder node creates it when it starts"
            ) from None

    async def _retry(self, what: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """``attempt()`` until it succeeds (its result) or the subscriber is closed (None);
        failures are retried with backoff (``retry_s`` to ``10 * retry_s``)."""
        backoff = Backoff(base=self.retry_s, cap=10 * self.retry_s)
        while not self._closed.is_set():
            try:
                return await attempt()
            except BusClosedError:
                return None
            except (*_NATS_ERRORS, BusError) as exc:
                self.counts["setup_errors"] += 1
                delay = max(backoff.next_delay(), self.retry_s / 2)
                self._error_log.event(
                    "bus subscriber: cannot %s yet: %s; retrying in %.1fs", what, exc, delay
                )
                await asyncio.sleep(delay)
        return None

    async def _subscribe(self, symbol: str, on_md: Callable[[MD], Any]) -> None:
        async def handle(msg: Msg) -> None:
            self.counts["received"] += 1
            await self._deliver(symbol, msg.data, msg.headers or {}, on_md)

        self._subs.append(await self.client.nc.subscribe(self._subjects[symbol], cb=handle))

    async def _fetch_all(self, on_md: Callable[[MD], Any]) -> None:
        await asyncio.gather(*(self._fetch(symbol, on_md) for symbol in self.symbols))

    async def _fetch(self, symbol: str, on_md: Callable[[MD], Any]) -> None:
        """Deliver the stream's last md of ``symbol``, if any (none yet is normal)."""
        async with self._fetch_slots:
            if self._closed.is_set():
                return
            try:
                msg = await self.client.js.get_last_msg(
                    MD_STREAM, self._subjects[symbol], direct=self._direct
                )
            except NotFoundError:
                log.debug("%s: no md on the bus yet", symbol)
                return
            except _NATS_ERRORS as exc:
                self.counts["setup_errors"] += 1
                self._error_log.event("%s: cannot read the last md: %r", symbol, exc)
                return
        self.counts["fetched"] += 1
        await self._deliver(symbol, msg.data or b"", msg.headers or {}, on_md, live=False)

    async def _deliver(
        self,
        symbol: str,
        payload: bytes,
        headers: dict[str, str],
        on_md: Callable[[MD], Any],
        *,
        live: bool = True,
    ) -> None:
        try:
            md = decode_md(payload, headers.get(CODEC_HEADER))
        except CodecError as exc:
            self.counts["decode_errors"] += 1
            self._error_log.event(
                "%s: undecodable md (%d so far): %s", symbol, self.counts["decode_errors"], exc
            )
            return
        reason = self._check(symbol, md, headers)
        if reason is not None:
            if reason == _DUPLICATE:
                self.counts["duplicates" if live else "fetched_known"] += 1
            else:
                self._reject(symbol, reason, headers)
            return
        try:
            result = on_md(md)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.counts["callback_errors"] += 1
            self._error_log.event(
                "%s: on_md failed (%d so far)", symbol, self.counts["callback_errors"], exc_info=True
            )

    def _check(self, symbol: str, md: MD, headers: dict[str, str]) -> str | None:
        """None for an md to deliver, else why not (``duplicate`` or a rejection reason). The
        values are checked before the sequence, so a rejected md never moves the mark."""
        if md.get("symbol") != symbol:
            return SYMBOL_MISMATCH
        reason = check_md(md, time.time() * 1000.0)
        if reason is not None:
            return reason
        source, seq_text = headers.get(SOURCE_HEADER), headers.get(SEQ_HEADER)
        if source is None or seq_text is None or not seq_text.isdigit():
            return NO_SEQUENCE
        return self._sequence(symbol, source, int(seq_text))

    def _sequence(self, symbol: str, source: str, seq: int) -> str | None:
        """Dedup on (source, seq): None for the next md of the source (gaps counted as skipped),
        ``duplicate`` for one already delivered, ``seq_jump`` for an unconfirmed jump."""
        marks = self._marks[symbol]
        mark = marks.get(source)
        if mark is None:  # first md of this publisher session
            if len(marks) >= MAX_SOURCES:
                del marks[next(iter(marks))]
            marks[source] = _Mark(seq)
            return None
        gap = seq - mark.seq
        if -MAX_SEQ_JUMP < gap <= 0:
            return _DUPLICATE
        if gap <= MAX_SEQ_JUMP:
            self.counts["skipped"] += gap - 1
        elif mark.pending is not None and 0 < seq - mark.pending <= MAX_SEQ_JUMP:
            self.counts["seq_jumps"] += 1  # a second md continues the jumped-to sequence
            log.warning("%s: %s jumped from seq %d to %d (confirmed)", symbol, source, mark.seq, seq)
        else:
            mark.pending = seq
            return SEQ_JUMP
        mark.seq, mark.pending = seq, None
        return None

    def _reject(self, symbol: str, reason: str, headers: dict[str, str]) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        self._reject_log.event(
            "%s: md rejected: %s (source %r; rejected so far: %s)",
            symbol,
            reason,
            headers.get(SOURCE_HEADER, "")[:64],  # forged headers can be long
            self.rejected,
        )

    def stats(self) -> dict[str, Any]:
        return {
            "symbols": len(self.symbols),
            "subscribed": len(self._subs),
            **self.counts,
            "rejected": dict(self.rejected),
            "connection": self.client.stats(),
        }

    async def close(self) -> None:
        """Stop delivering and unsubscribe; closes the connection if this subscriber opened it."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._resync.set()
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except _NATS_ERRORS as exc:
                log.warning("bus subscriber: unsubscribe failed: %r", exc)
        if self._owns_client:
            await self.client.close()
