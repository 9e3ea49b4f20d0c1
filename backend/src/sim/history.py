"""Lazily generated 1m bar history of one market, held as numpy columns.

Generating the default 3000 minutes for each of 2000 markets up front took about 25 s and
held six million ``Bar`` objects (about 3 GB). Instead a market's history is generated on
first access, deterministically from (seed, symbol), so every access sees the same bars; a
least-recently-used cache shared by all markets keeps the columns of the markets in use and
drops the others, which are regenerated when asked for again. 24 h statistics read suffix
totals that stay valid for an hour of window positions, so polling every ticker does not
keep every history in memory.

Markets without an ``activity`` keep the original pure-Python generator, bar for bar: one
bar every minute, 1-120 trades each. Markets with an activity (trades per second) use a
vectorised generator: Poisson trade counts per minute, no bar for a minute without trades
(as live, where only trades make bars), and a random walk whose step grows with the gap
between traded minutes.
"""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .intervals import HOUR_MS, MINUTE_MS

Row = tuple[int, int, int, int, int, int, int, int]  # a Bar's fields, in Bar's order
_INT64_SAFE = 2**62


@dataclass(frozen=True, slots=True)
class Totals:
    """Aggregate of a run of 1m bars: the first open, the extremes and the sums."""

    open_ms: int
    open: int
    high: int
    low: int
    volume: int
    quote: int
    trades: int

    def merge(self, other: Totals | None) -> Totals:
        """Totals of both runs; the open is the earlier run's."""
        if other is None:
            return self
        first = self if self.open_ms <= other.open_ms else other
        return Totals(
            first.open_ms,
            first.open,
            max(self.high, other.high),
            min(self.low, other.low),
            self.volume + other.volume,
            self.quote + other.quote,
            self.trades + other.trades,
        )


@dataclass(frozen=True, slots=True)
class HistorySpec:
    """Everything a history is generated from, captured when the market is created
    (the live mid moves on, the history must not)."""

    symbol: str
    seed: int
    first_ms: int  # first minute that may have a bar
    end_ms: int  # the minute the live market starts in (exclusive)
    start_mid: int  # ticks; the history's last close
    typical_lots: int  # one typical trade
    volatility: float  # relative sd of one 1m return
    activity: float | None  # trades per second; None: the original generator

    @property
    def minutes(self) -> int:
        return max(0, (self.end_ms - self.first_ms) // MINUTE_MS)


@dataclass(frozen=True)
class Columns:
    """Bars as parallel arrays, ascending by open time (int64, or object past int64)."""

    open_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote: np.ndarray
    trades: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[Row]) -> Columns:
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(fields(cls))
        return cls(*(_int_array(c) for c in columns))

    def __len__(self) -> int:
        return len(self.open_ms)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def rows(self, lo: int, hi: int) -> list[Row]:
        return list(zip(*(a[lo:hi].tolist() for a in self.arrays()), strict=True))

    def without(self, minutes: set[int]) -> Columns:
        keep = ~np.isin(self.open_ms, list(minutes))
        return Columns(*(a[keep] for a in self.arrays()))


def _int_array(values: Any) -> np.ndarray:
    """int64 where the values fit (always, for sane decimals), else exact Python ints."""
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return np.array(values, dtype=object)


def generate(spec: HistorySpec) -> Columns:
    if spec.activity is None:
        return _every_minute_history(spec)
    return _activity_history(spec)


def _every_minute_history(spec: HistorySpec) -> Columns:
    """The original generator (kept call for call, so existing seeds give the same bars)."""
    rng = random.Random(f"{spec.seed}:{spec.symbol}:history")
    n = spec.minutes
    sigma = spec.volatility
    returns = [rng.gauss(0.0, sigma) for _ in range(n)]
    closes = [0.0] * n
    price = float(spec.start_mid)
    for k in range(n - 1, -1, -1):  # walk backwards so the last close is the start price
        closes[k] = price
        price /= math.exp(returns[k])
    prev = price
    rows: list[Row] = []
    for k in range(n):
        o, c = max(1, round(prev)), max(1, round(closes[k]))
        wick = abs(rng.gauss(0.0, sigma / 2)) * c
        h = max(o, c) + round(wick * rng.random())
        lo = max(1, min(o, c) - round(wick * rng.random()))
        count = rng.randint(1, 120)
        vol = max(1, round(spec.typical_lots * count * rng.lognormvariate(0.0, 0.5)))
        rows.append((spec.first_ms + k * MINUTE_MS, o, h, lo, c, vol, vol * ((o + c) // 2), count))
        prev = closes[k]
    return Columns.from_rows(rows)


def _activity_history(spec: HistorySpec) -> Columns:
    """Poisson trades per minute at ``activity``/s; bars only for minutes that traded.

    A one-trade minute is flat (open = high = low = close); otherwise the open is the
    previous close and the wicks are drawn like the original generator's.
    """
    key = hashlib.sha256(f"{spec.seed}:{spec.symbol}:history".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(key, "big"))
    counts = rng.poisson((spec.activity or 0.0) * 60.0, spec.minutes)
    traded = np.flatnonzero(counts)
    if len(traded) == 0:
        return Columns.from_rows([])
    counts = counts[traded]
    m = len(traded)
    gaps = np.diff(traded, prepend=traded[0] - 1)  # minutes since the previous traded minute
    steps = rng.normal(0.0, spec.volatility, m) * np.sqrt(gaps)
    after = np.concatenate((np.cumsum(steps[::-1])[::-1][1:], [0.0]))  # log-return to the end
    close = np.maximum(1, np.rint(spec.start_mid * np.exp(-after))).astype(np.int64)
    first_open = max(1, round(spec.start_mid * math.exp(-(after[0] + steps[0]))))
    single = counts == 1
    open_ = np.where(single, close, np.concatenate(([first_open], close[:-1])))
    wick = np.abs(rng.normal(0.0, spec.volatility / 2, m)) * close
    up, down = rng.random((2, m))
    high = np.where(single, close, np.maximum(open_, close) + np.rint(wick * up).astype(np.int64))
    low = np.where(
        single, close, np.maximum(1, np.minimum(open_, close) - np.rint(wick * down).astype(np.int64))
    )
    volume = np.maximum(1, np.rint(spec.typical_lots * counts * rng.lognormal(0.0, 0.5, m))).astype(np.int64)
    mid = (open_ + close) // 2
    if float(volume.max()) * float(mid.max()) >= _INT64_SAFE:  # extreme decimals: stay exact
        quote = volume.astype(object) * mid.astype(object)
    else:
        quote = volume * mid
    open_ms = spec.first_ms + traded.astype(np.int64) * MINUTE_MS
    return Columns(open_ms, open_, high, low, close, volume, quote, counts.astype(np.int64))


def _suffix_extremes(a: np.ndarray, j0: int, k: int, op: np.ufunc) -> list[int]:
    """``op`` (maximum/minimum) of ``a[j:]`` for j in ``j0..j0+k-1``."""
    head = op.accumulate(a[j0 : j0 + k][::-1])[::-1]
    rest = a[j0 + k :]
    return (op(head, op.reduce(rest)) if len(rest) else head).tolist()


def _suffix_sums(a: np.ndarray, j0: int, k: int) -> list[int]:
    """``sum(a[j:])`` for j in ``j0..j0+k-1``, in Python ints where int64 could overflow."""
    tail = a[j0:]
    if tail.dtype == object or float(tail.max()) * len(tail) >= _INT64_SAFE:
        tail = tail.astype(object)
    before = np.concatenate((np.zeros(1, dtype=tail.dtype), np.cumsum(tail[: k - 1])))
    return (tail.sum() - before).tolist()


@dataclass(frozen=True)
class _Suffixes:
    """Totals from each bar to the end of history, for window starts in ``[lo_ms, hi_ms)``
    (the bars opening in that hour, plus the first one after it)."""

    lo_ms: int
    hi_ms: int
    columns: tuple[list[int], ...]  # open_ms, open, high, low, volume, quote, trades

    @classmethod
    def build(cls, cols: Columns, lo_ms: int, hi_ms: int) -> _Suffixes:
        j0 = int(np.searchsorted(cols.open_ms, lo_ms))
        k = min(int(np.searchsorted(cols.open_ms, hi_ms)) + 1, len(cols)) - j0
        if k <= 0:
            return cls(lo_ms, hi_ms, ([],) * 7)
        return cls(
            lo_ms,
            hi_ms,
            (
                cols.open_ms[j0 : j0 + k].tolist(),
                cols.open[j0 : j0 + k].tolist(),
                _suffix_extremes(cols.high, j0, k, np.maximum),
                _suffix_extremes(cols.low, j0, k, np.minimum),
                _suffix_sums(cols.volume, j0, k),
                _suffix_sums(cols.quote, j0, k),
                _suffix_sums(cols.trades, j0, k),
            ),
        )

    def at(self, start_ms: int) -> Totals | None:
        opens_ms = self.columns[0]
        i = bisect_left(opens_ms, start_ms)
        return Totals(*(c[i] for c in self.columns)) if i < len(opens_ms) else None


class History:
    """One market's generated bars in ``[first_ms, end_ms)``, minus hidden minutes.

    Minutes are hidden when a fault omits them or when a live trade lands in them (after
    a backwards clock skew) and the live store takes the bar over.
    """

    def __init__(self, spec: HistorySpec, cache: HistoryCache) -> None:
        self.spec = spec
        self._cache = cache
        self._columns: Columns | None = None
        self._hidden: set[int] = set()
        self._suffixes: _Suffixes | None = None

    @property
    def end_ms(self) -> int:
        return self.spec.end_ms

    def covers(self, minute_ms: int) -> bool:
        return self.spec.first_ms <= minute_ms < self.spec.end_ms

    def columns(self) -> Columns:
        """The bars, generated now if they were never generated or were evicted."""
        cols = self._columns
        if cols is None:
            cols = generate(self.spec)
            if self._hidden:
                cols = cols.without(self._hidden)
            self._columns = cols
        self._cache.touch(self)
        return cols

    def evict(self) -> None:
        self._columns = None

    def bar_count(self) -> int:
        return len(self.columns()) if self.spec.minutes else 0

    def hide(self, minute_ms: int) -> None:
        if not self.covers(minute_ms) or minute_ms in self._hidden:
            return
        self._hidden.add(minute_ms)
        self._suffixes = None
        if self._columns is not None:
            self._columns = self._columns.without({minute_ms})

    def row(self, minute_ms: int) -> Row | None:
        """The bar of one minute; generates nothing for minutes outside the history."""
        if not self.covers(minute_ms) or minute_ms in self._hidden:
            return None
        cols = self.columns()
        i = int(np.searchsorted(cols.open_ms, minute_ms))
        if i < len(cols) and int(cols.open_ms[i]) == minute_ms:
            return cols.rows(i, i + 1)[0]
        return None

    def take(self, minute_ms: int) -> Row | None:
        """Hand a minute's bar over to the live store (which folds trades into it)."""
        row = self.row(minute_ms)
        self.hide(minute_ms)
        return row

    def rows(self, start_ms: int, end_ms: int) -> list[Row]:
        """Bars with ``start_ms <= open < end_ms``, ascending."""
        if end_ms <= self.spec.first_ms or start_ms >= self.spec.end_ms or not self.spec.minutes:
            return []
        cols = self.columns()
        lo, hi = np.searchsorted(cols.open_ms, (start_ms, end_ms))
        return cols.rows(int(lo), int(hi))

    def totals(self, start_ms: int) -> Totals | None:
        """Totals of the bars opening at or after ``start_ms`` (None: there are none)."""
        if start_ms >= self.spec.end_ms or not self.spec.minutes:
            return None
        s = self._suffixes
        if s is None or not s.lo_ms <= start_ms < s.hi_ms:
            s = self._suffixes = _Suffixes.build(self.columns(), start_ms, start_ms + HOUR_MS)
        return s.at(start_ms)


class HistoryCache:
    """Keeps the columns of the ``capacity`` most recently used histories in memory."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lru: OrderedDict[History, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._lru)

    def touch(self, history: History) -> None:
        lru = self._lru
        if history in lru:
            lru.move_to_end(history)
            return
        lru[history] = None
        while len(lru) > self.capacity:
            lru.popitem(last=False)[0].evict()
