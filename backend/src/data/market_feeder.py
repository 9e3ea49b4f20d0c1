"""``MarketFeeder``: bootstrap bars + MEXC streams → md dicts delivered through ``on_md``.

Per symbol it bootstraps closed, gap-filled 1 m bars and the perpetual's funding/open interest
(``bootstrap``), then runs the book-ticker, trade and (when the symbol has a perpetual)
swap-ticker streams concurrently. Every record updates the symbol's :class:`SymbolState` and,
once the state has a price and a two-sided book, one md dict is delivered (schema in
``md_mapping``). Knobs: :class:`~.feeder_config.FeederConfig`.

Many symbols: a :class:`UniverseSpec` instead of a list is resolved at start and kept current
while running (``universe_reload``); symbols can also be added and removed at any time
(:meth:`MarketFeeder.add_symbols`, :meth:`MarketFeeder.remove_symbols`; a bus node does so as
it wins and loses leases). Each symbol streams as soon as its own bootstrap is done.

Failure policy: one symbol failing never stops the others. Unknown or inactive symbols are
found before any stream starts, logged once at ERROR, listed in :attr:`MarketFeeder.failed`
and skipped; :meth:`run` raises only when no symbol is left.

Never silently stale: the feeder is the adapter's stream listener. Every record is counted in
:attr:`MarketFeeder.health` (``health``); a monitor marks silent symbols ``stale`` and counts
what never reached a stream (``feed_monitor``); after a trade-stream disconnect the outage's
minutes are backfilled from REST so the live bars stay gapless (``backfill``).

Closed bars: each symbol's history when it has bootstrapped, every bar as it closes (by a
trade, or by the exchange clock for a quiet symbol) and the bars a backfill revised go to the
bar store (``data_dir``) and to the listener of :meth:`MarketFeeder.listen_bars` (``bar_feed``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import asdict
from typing import Any, Protocol

from ..adapters.mexc_ccxt import MexcAdapter
from ..adapters.mexc_universe import UniverseSpec
from ..errors import NoValidSymbolError
from ..log_limits import RateLimitedLog
from ..market_data import BarListener, Channel
from ..tasks import TaskSet, cancel_and_wait
from .backfill import Backfill
from .bar_feed import BarFeed
from .bar_sink import BarSink
from .bar_store import BarStore
from .bootstrap import Bootstrap, BootstrapProgress, ProgressCallback
from .feed_monitor import FeedMonitor
from .feeder_config import FeederConfig
from .health import ChannelHealth, FeedHealth
from .md_mapping import SymbolState
from .universe_reload import UniverseReload

log = logging.getLogger(__name__)

MdCallback = Callable[[dict[str, Any]], Awaitable[None] | None]


class TextProvider(Protocol):
    """What the feeder needs from a text source hub (see ``text_sources``)."""

    def texts_for(self, symbol: str) -> list[str]: ...

    def track(self, symbols: Iterable[str]) -> None:
        """Collect texts for ``symbols`` too (called as symbols start streaming)."""


class MarketFeeder:
    """Feeds market data to trading engines via callback."""

    def __init__(
        self,
        symbols: list[str],
        adapter: MexcAdapter | None = None,
        *,
        texts: TextProvider | None = None,
        bootstrap_limit: int | None = None,
        perpetuals: bool | None = None,
        health: FeedHealth | None = None,
        monitor_interval: float | None = None,
        time_sync_interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        universe: UniverseSpec | None = None,
        reload_interval: float | None = None,
        bootstrap_concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        dynamic: bool = False,
        config: FeederConfig | None = None,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """Knobs come from ``config`` (default: :class:`FeederConfig`'s production values); a
        knob also given as a keyword argument (not ``None``) overrides the config's value.
        ``config.md_stale_after`` sets the threshold of the health registry created here; a
        ``health`` passed in keeps its own ``stale_after_s``. With ``data_dir`` closed bars are
        kept in a bar store there (``data.bar_store``): a restart reads its history from it and
        asks MEXC only for the minutes since; without it (the default) nothing is written."""
        #: the effective knobs (``config`` with the keyword arguments applied).
        self.config = (config or FeederConfig()).overridden(
            bootstrap_limit=bootstrap_limit,
            perpetuals=perpetuals,
            monitor_interval=monitor_interval,
            time_sync_interval=time_sync_interval,
            reload_interval=reload_interval,
            bootstrap_concurrency=bootstrap_concurrency,
        )
        #: the symbols streaming or about to (a universe fills it at start and on reloads).
        self.symbols = list(dict.fromkeys(symbols))
        self.adapter = adapter if adapter is not None else MexcAdapter(self.symbols)
        self.universe = universe
        #: keep running with no symbol at all (a universe, or symbols added later by a bus node).
        self.dynamic = dynamic or universe is not None
        #: the bar store's feeder side, when ``data_dir`` is given (opened, and locked, now)
        self.bar_sink = BarSink(BarStore(data_dir)) if data_dir is not None else None
        sink = self.bar_sink
        #: closed bars out: to the store, and to the listener of :meth:`listen_bars`
        self.bar_feed = BarFeed(lambda: self.adapter.clock.now_ms(), sink, mark=self._mark)
        self._bootstrap = Bootstrap(self.adapter, self.config, on_progress, sink.history if sink else None)
        self.texts = texts
        self.states: dict[str, SymbolState] = {}
        #: symbol → why it is not streaming (unknown, inactive, or the error that stopped it).
        self.failed: dict[str, str] = {}
        #: symbol → md dicts delivered to ``on_md``.
        self.delivered: Counter[str] = Counter()
        self.feed_health = (
            health if health is not None else FeedHealth(stale_after_s=self.config.md_stale_after)
        )
        self.clock = clock
        self._on_md: MdCallback | None = None
        self._tasks: dict[str, asyncio.Task] = {}
        #: (symbol, task) of every symbol task that finished, for the supervisor; a task of
        #: None is :meth:`close` waking it up.
        self._finished: asyncio.Queue[tuple[str, asyncio.Task | None]] = asyncio.Queue()
        #: symbol → whether it streams its perpetual: a reload that changes it restarts the symbol
        self._has_perp: dict[str, bool] = {}
        self._background = TaskSet()
        #: the outages' bars to fetch from REST, and the fetches (background tasks of ours).
        self.backfill = Backfill(self.adapter, self._background, self.bar_feed.revised)
        self._monitor = FeedMonitor(self.adapter, self.feed_health, clock, self.config)
        self._reload = (
            UniverseReload(universe, self.adapter, self, self._has_perp, self.config)
            if universe is not None
            else None
        )
        self._error_log = RateLimitedLog(log, level=logging.ERROR)
        self._closed = False

    @property
    def progress(self) -> BootstrapProgress:
        """Bootstraps asked for, finished and failed (what ``on_progress`` is called with)."""
        return self._bootstrap.progress

    @property
    def backfilled(self) -> Counter[str]:
        """symbol → bars the REST backfill changed after outages."""
        return self.backfill.backfilled

    def listen_bars(self, listener: BarListener) -> None:
        """Tell ``listener`` of each symbol's history when it bootstraps (before its first md),
        of every bar as it closes, and of the bars a backfill revised (``data.bar_feed``)."""
        self.bar_feed.listener = listener

    async def bootstrap_bars(self, symbol: str) -> list[list]:
        """Fetch the latest closed 1 m bars and forward-fill the minutes MEXC has no bar for."""
        return await self._bootstrap.bars(symbol)

    # ------------------------------------------------------------------ streaming
    async def stream_symbol(self, symbol: str, on_md: MdCallback) -> None:
        """Stream market data for a single symbol until cancelled or a stream fails for good."""
        state, has_perp = await self._bootstrap.symbol(symbol)
        self.states[symbol] = state
        self._has_perp[symbol] = has_perp
        self.backfill.schedule(state)  # the minute forming now is only partly ours
        await self.bar_feed.history(state)
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

    async def _pump(
        self, state: SymbolState, on_md: MdCallback, channel: str, records: AsyncIterator[Any]
    ) -> None:
        """Apply one stream's records (trades: one batch per push) to the state; count each;
        deliver one md per record or batch."""
        health = self.feed_health.channel(state.symbol, channel)
        maybe_backfill = self.backfill.maybe_run
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
                maybe_backfill(state)
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

    def _mark(self, name: str) -> Awaitable[None]:
        """The adapter's ``pacing`` mark, looked up when marked (a replay sets its pacer late)."""
        return self.adapter.pacer.mark(name)

    def _texts_for(self, symbol: str) -> list[str]:
        return self.texts.texts_for(symbol) if self.texts is not None else []

    async def _deliver(self, md: dict[str, Any], on_md: MdCallback, health: ChannelHealth) -> None:
        result = on_md(md)
        if inspect.isawaitable(result):
            await result
        self.delivered[md["symbol"]] += 1
        health.on_deliver()

    # ------------------------------------------------------------------ adapter listener
    def on_disconnect(self, symbol: str, channel: str, reason: str) -> None:
        """Adapter callback: a stream of ``symbol`` lost its connection (or was reset)."""
        self.feed_health.channel(symbol, channel).on_disconnect(self.clock())
        state = self.states.get(symbol)
        if channel == Channel.TRADES and state is not None:
            self.backfill.schedule(state)
            log.info("%s: trades disconnected (%s); the outage's bars will be backfilled", symbol, reason)

    def on_drop(self, symbol: str, channel: str, reason: str) -> None:
        """Adapter callback: a payload of ``symbol`` was unusable and skipped."""
        health = self.feed_health.channel(symbol, channel)
        health.on_receive()
        health.on_drop(reason)

    async def _republish(self, state: SymbolState) -> None:
        """Deliver ``state``'s md again, counted on its freshness channel: the monitor marked it
        stale, and engines must learn that without waiting for the next message."""
        assert self._on_md is not None
        channel = self.feed_health.channel(state.symbol, self.feed_health.freshness_channel)
        await self._deliver(state.to_md(self._texts_for(state.symbol)), self._on_md, channel)

    # ------------------------------------------------------------------ lifecycle
    async def run(self, on_md: MdCallback) -> None:
        """Run market data streams for all valid symbols until :meth:`close` or total failure."""
        self.adapter.listener = self
        self._on_md = on_md
        if (recorder := getattr(self.adapter, "recorder", None)) is not None:
            recorder.note_feeder(self.symbols, self.config, self.universe)  # what a replay rebuilds
        wanted = await self._reload.select() if self._reload is not None else self.symbols
        self.symbols = []
        valid = await self._validate(wanted)
        if not valid and not self.dynamic:
            raise NoValidSymbolError(f"no valid MEXC symbol to stream: {self.failed}")
        await self._monitor.sync_clock()
        self._start(valid)
        self._background.spawn(self._monitor.run(lambda: self.states, self._republish), "feed-monitor")
        if self._reload is not None:
            self._background.spawn(self._reload.run(), "universe-reload")
        self._background.spawn(self.bar_feed.run(lambda: self.states), "bar-feed")
        try:
            await self._supervise_symbols()
        finally:
            self._mark_stop()
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
        self.adapter.reserve(symbols)  # connections by this order, not by who bootstraps first
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
            self.backfill.forget(symbol)
            self.bar_feed.forget(symbol)
            self.feed_health.retire(symbol)
            await self.adapter.release(symbol)
        if removed:
            log.info("stopped streaming %d symbol(s): %s", len(removed), ", ".join(removed[:20]))
        return removed

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

    def _mark_stop(self) -> None:
        """md stop being delivered now: a recording notes it, and a replay of it ends there."""
        if (recorder := getattr(self.adapter, "recorder", None)) is not None:
            recorder.stop()

    async def close(self) -> None:
        """Stop every symbol task and close the adapter; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._mark_stop()
        self._finished.put_nowait(("", None))
        await self._cancel_tasks()  # the bar feed's task writes what the store still lacks
        if self.bar_sink is not None:
            self.bar_sink.close()
        await self.adapter.close()
