"""A bounded ring of closed 1 m bars in flat float storage, with a rolling volume.

Why not a deque of lists: a bar as a Python list of an int and five floats costs about 250
bytes, so 1500 bars per symbol are ~0.4 MB, and a universe of 2000 symbols ~0.8 GB before any
trade arrives. Here a bar is seven doubles (open time, OHLCV, a synthetic flag) in one
``array('d')``: 56 bytes, a fifth of that. Bars are handed out as fresh ``[ts, o, h, l, c, v]``
lists (ccxt's OHLCV row shape), so readers cannot corrupt the ring.

The ring also keeps the rolling 24 h volume: the sum of the volumes of closed bars that opened
within the last 1440 minutes of the newest one, maintained in O(1) per bar. It holds at least
a day of bars for that, even when fewer are visible (``maxlen``).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence

from ..errors import UsageError
from ..market_data import MINUTE_MS

DAY_MINUTES = 1440
_FIELDS = 7  # open time, open, high, low, close, volume, synthetic (0.0 / 1.0)


class BarRing:
    """The latest ``maxlen`` closed bars (deque-like: ``len``, ``[i]``, iteration, ``append``,
    ``clear``), the synthetic ones flagged, and the rolling 24 h volume of those bars."""

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise UsageError(f"maxlen must be at least 1, got {maxlen}")
        self.maxlen = maxlen
        self._capacity = max(maxlen, DAY_MINUTES)
        self._data = array("d", bytes(8 * _FIELDS * self._capacity))
        self._count = 0  # bars appended since the last clear(); the newest is number _count - 1
        self._window_first = 0  # number of the oldest bar inside the 24 h window
        #: sum of the volumes of the bars inside the 24 h window
        self.window_volume = 0.0

    def __len__(self) -> int:
        return min(self._count, self.maxlen)

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
        bar: list[float] = self._data[at : at + 6].tolist()
        bar[0] = int(bar[0])
        return bar

    def __iter__(self) -> Iterator[list[float]]:
        for index in range(len(self)):
            yield self[index]

    def is_synthetic(self, index: int) -> bool:
        return self._data[self._offset(self._number(index)) + 6] != 0.0

    def newest(self, field: int) -> float:
        """One field of the newest bar (0 open time … 5 volume) without building the bar."""
        if not self._count:
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
        self._data[at : at + _FIELDS] = array(
            "d", (bar[0], bar[1], bar[2], bar[3], bar[4], bar[5], 1.0 if synthetic else 0.0)
        )
        self._count += 1
        self.window_volume += bar[5]

    def clear(self) -> None:
        self._count = self._window_first = 0
        self.window_volume = 0.0
