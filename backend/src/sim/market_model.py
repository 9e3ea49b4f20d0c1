"""Seeded market model: random-walk prices, trades, a 1m bar store and an order book.

Everything is integer ticks (price) and lots (quantity) so that the bar a REST client reads
after a minute closes is *exactly* the bar the streamed trades of that minute make — no
float drift between the two paths. Nothing here does I/O; the server drives ``step()`` and
turns the returned events into wire frames.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from dataclasses import dataclass, field

from .clock import SimClock
from .intervals import MINUTE_MS, ONE_MINUTE, Interval

BUY = 1  # MEXC tradeType: 1 buy (taker bought), 2 sell
SELL = 2
_FOREVER_MS = 2**62


@dataclass(frozen=True)
class SimMarket:
    """One spot market, optionally with a USDT perpetual on the same base.

    ``listing_minutes_ago`` limits history: no bars exist before the listing time.
    ``active=False`` models a delisted/suspended pair: listed with status "2", no live trades.
    """

    symbol: str
    price: float
    has_perp: bool = True
    contract_size: float = 0.0001
    active: bool = True
    price_decimals: int = 2
    qty_decimals: int = 6
    listing_minutes_ago: int | None = None

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]

    @property
    def spot_id(self) -> str:
        """MEXC spot id, e.g. ``BTCUSDT``."""
        return self.base + self.quote

    @property
    def perp_id(self) -> str:
        """MEXC contract id, e.g. ``BTC_USDT``."""
        return f"{self.base}_{self.quote}"

    @property
    def perp_symbol(self) -> str:
        """ccxt's unified perpetual symbol, e.g. ``BTC/USDT:USDT``."""
        return f"{self.symbol}:{self.quote}"


DEFAULT_MARKETS: tuple[SimMarket, ...] = (
    SimMarket("BTC/USDT", 60000.0, contract_size=0.0001),
    SimMarket("ETH/USDT", 3000.0, contract_size=0.01, qty_decimals=5),
    SimMarket("DOGE/USDT", 0.15, has_perp=False, price_decimals=5, qty_decimals=2),
    SimMarket("OLD/USDT", 1.0, has_perp=False, active=False, price_decimals=4, qty_decimals=2),
)


@dataclass
class ModelConfig:
    """Knobs of the random walk; defaults look roughly like a liquid MEXC pair."""

    history_minutes: int = 3000
    history_volatility: float = 0.0015  # relative sd of one historical 1m return
    volatility: float = 0.0002  # relative sd of the live walk per sqrt(second)
    quiet_probability: float = 0.2  # chance that a push interval carries no trade
    max_trades_per_push: int = 5
    trade_notional: float = 500.0  # typical trade size in quote currency
    spread_bps: float = 1.0
    book_levels: int = 20
    book_churn: float = 0.3  # share of book levels whose size changes per push
    recent_trades: int = 1000


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


class BarStore:
    """1m bars keyed by open time, plus minutes deliberately left out ("missing bars")."""

    def __init__(self) -> None:
        self._bars: dict[int, Bar] = {}
        self._keys: list[int] = []
        self.omitted: set[int] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def put(self, bar: Bar) -> None:
        if bar.open_ms in self.omitted:
            return
        if bar.open_ms not in self._bars:
            bisect.insort(self._keys, bar.open_ms)
        self._bars[bar.open_ms] = bar

    def fold(self, trade: Trade) -> Bar | None:
        """Fold a trade into its minute; None when that minute is omitted."""
        minute = ONE_MINUTE.floor(trade.ts)
        if minute in self.omitted:
            return None
        bar = self._bars.get(minute)
        if bar is None:
            bar = Bar.from_trade(minute, trade)
            self.put(bar)
        else:
            bar.fold(trade)
        return bar

    def omit(self, minute_ms: int) -> None:
        """Remove a minute now and keep it out when later trades arrive."""
        minute = ONE_MINUTE.floor(minute_ms)
        self.omitted.add(minute)
        if self._bars.pop(minute, None) is not None:
            self._keys.remove(minute)

    def get(self, minute_ms: int) -> Bar | None:
        return self._bars.get(ONE_MINUTE.floor(minute_ms))

    def between(self, start_ms: int, end_ms: int) -> list[Bar]:
        """1m bars with ``start_ms <= open < end_ms``, ascending."""
        lo = bisect.bisect_left(self._keys, start_ms)
        hi = bisect.bisect_left(self._keys, end_ms)
        return [self._bars[k] for k in self._keys[lo:hi]]

    def first_open(self) -> int | None:
        return self._keys[0] if self._keys else None


@dataclass(frozen=True, slots=True)
class BookTicker:
    bid: int
    bid_qty: int
    ask: int
    ask_qty: int


@dataclass(frozen=True, slots=True)
class DepthDelta:
    """Changed levels (qty 0 = removed) covering versions ``from_version..to_version``."""

    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    from_version: int
    to_version: int


@dataclass
class SymbolEvents:
    """What one push interval produced for one market."""

    market: SimMarket
    trades: list[Trade] = field(default_factory=list)
    depth: DepthDelta | None = None
    book_ticker: BookTicker | None = None
    bar_minutes: list[int] = field(default_factory=list)  # 1m bars touched, ascending


@dataclass(frozen=True)
class Stats24h:
    open: int
    high: int
    low: int
    last: int
    volume: int
    quote: int
    count: int
    open_time: int


class SymbolModel:
    """Price walk, trades, bars and book of one market."""

    def __init__(self, market: SimMarket, seed: int, cfg: ModelConfig, start_ms: int) -> None:
        self.market = market
        self.cfg = cfg
        self.price_scale = 10**market.price_decimals
        self.qty_scale = 10**market.qty_decimals
        self._rng = random.Random(f"{seed}:{market.symbol}:live")
        self.mid = max(1, round(market.price * self.price_scale))
        self.last_price = self.mid
        self.bars = BarStore()
        self.recent: deque[Trade] = deque(maxlen=cfg.recent_trades)
        self.trades_emitted = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.depth_version = self._rng.randint(10**9, 2 * 10**9)
        self.last_step_ms = start_ms
        self.funding_rate = 0.0001
        self.hold_vol = self._rng.randint(100_000, 10_000_000)
        self._typical_lots = max(1, round(cfg.trade_notional / market.price * self.qty_scale))
        self._last_book_ticker: BookTicker | None = None
        self._generate_history(seed, start_ms)
        self._update_book()
        self._last_book_ticker = self.book_ticker()

    # -- history -------------------------------------------------------------------------

    def _generate_history(self, seed: int, start_ms: int) -> None:
        """Deterministic 1m bars ending at the configured price just before ``start_ms``."""
        rng = random.Random(f"{seed}:{self.market.symbol}:history")
        end = ONE_MINUTE.floor(start_ms)
        first = end - self.cfg.history_minutes * MINUTE_MS
        if self.market.listing_minutes_ago is not None:
            first = max(first, end - self.market.listing_minutes_ago * MINUTE_MS)
        n = max(0, (end - first) // MINUTE_MS)
        sigma = self.cfg.history_volatility
        returns = [rng.gauss(0.0, sigma) for _ in range(n)]
        closes = [0.0] * n
        price = float(self.mid)
        for k in range(n - 1, -1, -1):  # walk backwards so the last close is the start price
            closes[k] = price
            price /= math.exp(returns[k])
        prev = price
        for k in range(n):
            o, c = max(1, round(prev)), max(1, round(closes[k]))
            wick = abs(rng.gauss(0.0, sigma / 2)) * c
            h = max(o, c) + round(wick * rng.random())
            lo = max(1, min(o, c) - round(wick * rng.random()))
            count = rng.randint(1, 120)
            vol = max(1, round(self._typical_lots * count * rng.lognormvariate(0.0, 0.5)))
            self.bars.put(Bar(first + k * MINUTE_MS, o, h, lo, c, vol, vol * ((o + c) // 2), count))
            prev = closes[k]

    # -- live ----------------------------------------------------------------------------

    def spread_ticks(self) -> int:
        return max(1, round(self.mid * self.cfg.spread_bps / 10_000))

    def touch(self) -> tuple[int, int]:
        """Best bid and ask implied by the mid (book levels are built around them)."""
        spread = self.spread_ticks()
        bid = max(1, self.mid - spread // 2)
        return bid, bid + spread

    def step(self, now_ms: int) -> SymbolEvents:
        """Advance to ``now_ms``: walk the price, maybe trade, update the book."""
        prev, self.last_step_ms = self.last_step_ms, now_ms
        events = SymbolEvents(self.market)
        if not self.market.active:
            return events
        dt_s = max(0, now_ms - prev) / 1000
        rng = self._rng
        sigma = self.mid * self.cfg.volatility * math.sqrt(dt_s)
        self.mid = max(1, round(self.mid + rng.gauss(0.0, sigma)))
        if dt_s > 0 and rng.random() >= self.cfg.quiet_probability:
            lo = min(prev + 1, now_ms)
            count = rng.randint(1, self.cfg.max_trades_per_push)
            bid, ask = self.touch()
            for ts in sorted(rng.randint(lo, now_ms) for _ in range(count)):
                side = BUY if rng.random() < 0.5 else SELL
                qty = max(1, round(self._typical_lots * rng.lognormvariate(0.0, 1.0)))
                self._record(Trade(ts, ask if side == BUY else bid, qty, side), events)
        events.depth = self._update_book()
        ticker = self.book_ticker()
        if ticker != self._last_book_ticker:
            self._last_book_ticker = ticker
            events.book_ticker = ticker
        return events

    def _record(self, trade: Trade, events: SymbolEvents) -> None:
        events.trades.append(trade)
        self.recent.append(trade)
        self.trades_emitted += 1
        self.last_price = trade.price
        bar = self.bars.fold(trade)
        if bar is not None and (not events.bar_minutes or events.bar_minutes[-1] != bar.open_ms):
            events.bar_minutes.append(bar.open_ms)

    def _update_book(self) -> DepthDelta | None:
        bid, ask = self.touch()
        step = self.spread_ticks()
        levels = range(self.cfg.book_levels)
        bids = self._diff_side(self.bids, {p for i in levels if (p := bid - i * step) > 0})
        asks = self._diff_side(self.asks, {ask + i * step for i in levels})
        if not bids and not asks:
            return None
        first = self.depth_version + 1
        self.depth_version += len(bids) + len(asks)
        return DepthDelta(sorted(bids, reverse=True), sorted(asks), first, self.depth_version)

    def _diff_side(self, side: dict[int, int], wanted: set[int]) -> list[tuple[int, int]]:
        changes: list[tuple[int, int]] = []
        for price in sorted(side):
            if price not in wanted:
                del side[price]
                changes.append((price, 0))
        for price in sorted(wanted):
            if price not in side or self._rng.random() < self.cfg.book_churn:
                qty = max(1, round(self._typical_lots * self._rng.lognormvariate(0.5, 1.0)))
                if side.get(price) != qty:
                    side[price] = qty
                    changes.append((price, qty))
        return changes

    def book_ticker(self) -> BookTicker:
        bid = max(self.bids) if self.bids else 0
        ask = min(self.asks) if self.asks else 0
        return BookTicker(bid, self.bids.get(bid, 0), ask, self.asks.get(ask, 0))

    def depth_snapshot(self, limit: int) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """(version, bids best-first, asks best-first), consistent with the delta stream."""
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return self.depth_version, bids, asks

    def jump(self, pct: float) -> None:
        """Move the mid by ``pct`` percent; the next push shows it in book and trades."""
        self.mid = max(1, round(self.mid * (1 + pct / 100)))

    def advance_perp(self) -> None:
        """Small random walk of funding rate and open interest between ticker pushes."""
        rng = self._rng
        self.funding_rate = min(0.003, max(-0.003, self.funding_rate + rng.gauss(0.0, 0.00001)))
        self.hold_vol = max(1, self.hold_vol + round(rng.gauss(0.0, self.hold_vol * 0.001)))

    def stats_24h(self, now_ms: int) -> Stats24h:
        start = now_ms - 24 * 60 * MINUTE_MS
        bars = self.bars.between(ONE_MINUTE.floor(start), _FOREVER_MS)
        if not bars:
            p = self.last_price
            return Stats24h(p, p, p, p, 0, 0, 0, start)
        return Stats24h(
            open=bars[0].open,
            high=max(b.high for b in bars),
            low=min(b.low for b in bars),
            last=self.last_price,
            volume=sum(b.volume for b in bars),
            quote=sum(b.quote for b in bars),
            count=sum(b.trades for b in bars),
            open_time=bars[0].open_ms,
        )

    def klines(self, interval: Interval, start: int | None, end: int | None, limit: int) -> list[Bar]:
        """Bars like MEXC's klines: open in [start, end), oldest first, at most ``limit``.

        With a start the first ``limit`` bars from it are returned, otherwise the latest.
        """
        lo = interval.floor(start) if start is not None else 0
        hi = end if end is not None else _FOREVER_MS
        hi_1m = interval.next_open(interval.floor(hi - 1)) if end is not None else _FOREVER_MS
        bars = [
            b
            for b in aggregate(self.bars.between(lo, hi_1m), interval)
            if (start is None or b.open_ms >= start) and b.open_ms < hi
        ]
        return bars[:limit] if start is not None else bars[-limit:]


class MarketModel:
    """All markets of the simulator, stepped together on the simulator clock."""

    def __init__(
        self,
        markets: list[SimMarket] | tuple[SimMarket, ...],
        seed: int,
        cfg: ModelConfig | None = None,
        clock: SimClock | None = None,
    ) -> None:
        self.cfg = cfg or ModelConfig()
        self.clock = clock or SimClock()
        start = self.clock.now_ms()
        self.symbols: dict[str, SymbolModel] = {
            m.symbol: SymbolModel(m, seed, self.cfg, start) for m in markets
        }
        self.by_spot_id = {s.market.spot_id: s for s in self.symbols.values()}
        self.by_perp_id = {s.market.perp_id: s for s in self.symbols.values() if s.market.has_perp}

    @property
    def markets(self) -> list[SimMarket]:
        return [s.market for s in self.symbols.values()]

    def get(self, symbol: str) -> SymbolModel:
        """Look a market up by unified symbol, spot id or contract id."""
        found = (
            self.symbols.get(symbol)
            or self.by_spot_id.get(symbol)
            or self.by_perp_id.get(symbol)
            or self.symbols.get(symbol.split(":")[0])
        )
        if found is None:
            raise KeyError(symbol)
        return found

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def step(self) -> list[SymbolEvents]:
        now = self.clock.now_ms()
        return [s.step(now) for s in self.symbols.values()]

    def price(self, symbol: str) -> float:
        """Last traded price as a float (the current price a test compares against)."""
        s = self.get(symbol)
        return s.last_price / s.price_scale

    def mid(self, symbol: str) -> float:
        s = self.get(symbol)
        return s.mid / s.price_scale

    def trades_emitted(self) -> dict[str, int]:
        return {name: s.trades_emitted for name, s in self.symbols.items()}

    def bar(self, symbol: str, minute_ms: int) -> Bar | None:
        """The stored 1m bar of a minute (None if absent or omitted)."""
        return self.get(symbol).bars.get(minute_ms)

    def jump(self, symbol: str, pct: float) -> None:
        self.get(symbol).jump(pct)

    def omit_minutes(self, minutes: list[int], symbols: list[str] | None = None) -> None:
        targets = [self.get(s) for s in symbols] if symbols else list(self.symbols.values())
        for s in targets:
            for minute in minutes:
                s.bars.omit(minute)
