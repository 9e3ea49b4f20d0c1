"""Trades, 1m bars and the bar store: generated history below the start minute, live bars
folded from the streamed trades above it.

Prices are integer ticks and quantities integer lots, so the bar a REST client reads after
a minute closes is exactly the bar the streamed trades of that minute make.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

from .history import History, Totals
from .intervals import ONE_MINUTE, Interval

BUY = 1  # MEXC tradeType: 1 buy (taker bought), 2 sell
SELL = 2


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade; price in ticks, qty in lots, side BUY/SELL."""

    ts: int
    price: int
    qty: int
    side: int


@dataclass(slots=True)
class Bar:
    """OHLCV in ticks/lots; ``quote`` is sum(price*qty) in ticks*lots, ``trades`` a count."""

    open_ms: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote: int
    trades: int

    @classmethod
    def from_trade(cls, open_ms: int, trade: Trade) -> Bar:
        p = trade.price
        return cls(open_ms, p, p, p, p, trade.qty, p * trade.qty, 1)

    def fold(self, trade: Trade) -> None:
        """Add one trade; the open stays the minute's first trade."""
        self.high = max(self.high, trade.price)
        self.low = min(self.low, trade.price)
        self.close = trade.price
        self.volume += trade.qty
        self.quote += trade.price * trade.qty
        self.trades += 1

    def copy(self) -> Bar:
        return Bar(
            self.open_ms, self.open, self.high, self.low, self.close, self.volume, self.quote, self.trades
        )

    def totals(self) -> Totals:
        return Totals(self.open_ms, self.open, self.high, self.low, self.volume, self.quote, self.trades)


def aggregate(bars: list[Bar], interval: Interval) -> list[Bar]:
    """Merge ascending 1m bars into ``interval`` bars (MEXC builds higher timeframes so)."""
    out: list[Bar] = []
    for bar in bars:
        bucket = interval.floor(bar.open_ms)
        if out and out[-1].open_ms == bucket:
            agg = out[-1]
            agg.high = max(agg.high, bar.high)
            agg.low = min(agg.low, bar.low)
            agg.close = bar.close
            agg.volume += bar.volume
            agg.quote += bar.quote
            agg.trades += bar.trades
        else:
            first = bar.copy()
            first.open_ms = bucket
            out.append(first)
    return out


def _sum(bars: Iterable[Bar], start: Totals | None) -> Totals | None:
    totals = start
    for bar in bars:
        totals = bar.totals().merge(totals)
    return totals


class BarStore:
    """1m bars keyed by open time, plus minutes deliberately left out ("missing bars").

    Minutes before ``history.end_ms`` come from the lazily generated history; live bars are
    folded from trades. A live bar for a history minute (a trade after a backwards clock
    skew) takes that minute over. History bars are handed out as fresh objects.
    """

    def __init__(self, history: History | None = None) -> None:
        self.history = history
        self._bars: dict[int, Bar] = {}
        self._keys: list[int] = []
        self.omitted: set[int] = set()
        # (start, split, totals of the live bars in [start, split) plus history from start)
        self._closed: tuple[int, int, Totals | None] | None = None

    def __len__(self) -> int:
        return len(self._keys) + (self.history.bar_count() if self.history is not None else 0)

    def fold(self, trade: Trade) -> Bar | None:
        """Fold a trade into its minute; None when that minute is omitted."""
        minute = ONE_MINUTE.floor(trade.ts)
        if minute in self.omitted:
            return None
        bar = self._bars.get(minute)
        if bar is None:
            row = self.history.take(minute) if self.history is not None else None
            if row is None:
                bar = Bar.from_trade(minute, trade)
            else:
                bar = Bar(*row)
                bar.fold(trade)
            self._bars[minute] = bar
            bisect.insort(self._keys, minute)
        else:
            bar.fold(trade)
        if self._closed is not None and minute < self._closed[1]:
            self._closed = None
        return bar

    def omit(self, minute_ms: int) -> None:
        """Remove a minute now and keep it out when later trades arrive."""
        minute = ONE_MINUTE.floor(minute_ms)
        self.omitted.add(minute)
        if self._bars.pop(minute, None) is not None:
            self._keys.remove(minute)
        if self.history is not None:
            self.history.hide(minute)
        self._closed = None

    def get(self, minute_ms: int) -> Bar | None:
        minute = ONE_MINUTE.floor(minute_ms)
        bar = self._bars.get(minute)
        if bar is None and self.history is not None and minute not in self.omitted:
            row = self.history.row(minute)
            bar = Bar(*row) if row is not None else None
        return bar

    def between(self, start_ms: int, end_ms: int) -> list[Bar]:
        """1m bars with ``start_ms <= open < end_ms``, ascending."""
        lo = bisect.bisect_left(self._keys, start_ms)
        hi = bisect.bisect_left(self._keys, end_ms)
        live = [self._bars[k] for k in self._keys[lo:hi]]
        if self.history is None:
            return live
        past = [Bar(*row) for row in self.history.rows(start_ms, end_ms)]
        if past and live and live[0].open_ms < past[-1].open_ms:  # live bars took history minutes
            return sorted(past + live, key=attrgetter("open_ms"))
        return past + live

    def totals(self, start_ms: int, split_ms: int) -> Totals | None:
        """Totals of the bars opening at or after ``start_ms`` (what a 24 h ticker shows).

        Everything before ``split_ms`` (the closed minutes) is cached until a trade or an
        omission changes one of those minutes, so polling tickers every second stays cheap;
        bars from ``split_ms`` on (the forming minute) are added fresh.
        """
        closed = self._closed
        if closed is None or closed[0] != start_ms or closed[1] != split_ms:
            lo = bisect.bisect_left(self._keys, start_ms)
            hi = bisect.bisect_left(self._keys, split_ms)
            past = self.history.totals(start_ms) if self.history is not None else None
            closed = self._closed = (
                start_ms,
                split_ms,
                _sum((self._bars[k] for k in self._keys[lo:hi]), past),
            )
        lo = bisect.bisect_left(self._keys, max(start_ms, split_ms))
        return _sum((self._bars[k] for k in self._keys[lo:]), closed[2])
