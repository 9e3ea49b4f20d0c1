"""Per-symbol market state and its mapping to the engine's md dict.

Pure and synchronous: stream records (from ``MexcAdapter``) go in through ``apply_*``, md dicts
come out of :meth:`SymbolState.to_md`. The md schema is
:class:`backend.src.market_data.MarketData` (defined there once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..market_data import BookRecord, MarketData, SwapRecord, TradeRecord
from .live_bars import LiveBars


@dataclass(slots=True)
class SymbolState:
    """Everything known about one symbol; updated in place by stream records."""

    symbol: str
    bars: LiveBars = field(default_factory=LiveBars)
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    ts: int | None = None
    funding: float | None = None
    oi: float | None = None
    funding_ts: int | None = None
    oi_ts: int | None = None
    stale: bool = False
    _book_ts: int | None = None

    def apply_ticker(self, rec: BookRecord) -> bool:
        """A book-ticker record ``{ts, bid, ask, ...}``; False (not applied) when it is older
        than the book we already have — a replayed or out-of-order push must not roll the
        book back."""
        ts = rec["ts"]
        if self._book_ts is not None and ts < self._book_ts:
            return False
        self._book_ts = ts
        self.bid, self.ask = rec["bid"], rec["ask"]
        if self.ts is None or ts > self.ts:
            self.ts = ts
        return True

    def apply_trades(self, trades: Sequence[TradeRecord]) -> bool:
        """Trade records ``{ts, price, amount, side}``, oldest first.

        Runs once per trade push (the feeder's hot path): ``last`` and ``ts`` are folded in
        locals and stored once per batch, with the same result as per trade.
        """
        add_trade = self.bars.add_trade
        last, newest = self.last, self.ts
        for t in trades:
            ts, last = t["ts"], t["price"]
            add_trade(ts, last, t["amount"])
            if newest is None or ts > newest:
                newest = ts
        self.last, self.ts = last, newest
        return True

    def apply_swap(self, rec: SwapRecord) -> bool:
        """A perpetual record ``{ts, funding, oi, ...}``; ``None`` fields keep the old value,
        and so does a figure older than the one we have (an out-of-order push)."""
        ts = rec["ts"]
        if rec.get("funding") is not None and (self.funding_ts is None or ts >= self.funding_ts):
            self.funding, self.funding_ts = rec["funding"], ts
        if rec.get("oi") is not None and (self.oi_ts is None or ts >= self.oi_ts):
            self.oi, self.oi_ts = rec["oi"], ts
        return True

    @property
    def price(self) -> float | None:
        return self.last if self.last is not None else self.bars.last_close

    def ready(self) -> bool:
        """An md may be emitted once there is a price and a two-sided book."""
        return self.bid is not None and self.ask is not None and self.price is not None

    def to_md(self, texts: list[str]) -> MarketData:
        """The md dict for the engine (:class:`~backend.src.market_data.MarketData`)."""
        bid, ask = self.bid, self.ask
        return {
            "symbol": self.symbol,
            "ts": self.ts,
            "price": self.price,
            "bid": bid,
            "ask": ask,
            "spread": ask - bid if bid is not None and ask is not None else None,
            "vol": self.bars.rolling_volume(),
            "texts": texts,
            "funding": self.funding,
            "oi": self.oi,
            "funding_ts": self.funding_ts,
            "oi_ts": self.oi_ts,
            "stale": self.stale,
        }
