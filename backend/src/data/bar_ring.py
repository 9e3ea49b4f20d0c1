"""A bounded ring of closed 1 m bars in flat float storage, with a rolling volume.

Why not a deque of lists: a bar as a Python list of an int and five floats costs about 250
bytes, so 1500 bars per symbol are ~0.4 MB, and a universe of 2000 symbols ~0.8 GB before any
trade arrives. Here a bar is six doubles (open time, OHLCV) in one ``array('d')`` and a byte
for its synthetic flag: 49 bytes, a fifth of that (the rings are still the largest part of a
2000-symbol feeder's memory, ``docs/BENCHMARKS.md``). Bars are handed out as fresh
``[ts, o, h, l, c, v]`` lists (ccxt's OHLCV row shape), so readers cannot corrupt the ring.

The ring also keeps the rolling 24 h volume: the sum of the volumes of closed bars that opened
within the last 1440 minutes of the newest one, maintained in O(1) per bar. It holds at least
a day of bars for that, even when fewer are visible (``maxlen``).

Two bulk operations keep thousands of symbols cheap: :meth:`BarRing.extend` loads a bootstrap's
history in a few C-level passes instead of one ``append`` per bar, and :meth:`BarRing.truncate`
takes back only the newest bars a REST backfill replaces (the minutes of an outage), so a
merge no longer rebuilds all 1500 bars of the ring.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import chain

from ..errors import UsageError
from ..market_data import MINUTE_MS

DAY_MINUTES = 1440
_FIELDS = 6  # open time, open, high, low, close, volume


class BarRing:
    """The latest ``maxlen`` closed bars (deque-like: ``len``, ``[i]``, iteration, ``append``,
    ``clear``), the synthetic ones flagged, and the rolling 24 h volume of those bars."""

    __slots__ = (
        "_capacity", "_count", "_data", "_floor", "_synthetic", "_window_first", "maxlen", "window_volume",
    )

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise UsageError(f"maxlen must be at least 1, got {maxlen}")
        self.maxlen = maxlen
        self._capacity = max(maxlen, DAY_MINUTES)
        self._data = array("d", bytes(8 * _FIELDS * self._capacity))
        self._synthetic = bytearray(self._capacity)  # 1 for a synthetic bar, by slot
        self._count = 0  # bars appended since the last clear(); the newest is number _count - 1
        self._floor = 0  # number of the oldest bar still stored (older slots were overwritten)
        self._window_first = 0  # number of the oldest bar inside the 24 h window
        #: sum of the volumes of the bars inside the 24 h window
        self.window_volume = 0.0

    def __len__(self) -> int:
        return min(self._count - self._floor, self.maxlen)

    @property
    def capacity(self) -> int:
        """Bars held: ``maxlen``, or a full day when the 24 h volume window needs more."""
        return self._capacity

    def _offset(self, number: int) -> int:
        return (number % self._capacity) * _FIELDS

    def _number(self, index: int) -> int:
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("bar index out of range")
        return self._count - size + index

    def __getitem__(self, index: int) -> list[float]:
        at = self._offset(self._number(index))
        bar: list[float] = self._data[at : at + _FIELDS].tolist()
        bar[0] = int(bar[0])
        return bar

    def __iter__(self) -> Iterator[list[float]]:
        for index in range(len(self)):
            yield self[index]

    def is_synthetic(self, index: int) -> bool:
        return self._synthetic[self._number(index) % self._capacity] != 0

    def newest(self, field: int) -> float:
        """One field of the newest bar (0 open time … 5 volume) without building the bar."""
        if self._count == self._floor:
            raise IndexError("no bar yet")
        return self._data[self._offset(self._count - 1) + field]

    def append(self, bar: Sequence[float], synthetic: bool = False) -> None:
        """Add the newest closed bar (oldest ones fall out) and advance the 24 h window."""
        # leave the window first: the slot about to be overwritten holds a bar a day old
        horizon = bar[0] - (DAY_MINUTES - 1) * MINUTE_MS
        while self._window_first < self._count and self._data[self._offset(self._window_first)] < horizon:
            self.window_volume -= self._data[self._offset(self._window_first) + 5]
            self._window_first += 1
        at = self._offset(self._count)
        self._data[at : at + _FIELDS] = array("d", (bar[0], bar[1], bar[2], bar[3], bar[4], bar[5]))
        self._synthetic[self._count % self._capacity] = synthetic
        self._count += 1
        if self._count - self._floor > self._capacity:
            self._floor = self._count - self._capacity
        self.window_volume += bar[5]

    def extend(self, bars: Sequence[Sequence[float]], synthetic: bool = False) -> None:
        """Append ``bars`` (ascending, each newer than the newest held) as :meth:`append` would.

        Into an empty ring (a bootstrap's history) the bars are copied column by column and
        the 24 h window found by bisection: about a fifth of the time of 1500 appends.
        """
        bars = bars[-self._capacity :]  # older ones would be overwritten (and are out of the window)
        flat = array("d", chain.from_iterable(bars)) if self._count == self._floor else None
        n = len(bars)
        if flat is None or len(flat) != _FIELDS * n or not bars:  # not empty, or rows not OHLCV-wide
            for bar in bars:
                self.append(bar, synthetic)
            return
        self.clear()
        self._data[: _FIELDS * n] = flat
        self._synthetic[:n] = bytes([synthetic]) * n
        self._count = n
        opens = flat[0::_FIELDS]
        self._window_first = bisect_left(opens, opens[-1] - (DAY_MINUTES - 1) * MINUTE_MS)
        self.window_volume = sum(flat[_FIELDS * self._window_first + 5 :: _FIELDS])

    def truncate(self, first_open: int) -> list[tuple[list[float], bool]]:
        """Remove the bars that opened at ``first_open`` or later; returns them, oldest first,
        with their synthetic flags. The 24 h window moves back with the newest bar, taking in
        again the stored bars it had left."""
        data, removed = self._data, []
        while self._count > self._floor and data[self._offset(self._count - 1)] >= first_open:
            self._count -= 1
            at = self._offset(self._count)
            bar: list[float] = data[at : at + _FIELDS].tolist()
            bar[0] = int(bar[0])
            removed.append((bar, self._synthetic[self._count % self._capacity] != 0))
            if self._count >= self._window_first:
                self.window_volume -= bar[5]
        if not removed:
            return removed
        self._window_first = min(self._window_first, self._count)
        if self._count == self._floor:
            self.window_volume = 0.0
        else:
            horizon = self.newest(0) - (DAY_MINUTES - 1) * MINUTE_MS
            while self._window_first > self._floor and data[self._offset(self._window_first - 1)] >= horizon:
                self._window_first -= 1
                self.window_volume += data[self._offset(self._window_first) + 5]
        removed.reverse()
        return removed

    def clear(self) -> None:
        self._count = self._floor = self._window_first = 0
        self.window_volume = 0.0
