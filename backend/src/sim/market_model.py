"""Seeded market model: random-walk prices, trades, 1m bars and an order book per market.

Everything is integer ticks (price) and lots (quantity) so that the bar a REST client reads
after a minute closes is *exactly* the bar the streamed trades of that minute make — no
float drift between the two paths. Nothing here does I/O; the server drives ``step()`` and
turns the returned events into wire frames.

Two kinds of market share the model. Without an ``activity`` a market is stepped on every
push and trades with ``ModelConfig.quiet_probability``/``max_trades_per_push`` (a busy pair;
what tests and benchmarks use). With an ``activity`` (expected trades per second) it is
event driven: a Poisson process schedules its trades and requotes, and a push touches only
the markets whose events fell due, so two thousand mostly idle markets cost next to nothing.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from dataclasses import dataclass, field, replace

from .bars import BUY, SELL, Bar, BarStore, Trade, aggregate
from .clock import SimClock
from .history import History, HistoryCache, HistorySpec
from .intervals import DAY_MS, MINUTE_MS, ONE_MINUTE, Interval

_FOREVER_MS = 2**62
_CATCH_UP_MS = 5_000  # events further behind the clock (it jumped) are skipped, not replayed


@dataclass(frozen=True)
class SimMarket:
    """One spot market, optionally with a perpetual on the same base (settled in the quote).

    ``listing_minutes_ago`` limits history: no bars exist before the listing time.
    ``active=False`` models a delisted/suspended pair: listed with status "2", no live trades.
    ``perp_active=False`` does the same for the perpetual only (contract state 3).
    ``activity``: expected trades per second, which makes the market event driven (see the
    module docstring); None steps it on every push.
    ``api_trading=False`` models a pair that is listed and trading (status "1", data flowing)
    but refuses API orders (``isSpotTradingAllowed`` false), as the real BTCUSDT did in 2025-12.
    """

    symbol: str
    price: float
    has_perp: bool = True
    contract_size: float = 0.0001
    active: bool = True
    price_decimals: int = 2
    qty_decimals: int = 6
    listing_minutes_ago: int | None = None
    activity: float | None = None
    perp_active: bool = True
    api_trading: bool = True

    def __post_init__(self) -> None:
        if self.activity is not None and self.activity < 0:
            raise ValueError(f"{self.symbol}: activity must be >= 0 trades/s")

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

    @property
    def perp_trading(self) -> bool:
        """The perpetual exists and trades (it mirrors the spot market's trades)."""
        return self.has_perp and self.active and self.perp_active


DEFAULT_MARKETS: tuple[SimMarket, ...] = (
    SimMarket("BTC/USDT", 60000.0, contract_size=0.0001),
    SimMarket("ETH/USDT", 3000.0, contract_size=0.01, qty_decimals=5),
    SimMarket("DOGE/USDT", 0.15, has_perp=False, price_decimals=5, qty_decimals=2),
    SimMarket("OLD/USDT", 1.0, has_perp=False, active=False, price_decimals=4, qty_decimals=2),
)


@dataclass
class ModelConfig:
    """Knobs of the random walk; defaults look roughly like a liquid MEXC pair.

    ``quiet_probability`` and ``max_trades_per_push`` apply to markets without an activity;
    ``requotes_per_trade`` to markets with one (book-only changes per trade, so the book
    ticker moves more often than trades print, as market makers requote).
    ``history_cache``: how many markets keep their generated history in memory.
    """

    history_minutes: int = 3000
    history_volatility: float = 0.0015  # relative sd of one historical 1m return
    volatility: float = 0.0002  # relative sd of the live walk per sqrt(second)
    quiet_probability: float = 0.2  # chance that a push interval carries no trade
    max_trades_per_push: int = 5
    requotes_per_trade: float = 1.0
    trade_notional: float = 500.0  # typical trade size in quote currency
    spread_bps: float = 1.0
    book_levels: int = 20
    book_churn: float = 0.3  # share of book levels whose size changes per push
    recent_trades: int = 1000
    history_cache: int = 256


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

    def __init__(
        self, market: SimMarket, seed: int, cfg: ModelConfig, start_ms: int, history_cache: HistoryCache
    ) -> None:
        self.market = market
        self.cfg = cfg
        self.price_scale = 10**market.price_decimals
        self.qty_scale = 10**market.qty_decimals
        self._rng = random.Random(f"{seed}:{market.symbol}:live")
        self.mid = max(1, round(market.price * self.price_scale))
        self.last_price = self.mid
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
        self.bars = BarStore(History(self._history_spec(seed, start_ms), history_cache))
        self._update_book()
        self._last_book_ticker = self.book_ticker()
        self._event_rate = (market.activity or 0.0) * (1 + cfg.requotes_per_trade)  # events/s
        self._trade_share = 1 / (1 + cfg.requotes_per_trade)

    def _history_spec(self, seed: int, start_ms: int) -> HistorySpec:
        """1m bars ending at the configured price just before ``start_ms``."""
        end = ONE_MINUTE.floor(start_ms)
        first = end - self.cfg.history_minutes * MINUTE_MS
        if self.market.listing_minutes_ago is not None:
            first = max(first, end - self.market.listing_minutes_ago * MINUTE_MS)
        return HistorySpec(
            self.market.symbol,
            seed,
            first,
            end,
            self.mid,
            self._typical_lots,
            self.cfg.history_volatility,
            self.market.activity,
        )

    # -- live ----------------------------------------------------------------------------

    def spread_ticks(self) -> int:
        return max(1, round(self.mid * self.cfg.spread_bps / 10_000))

    def touch(self) -> tuple[int, int]:
        """Best bid and ask implied by the mid (book levels are built around them)."""
        spread = self.spread_ticks()
        bid = max(1, self.mid - spread // 2)
        return bid, bid + spread

    def _walk(self, now_ms: int) -> tuple[int, float]:
        """Random-walk the mid over the time since the last step: (previous step, seconds)."""
        prev, self.last_step_ms = self.last_step_ms, now_ms
        dt_s = max(0, now_ms - prev) / 1000
        sigma = self.mid * self.cfg.volatility * math.sqrt(dt_s)
        self.mid = max(1, round(self.mid + self._rng.gauss(0.0, sigma)))
        return prev, dt_s

    def _trade(self, ts: int, bid: int, ask: int, events: SymbolEvents) -> None:
        rng = self._rng
        side = BUY if rng.random() < 0.5 else SELL
        qty = max(1, round(self._typical_lots * rng.lognormvariate(0.0, 1.0)))
        self._record(Trade(ts, ask if side == BUY else bid, qty, side), events)

    def step(self, now_ms: int) -> SymbolEvents:
        """Advance to ``now_ms`` (markets without activity, every push): walk, maybe trade,
        update the book."""
        events = SymbolEvents(self.market)
        if not self.market.active:
            self.last_step_ms = now_ms
            return events
        prev, dt_s = self._walk(now_ms)
        rng = self._rng
        if dt_s > 0 and rng.random() >= self.cfg.quiet_probability:
            lo = min(prev + 1, now_ms)
            count = rng.randint(1, self.cfg.max_trades_per_push)
            bid, ask = self.touch()
            for ts in sorted(rng.randint(lo, now_ms) for _ in range(count)):
                self._trade(ts, bid, ask, events)
        self._book_events(events)
        return events

    def next_event_ms(self, after_ms: float) -> float:
        """When the next trade or requote of an event-driven market happens."""
        return after_ms + self._rng.expovariate(self._event_rate) * 1000.0

    def fire(self, times: list[int], now_ms: int) -> SymbolEvents:
        """Events of an event-driven market that fell due by ``now_ms`` (``times``
        ascending): each is a trade or, with ``requotes_per_trade``, a book-only change."""
        events = SymbolEvents(self.market)
        self._walk(now_ms)
        bid, ask = self.touch()
        for ts in times:
            if self._rng.random() < self._trade_share:
                self._trade(ts, bid, ask, events)
        self._book_events(events)
        return events

    def _book_events(self, events: SymbolEvents) -> None:
        events.depth = self._update_book()
        ticker = self.book_ticker()
        if ticker != self._last_book_ticker:  # MEXC's book ticker only pushes changes
            self._last_book_ticker = ticker
            events.book_ticker = ticker

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
        start = now_ms - DAY_MS
        totals = self.bars.totals(ONE_MINUTE.floor(start), ONE_MINUTE.floor(now_ms))
        if totals is None:
            p = self.last_price
            return Stats24h(p, p, p, p, 0, 0, 0, start)
        return Stats24h(
            open=totals.open,
            high=totals.high,
            low=totals.low,
            last=self.last_price,
            volume=totals.volume,
            quote=totals.quote,
            count=totals.trades,
            open_time=totals.open_ms,
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
    """All markets of the simulator, stepped together on the simulator clock.

    Markets can be listed and delisted while the simulator runs; REST and the websockets
    read the indexes here, so a change shows in the next response.
    """

    def __init__(
        self,
        markets: list[SimMarket] | tuple[SimMarket, ...],
        seed: int,
        cfg: ModelConfig | None = None,
        clock: SimClock | None = None,
    ) -> None:
        self.cfg = cfg or ModelConfig()
        self.clock = clock or SimClock()
        self.seed = seed
        self.symbols: dict[str, SymbolModel] = {}
        self.by_spot_id: dict[str, SymbolModel] = {}
        self.by_perp_id: dict[str, SymbolModel] = {}
        self._history_cache = HistoryCache(self.cfg.history_cache)
        self._every_push: dict[str, SymbolModel] = {}  # markets without an activity
        self._schedule: list[tuple[float, int, SymbolModel]] = []  # (event ms, tiebreak, market)
        self._tiebreak = itertools.count()
        self._last_step_ms = start = self.clock.now_ms()
        for m in markets:
            self._add(m, start)

    def _add(self, market: SimMarket, start_ms: int) -> SymbolModel:
        if market.symbol in self.symbols or market.spot_id in self.by_spot_id:
            raise ValueError(f"{market.symbol} is already listed")
        sm = SymbolModel(market, self.seed, self.cfg, start_ms, self._history_cache)
        self.symbols[market.symbol] = sm
        self.by_spot_id[market.spot_id] = sm
        if market.has_perp:
            self.by_perp_id[market.perp_id] = sm
        if market.activity is None:
            self._every_push[market.symbol] = sm
        elif market.active and market.activity > 0:
            heapq.heappush(self._schedule, (sm.next_event_ms(start_ms), next(self._tiebreak), sm))
        return sm

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

    # -- listings --------------------------------------------------------------------------

    def list_market(self, market: SimMarket) -> SymbolModel:
        """List a new market now. Its history ends now; ``listing_minutes_ago=0`` gives a
        brand-new listing without any bars."""
        return self._add(market, self.clock.now_ms())

    def delist_market(self, symbol: str, *, remove: bool = False) -> None:
        """Delist a market: inactive (status "2" / contract state 3, no trades) or, with
        ``remove``, gone from every listing and endpoint. Naming the perpetual
        (``BTC/USDT:USDT`` or ``BTC_USDT``) delists only the perpetual."""
        sm = self.get(symbol)
        m = sm.market
        if symbol in (m.perp_symbol, m.perp_id):
            if not m.has_perp:
                raise KeyError(symbol)
            if remove:
                del self.by_perp_id[m.perp_id]
                sm.market = replace(m, has_perp=False)
            else:
                sm.market = replace(m, perp_active=False)
        elif remove:
            del self.symbols[m.symbol], self.by_spot_id[m.spot_id]
            self.by_perp_id.pop(m.perp_id, None)
            self._every_push.pop(m.symbol, None)
        else:
            sm.market = replace(m, active=False)  # a scheduled event finds it inactive and drops it

    # -- stepping --------------------------------------------------------------------------

    @property
    def last_step_ms(self) -> int:
        """Simulator time of the latest step: after a clock jump, the jumped-over minutes
        hold their trades (and bars) only once a step has run."""
        return self._last_step_ms

    def step(self) -> list[SymbolEvents]:
        """One push interval: every market without activity, and the event-driven markets
        with events due (each once, with all its due events)."""
        now = self.clock.now_ms()
        if now < self._last_step_ms:  # the clock went back: so do the scheduled events
            back = self._last_step_ms - now
            self._schedule = [(t - back, tiebreak, sm) for t, tiebreak, sm in self._schedule]
        self._last_step_ms = now
        events = [s.step(now) for s in self._every_push.values()]
        due: dict[SymbolModel, list[int]] = {}
        heap = self._schedule
        while heap and heap[0][0] <= now:
            t, tiebreak, sm = heapq.heappop(heap)
            if self.symbols.get(sm.market.symbol) is not sm or not sm.market.active:
                continue  # delisted
            if t < now - _CATCH_UP_MS:  # the clock jumped: restart the process from now
                heapq.heappush(heap, (sm.next_event_ms(now), tiebreak, sm))
                continue
            due.setdefault(sm, []).append(math.ceil(t))
            heapq.heappush(heap, (sm.next_event_ms(t), tiebreak, sm))
        events.extend(sm.fire(times, now) for sm, times in due.items())
        return events

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
        """The 1m bar of a minute (None if absent or omitted)."""
        return self.get(symbol).bars.get(minute_ms)

    def jump(self, symbol: str, pct: float) -> None:
        self.get(symbol).jump(pct)

    def omit_minutes(self, minutes: list[int], symbols: list[str] | None = None) -> None:
        targets = [self.get(s) for s in symbols] if symbols else list(self.symbols.values())
        for s in targets:
            for minute in minutes:
                s.bars.omit(minute)
