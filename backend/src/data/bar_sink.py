"""The feeder's side of the bar store: history in at bootstrap, closed bars out while streaming.

Why a sweep instead of a write per closed bar: bars close inside the trade stream's handling,
the feeder's hot path. Once per ``flush_every`` seconds the sink looks at each symbol's ring
(one comparison per symbol when nothing closed), queues the bars closed since its last look,
and the writer stores them in a worker thread. A backfill that replaces bars after an outage
calls :meth:`BarSink.revised`, so the store keeps the exchange's version too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from .bar_store import BarStore
from .bar_writer import BarWriter
from .md_mapping import SymbolState

log = logging.getLogger(__name__)


class BarSink:
    """Keeps one data directory's store in step with the feeder's closed bars."""

    def __init__(self, store: BarStore, flush_every: float = 1.0) -> None:
        self.store = store
        self.flush_every = flush_every
        self.writer = BarWriter(store)
        #: symbol → open time of the newest bar queued for the store
        self._queued_through: dict[str, int] = {}

    def history(self, symbol: str, limit: int) -> list[list[float]]:
        """The newest ``limit`` stored bars of ``symbol`` as ``[ms, o, h, l, c, v]``, oldest first."""
        return [[ts, o, h, low, c, v] for ts, o, h, low, c, v, _syn in self.store.last(symbol, limit)]

    def collect(self, states: Mapping[str, SymbolState]) -> None:
        """Queue every bar closed since the last sweep, per symbol (newest ones only)."""
        for symbol, state in states.items():
            closed = state.bars.closed
            if not closed:
                continue
            newest = int(closed.newest(0))
            through = self._queued_through.get(symbol)
            if through is not None and newest <= through:
                continue
            i = len(closed) - 1
            while i > 0 and (through is None or closed[i - 1][0] > through):
                i -= 1
            self._queue(symbol, state, range(i, len(closed)))
            self._queued_through[symbol] = newest

    def revised(self, state: SymbolState, first: int, last: int) -> None:
        """Queue the bars of ``first..last`` again: a backfill made them the exchange's."""
        closed = state.bars.closed
        self._queue(state.symbol, state, [i for i in range(len(closed)) if first <= closed[i][0] <= last])

    def _queue(self, symbol: str, state: SymbolState, indexes: range | list[int]) -> None:
        closed = state.bars.closed
        for i in indexes:
            ts, o, h, low, c, v = closed[i]
            self.writer.put(symbol, (int(ts), o, h, low, c, v, closed.is_synthetic(i)))

    def forget(self, symbol: str) -> None:
        """``symbol`` stopped streaming: a later restart of it starts its sweep afresh."""
        self._queued_through.pop(symbol, None)

    async def run(self, states: Callable[[], Mapping[str, SymbolState]]) -> None:
        """Sweep and flush every ``flush_every`` seconds until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self.flush_every)
                self.collect(states())
                await self.writer.flush()
        finally:
            self.collect(states())
            await asyncio.shield(self.writer.flush())

    def close(self) -> None:
        self.store.close()
