"""Closed bars out of the feeder: to the bar store and to a bar listener (engines, the bus).

Why a once-a-second sweep instead of a call per closed bar: bars close inside the trade
stream's handling, the feeder's hot path, which must not pay for them. Once per ``interval``
the feed closes every bar whose minute the exchange clock has passed (by ``CLOSE_GRACE_MS``),
so a quiet symbol's bar closes without a trade, synthetic; then it looks at each symbol's
ring — one comparison when nothing closed since its last look — and hands the bars closed
since to the store's writer and to the listener. A bar therefore reaches engines at most
``interval`` + ``CLOSE_GRACE_MS`` after its minute ends, usually within the second after the
next trade closed it.

The history goes out when a symbol has bootstrapped (:meth:`BarFeed.history`), before its
streams start, so an engine holds its bars before its first md. A backfill that replaces bars
after an outage calls :meth:`BarFeed.revised`: the store keeps the exchange's version, and the
listener is given those bars again, marked ``revision``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping

from ..market_data import MINUTE_MS, BarListener, make_bar
from .bar_sink import BarSink
from .md_mapping import SymbolState

#: How long after a minute's end (exchange clock) the sweep closes its bar if no trade did.
#: Trades reach us a few hundred ms after they happen and the clock offset is known to about
#: half a round trip; a trade that arrives later than this is not folded into the closed bar,
#: like any trade for a minute that has closed (``LiveBars.add_trade``).
CLOSE_GRACE_MS = 2_000
#: Symbols swept between two yields to the event loop: a sweep of 2000 symbols takes ~2 ms,
#: ~10 ms when each closed a bar (``benchmarks/bench_warm_start.py sweep``); in chunks of 250
#: no md waits more than ~1.5 ms for it.
SWEEP_CHUNK = 250


class BarFeed:
    """Finds the bars that closed and hands them to the store (``sink``) and ``listener``."""

    def __init__(
        self,
        now_ms: Callable[[], int],
        sink: BarSink | None = None,
        interval: float = 1.0,
        mark: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        #: the exchange clock (ms)
        self.now_ms = now_ms
        #: awaited before each timed sweep (``pacing``: a replay sweeps at the live instant)
        self.mark = mark
        self.sink = sink
        self.interval = interval
        #: told of every history, closed and revised bar (the engines' manager, a bus publisher)
        self.listener: BarListener | None = None
        #: symbol → open time of the newest bar handed out
        self._through: dict[str, int] = {}

    async def history(self, state: SymbolState) -> None:
        """``state`` has just bootstrapped: all its bars to the store (once its writer has room
        for them) and to the listener's ``on_history``; the sweeps go on from its newest bar."""
        closed = state.bars.closed
        if self.sink is not None:
            await self.sink.room(len(closed))
        self._through.pop(state.symbol, None)
        if closed:
            self._emit(state, range(len(closed)), history=True)
            self._through[state.symbol] = int(closed.newest(0))

    def sweep(self, states: Iterable[SymbolState]) -> None:
        """Close the bars the exchange clock has passed; hand out every bar closed since the
        last sweep, per symbol."""
        minute = (self.now_ms() - CLOSE_GRACE_MS) // MINUTE_MS * MINUTE_MS
        for state in states:
            symbol = state.symbol
            state.bars.close_until(minute)
            closed = state.bars.closed
            through = self._through.get(symbol)
            if through is None or not closed or closed.newest(0) <= through:
                continue
            i = len(closed) - 1
            while i > 0 and closed[i - 1][0] > through:
                i -= 1
            self._emit(state, range(i, len(closed)))
            self._through[symbol] = int(closed.newest(0))

    def revised(self, state: SymbolState, first: int, last: int) -> None:
        """A backfill made the bars of ``first..last`` the exchange's: those already handed out
        go out again as revisions (the later ones go out with the next sweep anyway)."""
        through = self._through.get(state.symbol)
        if through is None:  # the symbol stopped streaming while its backfill ran
            return
        closed = state.bars.closed
        last = min(last, through)
        self._emit(state, [i for i in range(len(closed)) if first <= closed[i][0] <= last], revision=True)

    def _emit(
        self, state: SymbolState, indexes: Iterable[int], *, history: bool = False, revision: bool = False
    ) -> None:
        closed, symbol, listener = state.bars.closed, state.symbol, self.listener
        rows = [(closed[i], closed.is_synthetic(i)) for i in indexes]
        if self.sink is not None:
            self.sink.put(symbol, rows, history=history)
        if listener is None or not rows:
            return
        bars = [make_bar(symbol, row, synthetic, revision) for row, synthetic in rows]
        if history:
            listener.on_history(symbol, bars)
            return
        for bar in bars:
            listener.on_bar(bar)

    def forget(self, symbol: str) -> None:
        """``symbol`` stopped streaming: nothing more of it goes out until it bootstraps again."""
        self._through.pop(symbol, None)

    async def run(self, states: Callable[[], Mapping[str, SymbolState]]) -> None:
        """Sweep (and write the store) every ``interval`` seconds until cancelled, then once more;
        sooner while the store's writer falls behind (see ``BarWriter.behind``)."""
        try:
            while True:
                if self.sink is None:
                    await asyncio.sleep(self.interval)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.sink.writer.behind.wait(), self.interval)
                if self.mark is not None:
                    await self.mark("sweep")
                swept = list(states().values())
                for start in range(0, len(swept), SWEEP_CHUNK):
                    self.sweep(swept[start : start + SWEEP_CHUNK])
                    await asyncio.sleep(0)  # md of other symbols go on between two chunks
                if self.sink is not None:
                    await self.sink.flush()
        finally:
            self.sweep(states().values())
            if self.sink is not None:
                await asyncio.shield(self.sink.flush())
