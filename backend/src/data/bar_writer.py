"""Closed bars to the bar store without touching the event loop's latency.

Why a writer between the feeder and :class:`~backend.src.data.bar_store.BarStore`: bars close
on the event loop (inside the trade stream's handling), and a disk write there would stall
every symbol's md. :meth:`BarWriter.put` only appends to a list; :meth:`BarWriter.flush`
(called once a second by the feeder's ``BarSink``) writes it in a worker thread, all symbols
in one transaction. A crash loses at most the last unflushed second, which the next start backfills
from REST like any other missing minute.
"""

from __future__ import annotations

import asyncio
import logging

from ..log_limits import RateLimitedLog
from .bar_store import BarStore, Row

log = logging.getLogger(__name__)


class BarWriter:
    """Batches ``(symbol, row)`` on the loop, writes them off it."""

    def __init__(self, store: BarStore, max_pending: int = 200_000) -> None:
        self.store = store
        #: bars waiting for the next flush; beyond it new bars are dropped (and counted): a
        #: disk that stalls must not grow the feeder's memory without bound
        self.max_pending = max_pending
        self.written = 0
        self.dropped = 0
        self._pending: list[tuple[str, Row]] = []
        self._drop_log = RateLimitedLog(log)

    def put(self, symbol: str, row: Row) -> None:
        """Queue one closed (or revised) bar; O(1), never blocks."""
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            self._drop_log.event(
                "bar store behind: %d bars waiting; bar of %s dropped", len(self._pending), symbol
            )
            return
        self._pending.append((symbol, row))

    async def flush(self) -> int:
        """Write everything queued so far in a worker thread; returns how many bars."""
        batch, self._pending = self._pending, []
        if not batch:
            return 0
        written = await asyncio.to_thread(self.store.write_many, batch)
        self.written += written
        return written
