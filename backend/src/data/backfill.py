"""REST backfill of live 1 m bars after outages: gapless bars although trades were missed.

Live bars are built from trades, so minutes a trade stream was down for — and the minute that
was forming when a symbol bootstrapped — lack trades. Once the outage's last minute has
closed, the exchange's bars for it are fetched from REST and replace the live ones; only
minutes the exchange itself has no bar for stay forward-filled. One :class:`Backfill` per
feeder; it runs its fetches as the feeder's background tasks, so they end with the feeder.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..adapters.mexc_klines import last_closed_open
from ..adapters.transient import is_transient
from ..tasks import TaskSet
from .live_bars import MINUTE_MS
from .md_mapping import SymbolState

if TYPE_CHECKING:
    from ..adapters.mexc_ccxt import MexcAdapter

log = logging.getLogger(__name__)


class Backfill:
    """Which minutes of which symbol the exchange's bars must replace, and the fetches doing it."""

    def __init__(
        self,
        adapter: MexcAdapter,
        background: TaskSet,
        on_merged: Callable[[SymbolState, int, int], None] | None = None,
    ) -> None:
        self.adapter = adapter
        self._background = background
        #: told ``(state, first, last)`` after the exchange's bars replaced ours (the bar store)
        self.on_merged = on_merged
        #: symbol → bars the REST backfill changed after outages.
        self.backfilled: Counter[str] = Counter()
        #: symbol → (first, last) minute the REST backfill must make authoritative.
        self._pending: dict[str, tuple[int, int]] = {}

    def schedule(self, state: SymbolState) -> None:
        """The bars from the last trusted one up to the current minute will be replaced by the
        exchange's once that minute closes: trades before our stream (re)started are missing
        from them — after a disconnect, and for the minute that was forming at bootstrap."""
        if state.bars.last_closed_open is None:
            return
        first, last = self._pending.get(state.symbol, (state.bars.last_closed_open + MINUTE_MS, 0))
        now_minute = self.adapter.clock.now_ms() // MINUTE_MS * MINUTE_MS
        self._pending[state.symbol] = (first, max(last, now_minute))

    def forget(self, symbol: str) -> None:
        """``symbol`` stopped streaming: nothing of it is to be backfilled any more."""
        self._pending.pop(symbol, None)

    def maybe_run(self, state: SymbolState) -> None:
        """Once the outage's last minute has closed, fetch the exchange's bars for it. Called
        per trade batch, so the common case (nothing pending) returns at once."""
        pending = self._pending.get(state.symbol)
        if pending is None:
            return
        closed = state.bars.last_closed_open
        if closed is None or closed < pending[1]:
            return
        if self._background.running(f"backfill:{state.symbol}"):
            return
        del self._pending[state.symbol]
        self._background.spawn(self._run(state, *pending), f"backfill:{state.symbol}")

    async def _run(self, state: SymbolState, first: int, last: int) -> None:
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
            self._pending[state.symbol] = (first, last)
            return
        if through < last:  # the rest once the exchange has closed it
            self._pending[state.symbol] = (max(first, through + MINUTE_MS), last)
        if through < first:
            return
        await self.adapter.pacer.mark(f"backfill:{state.symbol}")
        changed = state.bars.merge_exchange_bars(bars, first, through)
        self.backfilled[state.symbol] += changed
        if changed and self.on_merged is not None:
            self.on_merged(state, first, through)
        # at INFO only when the exchange's bars differed: with thousands of symbols every
        # bootstrap minute is backfilled, and nearly all of them were right already
        log.log(
            logging.INFO if changed else logging.DEBUG,
            "%s: backfilled %d bars from REST, %d changed",
            state.symbol,
            len(bars),
            changed,
        )
