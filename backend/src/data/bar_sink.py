"""The feeder's side of the bar store: history in at bootstrap, closed bars out, off the loop.

Why between the feeder and :class:`~backend.src.data.bar_store.BarStore`: the feeder's
``BarFeed`` finds closed bars on the event loop, where a disk write would stall every
symbol's md. :meth:`BarSink.put` only queues bars with the writer; :meth:`BarSink.flush`
(once per sweep) writes the queue in a worker thread. Revisions from a backfill are put like
any bar, so the store keeps the exchange's version.

Why a warm start does not write its history back: the writer's thread competes with the
event loop for the GIL (measured: rx→md p95 +18 % while a cold start writes 150,000 history
bars, ``benchmarks/bench_warm_start.py loop``), and a warm start's history is the store's own
bars but for the last minutes. So of a symbol's bootstrap history only the bars the store does
not hold as they are (what REST added or corrected) are written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .bar_store import BarStore, Row
from .bar_writer import BarWriter


class BarSink:
    """Keeps one data directory's store in step with the feeder's closed bars."""

    def __init__(self, store: BarStore) -> None:
        self.store = store
        self.writer = BarWriter(store)
        #: symbol → the rows :meth:`history` read, until its bootstrap history is put
        self._read: dict[str, set[Row]] = {}

    def history(self, symbol: str, limit: int) -> list[list[float]]:
        """The newest ``limit`` stored bars of ``symbol`` as ``[ms, o, h, l, c, v]``, oldest first."""
        rows = self.store.last(symbol, limit)
        self._read[symbol] = set(rows)
        return [[ts, o, h, low, c, v] for ts, o, h, low, c, v, _syn in rows]

    def put(
        self, symbol: str, bars: Iterable[tuple[Sequence[float], bool]], *, history: bool = False
    ) -> None:
        """Queue closed (or revised) bars ``([ms, o, h, l, c, v], synthetic)``; never blocks. Of
        a bootstrap ``history``, the bars the store gave it unchanged are left out."""
        stored = self._read.pop(symbol, set()) if history else set()
        for row, synthetic in bars:
            record = (int(row[0]), row[1], row[2], row[3], row[4], row[5], synthetic)
            if record not in stored:
                self.writer.put(symbol, record)

    async def room(self, bars: int) -> None:
        """Wait until ``bars`` more fit in the writer's queue (see ``BarWriter.room``)."""
        await self.writer.room(bars)

    async def flush(self) -> None:
        """Write what is queued, in a worker thread."""
        await self.writer.flush()

    def close(self) -> None:
        self.store.close()
