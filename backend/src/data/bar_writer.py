"""Closed bars to the bar store without touching the event loop's latency.

Why a writer between the feeder and :class:`~backend.src.data.bar_store.BarStore`: bars close
on the event loop (inside the trade stream's handling), and a disk write there would stall
every symbol's md. :meth:`BarWriter.put` only appends to a list; :meth:`BarWriter.flush`
(called once a second by the feeder's ``BarFeed`` sweep) writes it in a worker thread, all symbols
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
        #: set once a quarter of ``max_pending`` waits: many symbols' histories at once (a cold
        #: start) must be written as they come, not a second later, or the queue overflows
        self.behind = asyncio.Event()
        #: set whenever a flush takes the queue (see :meth:`room`)
        self._taken = asyncio.Event()
        #: the write running in a worker thread, if any
        self._writing: asyncio.Future[int] | None = None
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
        if len(self._pending) >= self.max_pending // 4:
            self.behind.set()

    async def room(self, bars: int) -> None:
        """Wait until ``bars`` more fit in the queue. Why: a symbol's bootstrap history is put
        all at once, and a cold start of many symbols against a fast exchange queues them
        faster than a disk writes; a bootstrap can wait (it is no symbol's md path), while a
        dropped history bar would make the next start of its symbol a cold one."""
        while len(self._pending) + bars > self.max_pending:
            self.behind.set()
            self._taken.clear()
            await self._taken.wait()

    async def flush(self) -> int:
        """Write everything queued so far in a worker thread; returns how many bars.

        A flush cancelled while its thread writes (the feeder stopping mid-flush) cannot stop
        that thread: the write goes on, and the next flush waits for it before anything else,
        so the feeder's last flush ends only when every queued bar is in the store and the
        store is never closed under a write."""
        written = await self._finish() if self._writing is not None else 0
        batch, self._pending = self._pending, []
        self.behind.clear()
        self._taken.set()
        if batch:
            self._writing = asyncio.ensure_future(asyncio.to_thread(self.store.write_many, batch))
            self._writing.add_done_callback(self._count)
            written += await self._finish()
        return written

    async def _finish(self) -> int:
        """The write in flight's count, once it is done (shielded: see :meth:`flush`)."""
        writing = self._writing
        assert writing is not None
        try:
            return await asyncio.shield(writing)
        finally:
            if writing.done():
                self._writing = None

    def _count(self, writing: asyncio.Future[int]) -> None:
        if not writing.cancelled() and writing.exception() is None:
            self.written += writing.result()
