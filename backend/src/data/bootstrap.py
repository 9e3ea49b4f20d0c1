"""Symbol bootstrap: the history and perpetual figures a symbol needs before it streams.

Per symbol: the latest closed, gap-filled 1 m bars, and funding/open interest from the
perpetual's REST ticker when it has one. At most ``bootstrap_concurrency`` symbols bootstrap at
once (MEXC allows 500 requests per 10 s per endpoint; a 429 pauses every caller, see the
adapter), and each finished bootstrap is reported (``on_progress``), so thousands of symbols
show a progress bar instead of minutes of silence. Transient failures are retried forever:
an exchange outage is the feed's to ride out, not a reason to drop the symbol.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

from ..adapters.mexc import MexcAdapter
from ..adapters.mexc_klines import last_closed_open
from ..adapters.transient import is_transient
from ..backoff import Backoff, log_and_sleep
from ..errors import UnknownSymbolError
from ..market_data import MINUTE_MS
from .feeder_config import FeederConfig
from .gap_filler import fill_minute_bars
from .live_bars import LiveBars
from .md_mapping import SymbolState

log = logging.getLogger(__name__)

#: Minutes before the store's newest bar asked of the exchange again at a warm start.
WARM_OVERLAP = 30


def recent(bars: list[list], limit: int) -> list[list]:
    """What the last ``limit`` minutes of the filled history are made of: the bars of the
    ``limit`` minutes up to the newest one (ascending ``bars``), and the latest bar before them,
    whose close fills their first minutes up to a trade. An illiquid pair's ``limit`` real bars
    span days; filling all those minutes only to keep the last ``limit`` was 11 % of a
    2000-symbol bootstrap's CPU (``docs/BENCHMARKS.md``)."""
    if not bars:
        return bars
    first = bisect_left(bars, bars[-1][0] - (limit - 1) * MINUTE_MS, key=itemgetter(0))
    return bars[max(0, first - 1) :]


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


class Bootstrap:
    """Bootstraps one feeder's symbols, a bounded number at a time, counting their progress."""

    def __init__(
        self,
        adapter: MexcAdapter,
        config: FeederConfig,
        on_progress: ProgressCallback | None = None,
        stored: Callable[[str, int], list[list[float]]] | None = None,
    ) -> None:
        self.adapter = adapter
        self.config = config
        self.on_progress = on_progress
        #: ``(symbol, limit)`` → the newest stored bars (the bar store), if there is a store
        self.stored = stored
        self.progress = BootstrapProgress()
        self._slots = asyncio.Semaphore(config.bootstrap_concurrency)

    async def bars(self, symbol: str) -> list[list]:
        """The latest closed 1 m bars, forward-filled where MEXC has no bar: from the bar store
        topped up with the minutes since it was last written, else all from REST."""
        limit = self.config.bootstrap_limit
        raw = await self._warm(symbol, limit) if self.stored is not None else None
        if raw is None:
            raw = await self._cold(symbol, limit)
        return fill_minute_bars(recent(sorted(raw, key=itemgetter(0)), limit))[-limit:]

    async def _cold(self, symbol: str, limit: int) -> list[list]:
        """The exchange's bars of the last ``limit`` minutes and the one before them
        (``fetch_recent_bars``: 3–4 requests, where the ``limit`` latest bars of an illiquid
        pair are up to 33). An adapter whose class replaces ``fetch_ohlcv`` (a test double,
        another source of bars) is read through its ``fetch_ohlcv``, as it expects."""
        if type(self.adapter).fetch_ohlcv is MexcAdapter.fetch_ohlcv:
            return await self.adapter.fetch_recent_bars(symbol, limit)
        return await self.adapter.fetch_ohlcv(symbol, "1m", limit)

    async def _warm(self, symbol: str, limit: int) -> list[list] | None:
        """Stored bars plus the exchange's since the store's newest (with ``WARM_OVERLAP``
        minutes before it asked again: the last minutes written before a stop may predate
        their backfill); None when the store cannot give ``limit`` bars that way."""
        assert self.stored is not None
        stored = self.stored(symbol, limit)
        end = last_closed_open(self.adapter.clock.now_ms(), "1m")
        if len(stored) < limit or end - stored[-1][0] >= limit * MINUTE_MS:
            return None  # a new symbol, or a stop longer than the history: a cold bootstrap
        first = max(stored[0][0], stored[-1][0] - (WARM_OVERLAP - 1) * MINUTE_MS)
        fresh = await self.adapter.fetch_ohlcv_range(symbol, int(first), end)
        by_ts = {int(bar[0]): bar for bar in stored}
        by_ts.update({int(bar[0]): bar for bar in fresh if first <= bar[0] <= end})
        return list(by_ts.values())

    async def symbol(self, symbol: str) -> tuple[SymbolState, bool]:
        """``symbol``'s state and whether it streams its perpetual, once a slot is free; the
        outcome is counted in :attr:`progress` either way."""
        async with self._slots:
            try:
                result = await self._state(symbol)
            except Exception:
                self._progressed(symbol, ok=False)
                raise
        self._progressed(symbol, ok=True)
        return result

    async def _state(self, symbol: str) -> tuple[SymbolState, bool]:
        """Bars and perpetual figures for ``symbol``, retrying transient failures forever.

        The adapter already retries each REST call a few times; past that an outage is the
        feed's problem to ride out, not a reason to drop the symbol.
        """
        backoff = getattr(self.adapter, "backoff_factory", Backoff)()
        while True:
            try:
                inst = await self.adapter.instrument(symbol)
                state = SymbolState(symbol, LiveBars(await self.bars(symbol), self.config.bootstrap_limit))
                has_perp = self.config.perpetuals and inst.perp_symbol is not None
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

    def _progressed(self, symbol: str, *, ok: bool) -> None:
        if ok:
            self.progress.ready += 1
        else:
            self.progress.failed += 1
        if self.on_progress is not None:
            self.on_progress(self.progress, symbol)
