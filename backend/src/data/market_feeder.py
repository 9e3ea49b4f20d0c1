"""``MarketFeeder``: bootstrap bars + MEXC streams → md dicts delivered through ``on_md``.

Per symbol it bootstraps 1500 closed, gap-filled 1 m bars, seeds funding/open interest from the
perpetual's REST ticker, then runs the book-ticker, trade and (when the symbol has a perpetual)
swap-ticker streams concurrently. Every record updates the symbol's :class:`SymbolState` and,
once the state has a price and a two-sided book, one md dict is delivered (schema in
``md_mapping``).

Many symbols: instead of a list, a :class:`UniverseSpec` ("every active USDT market", "only
with a perpetual", "the top N by 24 h quote volume") is resolved at start and again every
``reload_interval`` seconds, so listings and delistings are picked up while running. Symbols
can also be added and removed at any time (:meth:`MarketFeeder.add_symbols`,
:meth:`MarketFeeder.remove_symbols`; a bus node does so as it wins and loses leases). At most
``bootstrap_concurrency`` symbols bootstrap at once (MEXC allows 500 requests per 10 s per
endpoint; a 429 pauses every caller, see the adapter), and each symbol streams as soon as its
own bootstrap is done; ``on_progress`` reports every finished bootstrap.

Failure policy: one symbol failing never stops the others. Unknown or inactive symbols are
found before any stream starts, logged once at ERROR, listed in :attr:`MarketFeeder.failed`
and skipped; :meth:`run` raises only when no symbol is left.

Never silently stale: the feeder is the adapter's stream listener. Every record is counted in
:attr:`MarketFeeder.health` (received, parsed, delivered, dropped by reason, receive → md
latency, reconnect recoveries, uptime); a monitor task marks a symbol ``stale`` (one md with
``stale=True``) once its streams are silent past the threshold; after a trade-stream
disconnect, the minutes of the outage are backfilled from REST so the live bars stay gapless;
the clock offset to MEXC is refreshed periodically.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ..adapters.mexc_ccxt import MexcAdapter
from ..adapters.mexc_klines import last_closed_open
from ..adapters.mexc_universe import Selection, UniverseSpec, changes
from ..adapters.transient import is_transient
from ..backoff import Backoff, log_and_sleep
from ..errors import NoValidSymbolError, UnknownSymbolError, UsageError
from ..log_limits import RateLimitedLog
from ..market_data import Channel
from ..tasks import TaskSet, cancel_and_wait
from .gap_filler import fill_minute_bars
from .health import ChannelHealth, FeedHealth
from .live_bars import MINUTE_MS, LiveBars
from .md_mapping import SymbolState

log = logging.getLogger(__name__)

MdCallback = Callable[[dict[str, Any]], Awaitable[None] | None]


class TextProvider(Protocol):
    """What the feeder needs from a text source hub (see ``text_sources``)."""

    def texts_for(self, symbol: str) -> list[str]: ...

    def track(self, symbols: Iterable[str]) -> None:
        """Collect texts for ``symbols`` too (called as symbols start streaming)."""


@dataclass
class BootstrapProgress:
    """Bootstraps asked for, finished (streaming) and failed; what a progress bar shows."""

    total: int = 0
    ready: int = 0
    failed: int = 0

    @property
    def finished(self) -> int:
        return self.ready + self.failed


ProgressCallback = Callable[[BootstrapProgress, str], None]


class MarketFeeder:
    """Feeds market data to trading engines via callback."""

    def __init__(
        self,
        symbols: list[str],
        adapter: MexcAdapter | None = None,
        *,
        texts: TextProvider | None = None,
        bootstrap_limit: int = 1500,
        perpetuals: bool = True,
        health: FeedHealth | None = None,
        monitor_interval: float = 0.5,
        time_sync_interval: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        universe: UniverseSpec | None = None,
        reload_interval: float = 3600.0,
        bootstrap_concurrency: int = 8,
        on_progress: ProgressCallback | None = None,
        dynamic: bool = False,
    ) -> None:
        if bootstrap_concurrency < 1:
            raise UsageError(f"bootstrap_concurrency must be at least 1, got {bootstrap_concurrency}")
        #: the symbols streaming or about to (a universe fills it at start and on reloads).
        self.symbols = list(dict.fromkeys(symbols))
        self.adapter = adapter if adapter is not None else MexcAdapter(self.symbols)
        self.universe = universe
        self.reload_interval = reload_interval
        #: keep running with no symbol at all (a universe, or symbols added later by a bus node).
        self.dynamic = dynamic or universe is not None
        self.progress = BootstrapProgress()
        self.on_progress = on_progress
        self._bootstrap_slots = asyncio.Semaphore(bootstrap_concurrency)
        self.texts = texts
        self.bootstrap_limit = bootstrap_limit
        self.perpetuals = perpetuals
        self.states: dict[str, SymbolState] = {}
        #: symbol → why it is not streaming (unknown, inactive, or the error that stopped it).
        self.failed: dict[str, str] = {}
        #: symbol → md dicts delivered to ``on_md``.
        self.delivered: Counter[str] = Counter()
        self.feed_health = health if health is not None else FeedHealth()
        #: symbol → bars the REST backfill changed after outages.
        self.backfilled: Counter[str] = Counter()
        self.monitor_interval = monitor_interval
        self.time_sync_interval = time_sync_interval
        self.clock = clock
        #: symbol → (first, last) minute the REST backfill must make authoritative.
        self._backfill: dict[str, tuple[int, int]] = {}
        self._on_md: MdCallback | None = None
        self._tasks: dict[str, asyncio.Task] = {}
        #: (symbol, task) of every symbol task that finished, for the supervisor; a task of
        #: None is :meth:`close` waking it up.
        self._finished: asyncio.Queue[tuple[str, asyncio.Task | None]] = asyncio.Queue()
        self._skipped: set[str] = set()
        #: symbol → whether it streams its perpetual: a reload that changes it restarts the symbol
        self._has_perp: dict[str, bool] = {}
        self._background = TaskSet()
        self._error_log = RateLimitedLog(log, level=logging.ERROR)
        self._closed = False

    # ------------------------------------------------------------------ bootstrap
    async def bootstrap_bars(self, symbol: str) -> list[list]:
        """Fetch the latest closed 1 m bars and forward-fill the minutes MEXC has no bar for."""
        raw = await self.adapter.fetch_ohlcv(symbol, "1m", self.bootstrap_limit)
        return fill_minute_bars(sorted(raw, key=lambda r: r[0]))[-self.bootstrap_limit :]

    async def _bootstrap_state(self, symbol: str) -> tuple[SymbolState, bool]:
        """Bars and perpetual figures for ``symbol``, retrying transient failures forever.

        The adapter already retries each REST call a few times; past that an outage is the
        feed's problem to ride out, not a reason to drop the symbol.
        """
        backoff = getattr(self.adapter, "backoff_factory", Backoff)()
        while True:
            try:
                inst = await self.adapter.instrument(symbol)
                state = SymbolState(symbol, LiveBars(await self.bootstrap_bars(symbol), self.bootstrap_limit))
                has_perp = self.perpetuals and inst.perp_symbol is not None
                if has_perp:
                    try:
                        swap = await self.adapter.fetch_swap_ticker(symbol)
                    except UnknownSymbolError as exc:  # the perpetual went away, the spot market did not
                        log.warning("%s: streaming without funding/open interest: %s", symbol, exc)
                        swap, has_perp = None, False
                    if swap is not None:
                        state.apply_swap(swap)
                return state, has_perp
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await log_and_sleep(backoff, log, f"{symbol} bootstrap", exc)

    # ------------------------------------------------------------------ streaming
    async def stream_symbol(self, symbol: str, on_md: MdCallback) -> None:
        """Stream market data for a single symbol until cancelled or a stream fails for good."""
        async with self._bootstrap_slots:
            try:
                state, has_perp = await self._bootstrap_state(symbol)
            except Exception:
                self._progressed(symbol, ok=False)
                raise
        self._progressed(symbol, ok=True)
        self.states[symbol] = state
        self._has_perp[symbol] = has_perp
        self._schedule_backfill(state)  # the minute forming now is only partly ours
        self.feed_health.freshness(symbol).start(self.clock())
        log.info("%s: bootstrapped %d bars, streaming", symbol, len(state.bars.closed))
        async with asyncio.TaskGroup() as group:
            group.create_task(self._pump(state, on_md, Channel.TICKER, self.adapter.stream_ticker(symbol)))
            group.create_task(
                self._pump(state, on_md, Channel.TRADES, self.adapter.stream_trade_batches(symbol))
            )
            if has_perp:
                group.create_task(
                    self._pump(state, on_md, Channel.SWAP, self.adapter.stream_swap_ticker(symbol))
                )

    def _progressed(self, symbol: str, *, ok: bool) -> None:
        if ok:
            self.progress.ready += 1
        else:
            self.progress.failed += 1
        if self.on_progress is not None:
            self.on_progress(self.progress, symbol)

    async def _pump(
        self, state: SymbolState, on_md: MdCallback, channel: str, records: AsyncIterator[Any]
    ) -> None:
        """Apply one stream's records (trades: one batch per push) to the state; count each;
        deliver one md per record or batch."""
        health = self.feed_health.channel(state.symbol, channel)
        apply = {
            Channel.TICKER: state.apply_ticker,
            Channel.TRADES: state.apply_trades,
            Channel.SWAP: state.apply_swap,
        }[channel]
        async for record in records:
            n = len(record) if channel == Channel.TRADES else 1
            health.on_receive(n)
            try:
                applied = apply(record)
            except Exception as exc:  # one bad record is a counted drop, never the stream's end
                health.on_drop("error", n)
                self._error_log.event("%s %s: record dropped: %r: %.300r", state.symbol, channel, exc, record)
                continue
            if not applied:
                health.on_drop("stale")
                continue
            if channel == Channel.TRADES:
                self._maybe_backfill(state)
            if state.stale and channel == self.feed_health.freshness_channel:
                state.stale = False
                log.info("%s: fresh data again", state.symbol)
            if not state.ready():
                health.on_data(self.clock())
                continue
            md = state.to_md(self._texts_for(state.symbol))
            rx = record[-1].get("rx") if channel == Channel.TRADES else record.get("rx")
            health.on_data(self.clock(), time.perf_counter() - rx if rx else None)
            await self._deliver(md, on_md, health)

    def _texts_for(self, symbol: str) -> list[str]:
        return self.texts.texts_for(symbol) if self.texts is not None else []

    async def _deliver(self, md: dict[str, Any], on_md: MdCallback, health: ChannelHealth) -> None:
        result = on_md(md)
        if inspect.isawaitable(result):
            await result
        self.delivered[md["symbol"]] += 1
        health.on_deliver()

    # ------------------------------------------------------------------ listener, backfill
    def on_disconnect(self, symbol: str, channel: str, reason: str) -> None:
        """Adapter callback: a stream of ``symbol`` lost its connection (or was reset)."""
        self.feed_health.channel(symbol, channel).on_disconnect(self.clock())
        state = self.states.get(symbol)
        if channel == Channel.TRADES and state is not None:
            self._schedule_backfill(state)
            log.info("%s: trades disconnected (%s); the outage's bars will be backfilled", symbol, reason)

    def _schedule_backfill(self, state: SymbolState) -> None:
        """The bars from the last trusted one up to the current minute will be replaced by the
        exchange's once that minute closes: trades before our stream (re)started are missing
        from them — after a disconnect, and for the minute that was forming at bootstrap."""
        if state.bars.last_closed_open is None:
            return
        first, last = self._backfill.get(state.symbol, (state.bars.last_closed_open + MINUTE_MS, 0))
        now_minute = self.adapter.clock.now_ms() // MINUTE_MS * MINUTE_MS
        self._backfill[state.symbol] = (first, max(last, now_minute))

    def on_drop(self, symbol: str, channel: str, reason: str) -> None:
        """Adapter callback: a payload of ``symbol`` was unusable and skipped."""
        health = self.feed_health.channel(symbol, channel)
        health.on_receive()
        health.on_drop(reason)

    def _maybe_backfill(self, state: SymbolState) -> None:
        """Once the outage's last minute has closed, fetch the exchange's bars for it."""
        pending = self._backfill.get(state.symbol)
        closed = state.bars.last_closed_open
        if pending is None or closed is None or closed < pending[1]:
            return
        if self._background.running(f"backfill:{state.symbol}"):
            return
        del self._backfill[state.symbol]
        self._background.spawn(self._run_backfill(state, *pending), f"backfill:{state.symbol}")

    async def _run_backfill(self, state: SymbolState, first: int, last: int) -> None:
        """Merge the exchange's bars for ``first..last`` — only as far as the exchange has
        closed them: a minute it has not closed yet must not be forward-filled as empty."""
        through = min(last, last_closed_open(self.adapter.clock.now_ms(), "1m"))
        try:
            bars = (
                await self.adapter.fetch_ohlcv_range(state.symbol, first, through) if through >= first else []
            )
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("%s: backfill failed (%s), retried after the next bar", state.symbol, exc)
            self._backfill[state.symbol] = (first, last)
            return
        if through < last:  # the rest once the exchange has closed it
            self._backfill[state.symbol] = (max(first, through + MINUTE_MS), last)
        if through < first:
            return
        changed = state.bars.merge_exchange_bars(bars, first, through)
        self.backfilled[state.symbol] += changed
        # at INFO only when the exchange's bars differed: with thousands of symbols every
        # bootstrap minute is backfilled, and nearly all of them were right already
        log.log(
            logging.INFO if changed else logging.DEBUG,
            "%s: backfilled %d bars from REST, %d changed",
            state.symbol,
            len(bars),
            changed,
        )

    # ------------------------------------------------------------------ monitor
    async def _monitor(self, on_md: MdCallback) -> None:
        """Mark silent symbols stale (one md each), count malformed frames, resync the clock."""
        next_sync = self.clock() + self.time_sync_interval
        malformed_seen = 0
        overflow_seen: Counter[str] = Counter()
        while True:
            await asyncio.sleep(self.monitor_interval)
            now = self.clock()
            for symbol, state in list(self.states.items()):
                if not state.stale and self.feed_health.freshness(symbol).is_stale(now):
                    state.stale = True
                    log.warning(
                        "%s: no fresh data for %.1fs: md marked stale", symbol, self.feed_health.stale_after_s
                    )
                    if state.ready():
                        channel = self.feed_health.channel(symbol, self.feed_health.freshness_channel)
                        await self._deliver(state.to_md(self._texts_for(symbol)), on_md, channel)
            malformed = self.adapter.malformed_frames()
            if malformed > malformed_seen:
                self.feed_health.channel("*", "ws").on_receive(malformed - malformed_seen)
                self.feed_health.channel("*", "ws").on_drop("malformed", malformed - malformed_seen)
                malformed_seen = malformed
            self._count_trade_overflow(overflow_seen)
            if now >= next_sync:
                next_sync = now + self.time_sync_interval
                await self._sync_clock()

    def _count_trade_overflow(self, seen: Counter[str]) -> None:
        """Trades lost in ccxt's bounded cache (a consumer far behind) are drops of the symbol's
        trade stream: received and dropped, so the drop ratio shows them."""
        for symbol, lost in self.adapter.trades_overflow().items():
            if lost > seen[symbol]:
                health = self.feed_health.channel(symbol, Channel.TRADES)
                health.on_receive(lost - seen[symbol])
                health.on_drop("cache_overflow", lost - seen[symbol])
                seen[symbol] = lost

    async def _sync_clock(self) -> None:
        try:
            await self.adapter.fetch_time()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("clock sync failed: %s", exc)
            return
        self.feed_health.clock_offset_ms = self.adapter.clock.offset_ms

    async def run(self, on_md: MdCallback) -> None:
        """Run market data streams for all valid symbols until :meth:`close` or total failure."""
        self.adapter.listener = self
        self._on_md = on_md
        wanted = self.symbols
        if self.universe is not None:
            selection = await self.adapter.select_universe(self.universe)
            self._log_selection(selection)
            wanted = list(selection.symbols)
        self.symbols = []
        valid = await self._validate(wanted)
        if not valid and not self.dynamic:
            raise NoValidSymbolError(f"no valid MEXC symbol to stream: {self.failed}")
        await self._sync_clock()
        self._start(valid)
        self._background.spawn(self._monitor(on_md), "feed-monitor")
        if self.universe is not None:
            self._background.spawn(self._reload_universe(self.universe), "universe-reload")
        try:
            await self._supervise_symbols()
        finally:
            await self._cancel_tasks()

    async def _validate(self, symbols: Iterable[str]) -> list[str]:
        """The symbols MEXC lists as trading; the others are logged once and put in ``failed``."""
        valid, invalid = await self.adapter.validate_symbols(list(symbols))
        for symbol, error in invalid.items():
            log.error("symbol %s skipped: %s", symbol, error)
            self.failed[symbol] = str(error)
        return [inst.symbol for inst in valid]

    def _start(self, symbols: Iterable[str]) -> None:
        """Start one task per symbol (bootstrap, then its streams); each streams on its own
        as soon as its bootstrap is done."""
        assert self._on_md is not None
        symbols = list(symbols)
        if self.texts is not None:
            self.texts.track(symbols)
        for symbol in symbols:
            self.failed.pop(symbol, None)
            self.symbols.append(symbol)
            self.progress.total += 1
            task = asyncio.create_task(self.stream_symbol(symbol, self._on_md), name=f"feed:{symbol}")
            self._tasks[symbol] = task
            task.add_done_callback(lambda t, s=symbol: self._finished.put_nowait((s, t)))

    async def add_symbols(self, symbols: Iterable[str]) -> list[str]:
        """Validate and start streaming ``symbols`` not streaming yet; returns those started.
        Before :meth:`run` they are only queued for it. Idempotent."""
        new = [s for s in dict.fromkeys(symbols) if s not in self._tasks and s not in self.symbols]
        if self._on_md is None:
            self.symbols.extend(new)
            return new
        valid = await self._validate(new) if new else []
        self._start(valid)
        return valid

    async def remove_symbols(self, symbols: Iterable[str]) -> list[str]:
        """Stop streaming ``symbols``: cancel their streams, unsubscribe, forget their state and
        retire their health records (their counts stay in the totals). Idempotent; returns
        the symbols that were streaming."""
        removed = [s for s in dict.fromkeys(symbols) if s in self._tasks or s in self.symbols]
        tasks = [t for s in removed if (t := self._tasks.pop(s, None)) is not None]
        await cancel_and_wait(tasks)
        for symbol in removed:
            if symbol in self.symbols:
                self.symbols.remove(symbol)
            self.states.pop(symbol, None)
            self._has_perp.pop(symbol, None)
            self._backfill.pop(symbol, None)
            self.feed_health.retire(symbol)
            await self.adapter.release(symbol)
        if removed:
            log.info("stopped streaming %d symbol(s): %s", len(removed), ", ".join(removed[:20]))
        return removed

    def _log_selection(self, selection: Selection) -> None:
        """Log the universe and, once each, the markets it leaves out and why."""
        fresh = {s: why for s, why in selection.skipped.items() if s not in self._skipped}
        for symbol, why in sorted(fresh.items()):
            log.info("market %s not streamed: %s", symbol, why)
        self._skipped = set(selection.skipped)
        log.info("universe %s: %d symbols", self.universe, len(selection.symbols))

    async def _reload_universe(self, spec: UniverseSpec) -> None:
        """Every ``reload_interval``: reload MEXC's markets, stop delisted symbols, start new ones."""
        while True:
            await asyncio.sleep(self.reload_interval)
            try:
                selection = await self.adapter.select_universe(spec)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("market reload failed (%s); the current universe stays", exc)
                continue
            self._log_selection(selection)
            added, removed = changes(self.symbols, selection.symbols)
            if removed:
                log.info("leaving the universe (delisted, inactive or outranked): %s", removed)
                await self.remove_symbols(removed)
            if added:
                log.info("joining the universe (listed or ranked up): %s", added)
                await self.add_symbols(added)
            await self._restart_perp_changes()

    async def _restart_perp_changes(self) -> None:
        """Restart symbols whose perpetual was listed or delisted since their bootstrap: a new
        one brings funding and open interest, a gone one must not leave its last figures in
        every md (nor a swap stream waiting for pushes that never come)."""
        changed = []
        for symbol, had in list(self._has_perp.items()):
            inst = await self.adapter.instrument(symbol)
            if (self.perpetuals and inst.perp_symbol is not None) != had:
                changed.append(symbol)
        if changed:
            log.info("perpetual listed or delisted, restarting: %s", changed)
            await self.remove_symbols(changed)
            await self.add_symbols(changed)

    async def _supervise_symbols(self) -> None:
        """Record every symbol task that ends on its own; return when none is left (unless the
        feeder is dynamic), raising when they all failed."""
        errors: list[BaseException] = []
        while self._tasks or self.dynamic:
            symbol, task = await self._finished.get()
            if task is None:
                break
            if self._tasks.get(symbol) is task:
                del self._tasks[symbol]
                if symbol in self.symbols:
                    self.symbols.remove(symbol)
            if task.cancelled():
                continue
            exc = task.exception()
            reason = f"{type(exc).__name__}: {exc}" if exc else "stream ended"
            self.failed[symbol] = reason
            log.error("symbol %s stopped: %s", symbol, reason, exc_info=exc)
            if exc is not None:
                errors.append(exc)
        if errors and not self._closed:
            raise NoValidSymbolError(f"every symbol stopped: {self.failed}") from errors[0]

    async def _cancel_tasks(self) -> None:
        await cancel_and_wait([*self._tasks.values(), *self._background])

    def state(self) -> dict[str, Any]:
        """A plain snapshot: streaming symbols, failed symbols with reasons, md counts."""
        return {
            "streaming": sorted(s for s, t in self._tasks.items() if not t.done()),
            "bootstrap": asdict(self.progress),
            "failed": dict(self.failed),
            "delivered": dict(self.delivered),
        }

    def health(self) -> dict[str, Any]:
        """Plain dict: per symbol and channel counters, drops by reason, latency p50/p95/p99,
        uptime, reconnects and recovery times, clock offset; plus backfilled bar counts."""
        return {**self.feed_health.snapshot(self.clock()), "backfilled_bars": dict(self.backfilled)}

    async def close(self) -> None:
        """Stop every symbol task and close the adapter; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._finished.put_nowait(("", None))
        await self._cancel_tasks()
        await self.adapter.close()
