"""Live 1-minute bars per symbol: bootstrap history plus bars built from the trade stream.

Pure and synchronous (no clock, no I/O): time only enters through trade timestamps, which are
the exchange's. Bars are ``[open_ms, o, h, l, c, v]`` lists like ccxt's OHLCV rows.

It also answers the md's ``vol`` — the rolling 24 h base volume — exactly and in O(1) per
trade: the sum of the volumes of the last 1440 closed bars plus the forming one, kept as a
running total. MEXC's spot book ticker carries no volume, and polling REST for it per symbol
would cost requests; the bars are already here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .bar_ring import DAY_MINUTES, MINUTE_MS, BarRing

__all__ = ["DAY_MINUTES", "MINUTE_MS", "LiveBars"]


class LiveBars:
    """Closed bars (bounded), the forming bar, and a rolling 24 h volume."""

    __slots__ = ("closed", "forming")

    def __init__(self, history: Iterable[Sequence[float]] = (), max_bars: int = 1500) -> None:
        #: closed bars, oldest first, compact (see ``bar_ring``); each read is a fresh list
        self.closed = BarRing(max_bars)
        self.forming: list[float] | None = None
        self.closed.extend(list(history))

    @property
    def last_close(self) -> float | None:
        """The latest price these bars know: forming bar's close, else the last closed one's."""
        if self.forming is not None:
            return self.forming[4]
        return self.closed.newest(4) if self.closed else None

    @property
    def last_closed_open(self) -> int | None:
        return int(self.closed.newest(0)) if self.closed else None

    @property
    def synthetic(self) -> set[int]:
        """Open times of the closed bars that were forward-filled rather than traded."""
        return {int(bar[0]) for i, bar in enumerate(self.closed) if self.closed.is_synthetic(i)}

    def rolling_volume(self) -> float:
        """Base volume of the last 24 h of bars (1440 closed bars + the forming one)."""
        forming = self.forming[5] if self.forming is not None else 0.0
        return self.closed.window_volume + forming

    def add_trade(self, ts_ms: int, price: float, amount: float) -> list[list[float]]:
        """Fold one trade in; returns the bars this trade closed (usually none).

        A trade for a later minute closes the forming bar; minutes between them with no trade
        get synthetic bars (close carried forward, volume 0) — the exchange has no trades for
        them either. A trade older than the forming bar (late delivery after a reconnect) is
        ignored for bars because that minute is already closed; REST backfill owns it.
        """
        minute = ts_ms // MINUTE_MS * MINUTE_MS
        bar = self.forming
        if bar is not None and minute == bar[0]:  # the common case, once per trade: keep it lean
            if price > bar[2]:
                bar[2] = price
            if price < bar[3]:
                bar[3] = price
            bar[4] = price
            bar[5] += amount
            return []
        closed: list[list[float]] = []
        if bar is None:
            last = self.last_closed_open
            if last is not None and minute <= last:
                return closed
            closed += self._fill_until(minute)
            self.forming = [minute, price, price, price, price, amount]
            return closed
        if minute < bar[0]:
            return closed
        self.forming = None
        self._close(bar)
        closed.append(bar)
        closed += self._fill_until(minute)
        self.forming = [minute, price, price, price, price, amount]
        return closed

    def close_until(self, minute: int) -> None:
        """Close every bar that opened before ``minute``: the exchange clock has passed them,
        traded or not. The forming bar closes as it is; the minutes after it get synthetic bars,
        as a trade in ``minute`` would have made them. Called by the feeder's once-a-second bar
        sweep, never per trade: a symbol whose trades keep coming has closed its bars already
        and returns at once."""
        bar = self.forming
        if bar is not None:
            if bar[0] >= minute:
                return
            self.forming = None
            self._close(bar)
        self._fill_until(minute)

    def merge_exchange_bars(self, bars: Sequence[Sequence[float]], first: int, last: int) -> int:
        """Make the exchange's closed bars authoritative for minutes ``first..last``.

        Used after a reconnect: bars built from an incomplete trade stream (or forward-filled
        over an outage) are replaced by the exchange's; minutes the exchange has no bar for are
        forward-filled and flagged synthetic. Returns how many bars changed.
        """
        by_ts = {int(b[0]): [int(b[0]), *map(float, b[1:6])] for b in bars if first <= int(b[0]) <= last}
        # only the bars from ``first`` on leave the ring (usually an outage's few minutes)
        replaced = self.closed.truncate(first)
        after = [(b, syn) for b, syn in replaced if b[0] > last]
        old = {int(b[0]): b for b, _ in replaced if b[0] <= last}
        changed = 0
        prev_close = self.closed.newest(4) if self.closed else None
        for ts in range(first, last + MINUTE_MS, MINUTE_MS):
            bar = by_ts.get(ts)
            synthetic = bar is None
            if bar is None:
                if prev_close is None:
                    continue
                bar = [ts, prev_close, prev_close, prev_close, prev_close, 0.0]
            changed += old.get(ts) != bar
            self._close(bar, synthetic)
            prev_close = bar[4]
        for bar, syn in after:
            self._close(bar, syn)
        return changed

    def _fill_until(self, minute: int) -> list[list[float]]:
        """Synthetic bars for the minutes after the last closed bar and before ``minute``."""
        out: list[list[float]] = []
        if not self.closed:
            return out
        c = self.closed.newest(4)
        # Bounded by the ring: older fills would be evicted again by the newer ones, so a trade
        # far ahead of the last bar costs at most ``capacity`` bars, never one per minute.
        start = max(int(self.closed.newest(0)) + MINUTE_MS, minute - self.closed.capacity * MINUTE_MS)
        for ts in range(start, minute, MINUTE_MS):
            bar = [ts, c, c, c, c, 0.0]
            self._close(bar, synthetic=True)
            out.append(bar)
        return out

    def _close(self, bar: Sequence[float], synthetic: bool = False) -> None:
        self.closed.append(bar, synthetic)
