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

**Bars** (when a bar listener is set, as :class:`EngineManager` does: ``listen_bars``): per
symbol a core subscription on its bar subject, and its history read from the ``LEVIBOT_BARS``
stream by direct gets of the subject's next messages, ``BAR_BATCH`` a request where the server
can (nats-server 2.11 and later, :mod:`.batch_get`), else one a request (no consumer either
way, so an engine host needs read rights only). The history goes to the listener's ``on_history``
before any md of the symbol is delivered (md that arrive earlier are dropped and counted as
``before_history``; the symbol's newest md is read right after), so an engine holds its bars
before its first md, as in-process. Live bars that arrive while the history is read are held
and handled after it. Every bar passes the same checks as an md: the subject decides the
symbol, :func:`backend.src.validation.check_bus_bar` its values, ``Levibot-Source``/
``Levibot-Seq`` (counted apart from md) its sequence; rejections are counted by reason in
``bar_rejected``. After a reconnect the stream is read on from the last message read, so the
bars published meanwhile arrive too (those already received live are ``fetched_known``). A
bar for a minute the engine already holds replaces it there (the engine calls ``on_bar`` only
when it differs: a revision), exactly as in-process.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import NotFoundError

from ..backoff import Backoff
from ..errors import BatchUnsupportedError, BusClosedError, BusError, CodecError, StreamMissingError
from ..log_limits import RateLimitedLog
from ..market_data import Bar, BarListener
from ..market_data import MarketData as MD
from ..validation import check_bus_bar, check_md
from .batch_get import next_batch
from .codec import CODEC_HEADER, HISTORY_HEADER, SEQ_HEADER, SOURCE_HEADER, decode_bar, decode_md
from .connection import BusClient
from .subjects import BAR_STREAM, MD_STREAM, bar_subject, md_subject

log = logging.getLogger(__name__)

_NATS_ERRORS = (nats.errors.Error, OSError)

#: Largest ``Levibot-Seq`` step accepted from one md to the next of a source without
#: confirmation. A real gap is md lost while disconnected: at 100 md/s a symbol, ~17 min.
MAX_SEQ_JUMP = 100_000
#: Bars asked for in one direct get request: a symbol's whole history (1,500 bars, ~250 KB) in
#: two requests.
BAR_BATCH = 1000
#: Publisher sessions remembered per symbol (the oldest is forgotten first): a handover between
#: nodes, a restarted node, and room for forged sources that must not evict the real one at once.
MAX_SOURCES = 8

# Rejection reasons of the bus itself (the value rules' reasons come from validation).
SYMBOL_MISMATCH = "symbol_mismatch"
NO_SEQUENCE = "no_sequence"
SEQ_JUMP = "seq_jump"
_DUPLICATE = "duplicate"
#: Ranges of missed sequence numbers remembered per symbol and source (bars), the oldest
#: forgotten first: every outage since the last stream read leaves one.
MAX_GAPS = 256
#: Minutes with a live revision remembered per symbol (bars): as many as the stream holds.
MAX_REVISED = 2000
_RECOVERED = "recovered"


@dataclass
class _Mark:
    """The last delivered message of a symbol from one source: its sequence, an unconfirmed
    jump, and (bars) the ranges of sequence numbers skipped so far that the stream may still
    hold."""

    seq: int
    pending: int | None = None
    missing: list[tuple[int, int]] = field(default_factory=list)

    def skip(self, first: int, last: int) -> None:
        """``first..last`` were not received (live messages lost while disconnected)."""
        self.missing.append((first, last))
        if len(self.missing) > MAX_GAPS:
            del self.missing[0]

    def recover(self, seq: int) -> bool:
        """True (once) for a sequence number inside a skipped range: a message read from the
        stream that never arrived live."""
        for i, (first, last) in enumerate(self.missing):
            if first <= seq <= last:
                self.missing[i : i + 1] = [r for r in ((first, seq - 1), (seq + 1, last)) if r[0] <= r[1]]
                return True
        return False


def _counts() -> dict[str, int]:
    return {
        "received": 0,
        "fetched": 0,
        #: read from the stream after it had already arrived live (expected: the subscription
        #: starts before the read), dropped without counting as duplicates
        "fetched_known": 0,
        "duplicates": 0,
        "skipped": 0,
        #: bars read from the stream that had not arrived live (skipped, or sent before the
        #: first one seen of their publisher session) and were delivered after all
        "recovered": 0,
        "decode_errors": 0,
        "callback_errors": 0,
        "seq_jumps": 0,
    }


@dataclass
class _Flow:
    """One kind of message the subscriber reads (md or bars): how it is decoded and checked,
    its counters, its rejections by reason, and each symbol's per-source marks."""

    what: str
    decode: Callable[[bytes, str | None], dict[str, Any]]
    check: Callable[[Mapping[str, Any], float], str | None]
    counts: dict[str, int] = field(default_factory=_counts)
    rejected: dict[str, int] = field(default_factory=dict)
    #: symbol → source → mark: each publisher session is deduplicated on its own, so a
    #: message claiming another source never resets the state of the real one.
    marks: dict[str, dict[str, _Mark]] = field(default_factory=dict)
    #: bars: messages skipped live are delivered when the stream read finds them (a lost md is
    #: stale by then, a lost bar is not)
    recover: bool = False
    #: bars: symbol → minutes a revision arrived for live (an ordered set, the last
    #: ``MAX_REVISED``): a recovered older bar of such a minute is superseded, not delivered
    revised: dict[str, dict[int, None]] = field(default_factory=dict)

    def note_revision(self, symbol: str, minute: int) -> None:
        minutes = self.revised.setdefault(symbol, {})
        minutes[minute] = None
        if len(minutes) > MAX_REVISED:
            del minutes[next(iter(minutes))]


class BusSubscriber:
    """Reads the md (and bars) of ``symbols`` from the bus and hands each md dict to ``on_md``."""

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
        self._bar_subjects = {s: bar_subject(s) for s in self.symbols}
        self.retry_s = retry_s
        self._md = _Flow("md", decode_md, check_md)
        self._bars = _Flow("bar", decode_bar, check_bus_bar, recover=True)
        #: md counters (see the module docstring), plus the subscriber's own
        self.counts = self._md.counts
        self.counts.update(setup_errors=0, before_history=0)
        #: md dropped before ``on_md``, by reason (see the module docstring).
        self.rejected = self._md.rejected
        #: bar counters and rejections, as for md
        self.bar_counts = self._bars.counts
        self.bar_rejected = self._bars.rejected
        #: told of each symbol's history and of every bar (``listen_bars``); None: md only
        self.bar_listener: BarListener | None = None
        #: symbols whose history went to the listener: their md and live bars flow from then on
        self._history_done: set[str] = set()
        #: live bar messages that arrived while their symbol's history was read
        self._held_bars: dict[str, list[tuple[bytes, dict[str, str]]]] = {}
        #: symbol → stream sequence of the last bar message read from the stream
        self._bar_stream_seq: dict[str, int] = {}
        self._fetch_slots = asyncio.Semaphore(fetch_concurrency)
        self._direct = False
        self._bars_direct = False
        #: False once the server answered that it has no batch direct get
        self._bar_batches = True
        #: direct get requests sent for bars (a batch counts once)
        self.bar_requests = 0
        self._subs: list[Subscription] = []
        #: set once every symbol is subscribed and its last md (if there is one) was delivered.
        self.ready = asyncio.Event()
        self._resync = asyncio.Event()
        self._closed = asyncio.Event()
        self._error_log = RateLimitedLog(log, 10.0, level=logging.ERROR)
        self._wait_log = RateLimitedLog(log, 10.0)
        self._reject_log = RateLimitedLog(log, 10.0)

    def listen_bars(self, listener: BarListener) -> None:
        """Read bars too and tell ``listener`` (before :meth:`run`): each symbol's history from
        the stream, then every bar published (see the module docstring)."""
        self.bar_listener = listener

    async def run(self, on_md: Callable[[MD], Any]) -> None:
        """Subscribe every symbol, read the bar histories (with a bar listener) and the last
        md (retrying while the server is unreachable), then deliver until :meth:`close`,
        re-reading what was missed after reconnects."""
        try:
            await self.client.connect()
        except BusClosedError:
            return  # closed before the server was reached
        self.client.on_reconnect(self._resync.set)
        for symbol in self.symbols:
            await self._retry(f"subscribe {symbol}", lambda s=symbol: self._subscribe(s, on_md))
            if self.bar_listener is not None:
                await self._retry(f"subscribe the bars of {symbol}", lambda s=symbol: self._subscribe_bars(s))
        await self._retry("register the subscriptions", lambda: self.client.nc.flush())
        if self._closed.is_set():
            return
        log.info("bus subscriber: %d symbols subscribed on %s", len(self.symbols), self.client.url)
        # Live md flow from here on (with a bar listener, each symbol's once its history is
        # read); the last values and the histories need the streams, which a feeder creates.
        info = await self._retry("find the md stream", lambda: self._find_stream(MD_STREAM))
        if info is None:
            return
        self._direct = bool(info.config.allow_direct)
        if self.bar_listener is not None and not await self._read_histories():
            return
        await self._fetch_all(on_md)
        self.ready.set()
        log.info("bus subscriber: histories and last md read; delivering %d symbols", len(self.symbols))
        while True:
            await self._resync.wait()  # set by every reconnect, and by close()
            self._resync.clear()
            if self._closed.is_set():
                return
            await asyncio.gather(self._fetch_all(on_md), self._read_new_bars())

    async def _find_stream(self, name: str) -> Any:
        """A stream's info. Looked up, never created: an engine host needs only read rights,
        and a stream it made up could differ from the one the feeders keep."""
        try:
            return await self.client.js.stream_info(name)
        except NotFoundError:
            raise StreamMissingError(
                f"stream {name} does not exist on NATS {self.client.url}: "
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
                # no stream yet is the normal start when engine hosts start before any feeder
                logger = self._wait_log if isinstance(exc, StreamMissingError) else self._error_log
                logger.event("bus subscriber: cannot %s yet: %s; retrying in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
        return None

    async def _subscribe(self, symbol: str, on_md: Callable[[MD], Any]) -> None:
        async def handle(msg: Msg) -> None:
            self.counts["received"] += 1
            if self.bar_listener is not None and symbol not in self._history_done:
                self.counts["before_history"] += 1
                return
            await self._deliver(symbol, msg.data, msg.headers or {}, on_md)

        self._subs.append(await self.client.nc.subscribe(self._subjects[symbol], cb=handle))

    async def _subscribe_bars(self, symbol: str) -> None:
        async def handle(msg: Msg) -> None:
            self.bar_counts["received"] += 1
            if symbol in self._history_done:
                self._bar(symbol, msg.data, msg.headers or {})
            else:
                self._held_bars.setdefault(symbol, []).append((msg.data, msg.headers or {}))

        self._subs.append(await self.client.nc.subscribe(self._bar_subjects[symbol], cb=handle))

    # ---- md ----------------------------------------------------------------------------

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
        md = self._accept(self._md, symbol, payload, headers, live=live)
        if md is None:
            return
        try:
            result = on_md(md)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self._callback_failed(self._md, symbol)

    # ---- bars --------------------------------------------------------------------------

    async def _read_histories(self) -> bool:
        """Read every symbol's bars from the stream and hand them to the listener as its
        history; False when closed first."""
        info = await self._retry("find the bar stream", lambda: self._find_stream(BAR_STREAM))
        if info is None:
            return False
        self._bars_direct = bool(info.config.allow_direct)
        await asyncio.gather(*(self._read_history(symbol) for symbol in self.symbols))
        return not self._closed.is_set()

    async def _read_history(self, symbol: str) -> None:
        read: list[tuple[Bar, bool]] = []
        await self._retry(f"read the bars of {symbol}", lambda: self._read(symbol, read))
        listener = self.bar_listener
        if listener is None or self._closed.is_set():
            return
        self._listener_call(symbol, lambda: listener.on_history(symbol, [bar for bar, _ in read]))
        self._history_done.add(symbol)
        for payload, headers in self._held_bars.pop(symbol, []):
            self._bar(symbol, payload, headers, live=False)

    async def _read(self, symbol: str, into: list[tuple[Bar, bool]]) -> None:
        """Append to ``into`` every acceptable bar of ``symbol`` the stream holds after the last
        message read, with whether it is history (a failure part way is retried from there)."""
        async with self._fetch_slots:
            while not self._closed.is_set():
                messages, more = await self._next_bars(symbol, self._bar_stream_seq.get(symbol, 0) + 1)
                for msg in messages:
                    self._bar_stream_seq[symbol] = msg.seq
                    self.bar_counts["fetched"] += 1
                    headers = msg.headers or {}
                    bar = self._accept(self._bars, symbol, msg.data or b"", headers, live=False)
                    if bar is not None:
                        into.append((bar, headers.get(HISTORY_HEADER) == "1"))  # type: ignore[arg-type]
                if not more:
                    return

    async def _next_bars(self, symbol: str, first_seq: int) -> tuple[list[Any], bool]:
        """The next stored bar messages of ``symbol`` from ``first_seq`` on, and whether more
        may follow: a batch where the server has them, else one message."""
        subject = self._bar_subjects[symbol]
        self.bar_requests += 1
        if self._bars_direct and self._bar_batches:
            try:
                batch = await next_batch(
                    self.client.nc, BAR_STREAM, subject, first_seq, BAR_BATCH, self.client.request_timeout
                )
                return batch.messages, batch.more
            except BatchUnsupportedError as exc:
                self._bar_batches = False
                log.info("bus subscriber: %s; reading bars one message a request", exc)
        try:
            msg = await self.client.js.get_msg(
                BAR_STREAM, seq=first_seq, subject=subject, next=True, direct=self._bars_direct
            )
        except NotFoundError:
            return [], False
        return [msg], True

    async def _read_new_bars(self) -> None:
        """After a reconnect: the bars published since the last one read, as if live. A read
        that fails part way (a busy server times out) is retried from where it stopped: after
        the last reconnect nothing else would read those bars."""

        async def read_on(symbol: str) -> None:
            missed: list[tuple[Bar, bool]] = []
            what = f"read the bars of {symbol} published meanwhile"
            await self._retry(what, lambda: self._read(symbol, missed))
            for bar, history in missed:
                self._hand_over(symbol, bar, history)

        await asyncio.gather(*(read_on(symbol) for symbol in self._history_done))

    def _bar(self, symbol: str, payload: bytes, headers: dict[str, str], *, live: bool = True) -> None:
        """One live bar message: checked, then handed over."""
        bar = self._accept(self._bars, symbol, payload, headers, live=live)
        if bar is not None:
            self._hand_over(symbol, bar, headers.get(HISTORY_HEADER) == "1")  # type: ignore[arg-type]

    def _hand_over(self, symbol: str, bar: Bar, history: bool) -> None:
        """To the listener: a bar of a feeder's history (a bootstrapped feeder published it) as
        history, any other as a closed bar; the engine decides what is news."""
        listener = self.bar_listener
        if listener is None:
            return
        if history:
            self._listener_call(symbol, lambda: listener.on_history(symbol, [bar]))
        else:
            self._listener_call(symbol, lambda: listener.on_bar(bar))

    def _listener_call(self, symbol: str, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:
            self._callback_failed(self._bars, symbol)

    # ---- both ----------------------------------------------------------------------------

    def _accept(
        self, flow: _Flow, symbol: str, payload: bytes, headers: dict[str, str], *, live: bool
    ) -> dict[str, Any] | None:
        """The decoded message if it may be delivered; else None, counted (and logged)."""
        try:
            obj = flow.decode(payload, headers.get(CODEC_HEADER))
        except CodecError as exc:
            flow.counts["decode_errors"] += 1
            self._error_log.event(
                "%s: undecodable %s (%d so far): %s", symbol, flow.what, flow.counts["decode_errors"], exc
            )
            return None
        reason = self._check(flow, symbol, obj, headers)
        if reason is None:
            return obj
        if reason == _DUPLICATE:
            flow.counts["duplicates" if live else "fetched_known"] += 1
        else:
            self._reject(flow, symbol, reason, headers)
        return None

    def _check(self, flow: _Flow, symbol: str, obj: Mapping[str, Any], headers: dict[str, str]) -> str | None:
        """None for a message to deliver, else why not (``duplicate`` or a rejection reason).
        The values are checked before the sequence, so a rejected message never moves the mark."""
        if obj.get("symbol") != symbol:
            return SYMBOL_MISMATCH
        reason = flow.check(obj, time.time() * 1000.0)
        if reason is not None:
            return reason
        source, seq_text = headers.get(SOURCE_HEADER), headers.get(SEQ_HEADER)
        if source is None or seq_text is None or not seq_text.isdigit():
            return NO_SEQUENCE
        reason = self._sequence(flow, symbol, source, int(seq_text))
        if reason == _RECOVERED:  # lost live, read from the stream after newer messages
            if obj["ts"] in flow.revised.get(symbol, ()):
                return _DUPLICATE  # its minute's live revision supersedes it
            flow.counts["recovered"] += 1
            return None
        if reason is None and flow.recover and obj.get("revision"):
            flow.note_revision(symbol, obj["ts"])
        return reason

    def _sequence(self, flow: _Flow, symbol: str, source: str, seq: int) -> str | None:
        """Dedup on (source, seq): None for the next message of the source (gaps counted as
        skipped, and remembered where the flow recovers them), ``recovered`` for a skipped one
        found later, ``duplicate`` for one already delivered, ``seq_jump`` for an unconfirmed
        jump."""
        marks = flow.marks.setdefault(symbol, {})
        mark = marks.get(source)
        if mark is None:  # first message of this publisher session
            if len(marks) >= MAX_SOURCES:
                del marks[next(iter(marks))]
            mark = marks[source] = _Mark(seq)
            if flow.recover and seq > 1:  # what the session sent before may be in the stream
                mark.skip(1, seq - 1)
            return None
        gap = seq - mark.seq
        if -MAX_SEQ_JUMP < gap <= 0:
            return _RECOVERED if flow.recover and mark.recover(seq) else _DUPLICATE
        if gap <= MAX_SEQ_JUMP:
            flow.counts["skipped"] += gap - 1
            if flow.recover and gap > 1:
                mark.skip(mark.seq + 1, seq - 1)
        elif mark.pending is not None and 0 < seq - mark.pending <= MAX_SEQ_JUMP:
            flow.counts["seq_jumps"] += 1  # a second message continues the jumped-to sequence
            log.warning("%s: %s jumped from seq %d to %d (confirmed)", symbol, source, mark.seq, seq)
        else:
            mark.pending = seq
            return SEQ_JUMP
        mark.seq, mark.pending = seq, None
        return None

    def _reject(self, flow: _Flow, symbol: str, reason: str, headers: dict[str, str]) -> None:
        flow.rejected[reason] = flow.rejected.get(reason, 0) + 1
        self._reject_log.event(
            "%s: %s rejected: %s (source %r; rejected so far: %s)",
            symbol,
            flow.what,
            reason,
            headers.get(SOURCE_HEADER, "")[:64],  # forged headers can be long
            flow.rejected,
        )

    def _callback_failed(self, flow: _Flow, symbol: str) -> None:
        flow.counts["callback_errors"] += 1
        self._error_log.event(
            "%s: %s callback failed (%d so far)",
            symbol,
            flow.what,
            flow.counts["callback_errors"],
            exc_info=True,
        )

    def stats(self) -> dict[str, Any]:
        return {
            "symbols": len(self.symbols),
            "subscribed": len(self._subs),
            **self.counts,
            "rejected": dict(self.rejected),
            "bars": {**self.bar_counts, "rejected": dict(self.bar_rejected), "requests": self.bar_requests},
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
