"""A MEXC-sized universe: synthetic markets, lazy history, event-driven activity, and
listing/delisting while ccxt clients watch."""

from __future__ import annotations

import asyncio
import hashlib
import json
import statistics
import time
from datetime import UTC, datetime

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import pytest

from backend.src.adapters.mexc_instruments import streamable
from backend.src.sim import MexcSimulator, SimMarket, synthetic_markets
from backend.src.sim.__main__ import build_markets, churn, parse_args
from backend.src.sim.bars import Bar
from backend.src.sim.intervals import DAY_MS, MINUTE_MS
from backend.src.sim.market_model import DEFAULT_MARKETS, MarketModel, ModelConfig

from .conftest import FixedClock, client_config

T0 = int(datetime(2025, 3, 5, 10, 0, 30, tzinfo=UTC).timestamp() * 1000)


def digest(bars: list[Bar]) -> str:
    rows = [(b.open_ms, b.open, b.high, b.low, b.close, b.volume, b.quote, b.trades) for b in bars]
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


# -- the universe ------------------------------------------------------------------------


def test_synthetic_markets_are_deterministic_and_prefix_stable():
    small, big = synthetic_markets(100, seed=3), synthetic_markets(300, seed=3)
    assert small == synthetic_markets(100, seed=3)
    assert small != synthetic_markets(100, seed=4)
    assert [m for m in small if m.quote == "USDT"] == [m for m in big if m.quote == "USDT"][:100]
    assert synthetic_markets(10, other_quotes=0) == synthetic_markets(10)[:10]


def test_universe_has_mexc_like_variety():
    markets = synthetic_markets(2000)
    usdt = [m for m in markets if m.quote == "USDT"]
    assert len(usdt) == 2000 and [m.symbol for m in usdt[:2]] == ["BTC/USDT", "ETH/USDT"]
    assert {m.quote for m in markets} == {"USDT", "USDC", "BTC"}
    assert len({m.symbol for m in markets}) == len({m.spot_id for m in markets}) == len(markets)
    assert "BTC/USDC" in {m.symbol for m in markets if m.has_perp}  # a USDC-settled perpetual

    prices = [m.price for m in usdt]
    assert min(prices) < 1e-5 and max(prices) > 1e4
    for m in usdt:  # decimals fit the price: 1e3..1e7 ticks, a lot worth at most a few dollars
        assert 1e3 <= m.price * 10**m.price_decimals <= 1e7, m
        assert m.price / 10**m.qty_decimals <= 5, m
    perps = [m for m in usdt if m.has_perp]
    assert 0.18 <= len(perps) / len(usdt) <= 0.32
    for m in perps[6:]:  # past the head: one contract is worth a few dollars
        assert 3 <= m.price * m.contract_size <= 32, m
    assert 0.003 <= sum(not m.active for m in usdt) / len(usdt) <= 0.03
    assert any(m.listing_minutes_ago for m in usdt)

    rates = sorted((m.activity or 0.0 for m in usdt), reverse=True)
    assert rates[0] == 20.0 and statistics.median(rates) < 0.03  # most pairs trade rarely
    assert sum(rates[:20]) > 0.4 * sum(rates)  # a handful carry much of the flow
    assert 100 < sum(rates) < 250  # trades/s over the whole universe


# -- lazy history ------------------------------------------------------------------------

# Digests of every default-market bar as the eager generator (before lazy history) made
# them for this clock; lazy generation must reproduce them bar for bar.
EAGER_DIGESTS = {
    1: {
        "BTC/USDT": "cb98e5422cfdae83",
        "ETH/USDT": "ebd9fe7d0c463bd8",
        "DOGE/USDT": "1112d845cb3fefba",
        "OLD/USDT": "dc3551301625c97d",
    },
    7: {
        "BTC/USDT": "690ea5e560480d68",
        "ETH/USDT": "32c8b1ce717ca3aa",
        "DOGE/USDT": "32c374e8359769d5",
        "OLD/USDT": "293eddc5dbf27fb5",
    },
}


@pytest.mark.parametrize("seed", [1, 7])
def test_lazy_history_equals_the_eager_history(seed: int):
    model = MarketModel(DEFAULT_MARKETS, seed, clock=FixedClock(T0))
    assert len(model._history_cache) == 0  # nothing generated at start
    for symbol, expected in EAGER_DIGESTS[seed].items():
        bars = model.get(symbol).bars.between(0, 2**62)
        assert len(bars) == 3000 and digest(bars) == expected
        assert model.bar(symbol, bars[-1].open_ms) == bars[-1]


def test_evicted_history_is_regenerated_identically():
    markets = synthetic_markets(5)
    model = MarketModel(markets, 1, ModelConfig(history_cache=2), FixedClock(T0))
    first = {m.symbol: digest(model.get(m.symbol).bars.between(0, 2**62)) for m in markets}
    assert len(model._history_cache) == 2
    again = {m.symbol: digest(model.get(m.symbol).bars.between(0, 2**62)) for m in reversed(markets)}
    assert again == first


def test_quiet_market_history_has_bars_only_for_traded_minutes():
    quiet = SimMarket("Q/USDT", 0.5, has_perp=False, price_decimals=5, qty_decimals=1, activity=0.005)
    busy = SimMarket("B/USDT", 0.5, has_perp=False, price_decimals=5, qty_decimals=1, activity=5.0)
    model = MarketModel([quiet, busy], 1, clock=FixedClock(T0))
    q, b = (model.get(s).bars.between(0, 2**62) for s in ("Q/USDT", "B/USDT"))
    assert 500 < len(q) < 1300 and len(b) == 3000  # P(trade in a minute) = 1 - exp(-0.3)
    assert all(bar.open == bar.high == bar.low == bar.close for bar in q if bar.trades == 1)
    assert q[-1].close == b[-1].close == 50_000  # history ends at the market's price
    assert statistics.mean(bar.trades for bar in b) == pytest.approx(300, rel=0.05)
    for bar in q + b:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume * bar.low <= bar.quote <= bar.volume * bar.high


def brute_force_24h(model: MarketModel, symbol: str) -> tuple[int, ...] | None:
    now = model.now_ms()
    bars = model.get(symbol).bars.between((now - DAY_MS) // MINUTE_MS * MINUTE_MS, 2**62)
    if not bars:
        return None
    return (
        bars[0].open,
        max(b.high for b in bars),
        min(b.low for b in bars),
        sum(b.volume for b in bars),
        sum(b.quote for b in bars),
        sum(b.trades for b in bars),
        bars[0].open_ms,
    )


def test_cached_24h_totals_equal_a_fold_over_the_bars():
    clock = FixedClock(T0)
    markets = [*synthetic_markets(6, other_quotes=0), SimMarket("LEG/USDT", 42.0)]  # + every-push
    model = MarketModel(markets, 2, ModelConfig(quiet_probability=0.0), clock)

    def check() -> None:
        for m in markets:
            st = model.get(m.symbol).stats_24h(model.now_ms())
            got = (st.open, st.high, st.low, st.volume, st.quote, st.count, st.open_time)
            assert got == brute_force_24h(model, m.symbol), m.symbol

    check()
    for _ in range(3):  # over minute boundaries: the window moves, live bars close
        for _ in range(40):
            clock.now += 1000
            model.step()
            check()
    model.omit_minutes([T0 - 600 * MINUTE_MS, T0 + MINUTE_MS])
    check()
    btc = model.get("BTC/USDT")
    before = btc.bars.get(T0 - MINUTE_MS).trades
    clock.skew_ms = -3 * MINUTE_MS  # trades land in history minutes: live bars take them over
    for _ in range(20):
        clock.now += 200
        model.step()
    check()
    assert btc.bars.get(T0 - MINUTE_MS).trades > before
    opens = [b.open_ms for b in btc.bars.between(0, 2**62)]
    assert opens == sorted(set(opens)) and len(opens) == len(btc.bars)


# -- live activity -----------------------------------------------------------------------


def test_event_driven_markets_trade_at_their_activity():
    hot = SimMarket("HOT/USDT", 10.0, activity=30.0)
    cold = SimMarket("COLD/USDT", 10.0, activity=0.05)
    clock = FixedClock(T0)
    model = MarketModel([hot, cold], 5, ModelConfig(history_minutes=5), clock)
    stepped = {"HOT/USDT": 0, "COLD/USDT": 0}
    book_tickers = 0
    for _ in range(200):  # 20 s of 100 ms pushes
        clock.now += 100
        for ev in model.step():
            stepped[ev.market.symbol] += 1
            book_tickers += ev.market.symbol == "HOT/USDT" and ev.book_ticker is not None
            assert all(T0 < t.ts <= clock.now for t in ev.trades)
    trades = model.trades_emitted()
    assert 480 <= trades["HOT/USDT"] <= 720  # 600 expected (Poisson sd ~25)
    assert trades["COLD/USDT"] <= 6 and stepped["COLD/USDT"] <= 8  # idle pushes cost nothing
    assert stepped["HOT/USDT"] > 150 and book_tickers > 50  # book ticker only on change
    assert model.bar("HOT/USDT", T0).trades == trades["HOT/USDT"]  # all in the minute T0 is in


def test_event_driven_steps_are_seeded():
    def run(seed: int) -> list[tuple[str, int, int]]:
        clock = FixedClock(T0)
        model = MarketModel(synthetic_markets(50), seed, ModelConfig(history_minutes=5), clock)
        out = []
        for _ in range(50):
            clock.now += 100
            out += [(ev.market.symbol, t.ts, t.price) for ev in model.step() for t in ev.trades]
        return out

    assert run(4) == run(4) != run(5)


def test_clock_jump_skips_instead_of_replaying_events():
    clock = FixedClock(T0)
    model = MarketModel(synthetic_markets(200), 1, ModelConfig(history_minutes=5), clock)
    clock.now += 3_600_000  # an hour later: replaying would mean ~500k events
    started = time.perf_counter()
    model.step()
    assert time.perf_counter() - started < 0.5


def test_step_cost_with_2000_markets():
    clock = FixedClock(T0)
    model = MarketModel(synthetic_markets(2000), 1, clock=clock)
    started = time.perf_counter()
    touched = 0
    for _ in range(100):  # 10 s of pushes
        clock.now += 100
        touched += len(model.step())
    elapsed = time.perf_counter() - started
    assert touched / 100 < 100  # only markets with due events are touched (~25 per push)
    assert elapsed < 1.5  # about 0.1 s on one core: ~1 % of it at 100 ms pushes
    assert len(model._history_cache) == 0  # live trading never generated history


# -- the whole universe behind ccxt ------------------------------------------------------


@pytest.mark.asyncio
async def test_2000_markets_start_fast_and_load_in_ccxt():
    markets = synthetic_markets(2000)
    started = time.perf_counter()
    async with MexcSimulator(markets, seed=1) as sim:
        startup = time.perf_counter() - started
        assert startup < 2.0
        ex = ccxt_async.mexc(client_config(sim, timeout=20_000))
        try:
            loaded = await ex.load_markets()
            spot = {s for s, m in loaded.items() if m["spot"]}
            swap = {s for s, m in loaded.items() if m["swap"]}
            assert spot == {m.symbol for m in markets}
            assert swap == {m.perp_symbol for m in markets if m.has_perp}
            # streamable, not ccxt's ``active``: BTCUSDT takes no API orders, as on the real MEXC
            usdt = [m for m in loaded.values() if m["spot"] and m["quote"] == "USDT"]
            usdt_active = [m["symbol"] for m in usdt if streamable(m)]
            assert len(usdt_active) == sum(m.quote == "USDT" and m.active for m in markets)
            assert loaded["PEPE/USDT:USDT"]["contractSize"] == 10_000_000

            started = time.perf_counter()
            tickers = await ex.fetch_tickers()
            assert time.perf_counter() - started < 3.0
            assert set(tickers) == spot
            top = sorted(tickers.values(), key=lambda t: t["quoteVolume"] or 0, reverse=True)[:3]
            assert {t["symbol"] for t in top} <= {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT"}
            swaps = await ex.fetch_tickers(None, {"type": "swap"})
            assert set(swaps) == swap
        finally:
            await ex.close()


@pytest.mark.asyncio
async def test_listing_and_delisting_while_running():
    async with MexcSimulator(synthetic_markets(20, other_quotes=0), seed=2, push_interval=0.05) as sim:
        ex = ccxt_async.mexc(client_config(sim))
        try:
            await ex.load_markets()
            assert "NEW/USDT" not in ex.markets
            sim.list_market(
                SimMarket("NEW/USDT", 2.5, contract_size=1.0, price_decimals=4, qty_decimals=2, activity=20.0)
            )
            markets = await ex.load_markets(reload=True)
            assert markets["NEW/USDT"]["active"] and markets["NEW/USDT:USDT"]["active"]
            assert "NEW/USDT" in await ex.fetch_tickers()
            assert await ex.fetch_ohlcv("NEW/USDT", "1m", limit=10) != []  # history up to now

            async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url + "/ws") as ws:
                channel = "spot@public.aggre.deals.v3.api.pb@100ms@NEWUSDT"
                await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": [channel]}))
                assert (await ws.receive_json(timeout=2))["msg"] == channel
                await ws.receive_bytes(timeout=2)  # the new market streams

            sim.delist_market("NEW/USDT:USDT", remove=True)  # perpetual only
            sim.delist_market("ETH/USDT")  # suspended: still listed, inactive
            sim.delist_market("SOL/USDT", remove=True)
            markets = await ex.load_markets(reload=True)
            assert "NEW/USDT:USDT" not in markets and markets["NEW/USDT"]["active"]
            assert markets["ETH/USDT"]["active"] is False and markets["ETH/USDT:USDT"]["active"] is False
            assert "SOL/USDT" not in markets and "SOL/USDT:USDT" not in markets
            tickers = await ex.fetch_tickers()
            assert "SOL/USDT" not in tickers and "ETH/USDT" in tickers
            assert "SOL/USDT:USDT" not in await ex.fetch_tickers(None, {"type": "swap"})
            with pytest.raises(ccxt.BadSymbol):
                await ex.spotPublicGetKlines({"symbol": "SOLUSDT", "interval": "1m"})
            trades = sim.model.trades_emitted()["ETH/USDT"]
            await asyncio.sleep(0.3)
            assert sim.model.trades_emitted()["ETH/USDT"] == trades  # suspended: no trades

            with pytest.raises(ValueError, match="already listed"):
                sim.list_market(SimMarket("NEW/USDT", 1.0))
            sim.list_market(SimMarket("SOL/USDT", 150.0, listing_minutes_ago=0, activity=1.0))  # relisted
            assert (await ex.load_markets(reload=True))["SOL/USDT"]["active"]
            assert len(await ex.fetch_ohlcv("SOL/USDT", "1m", limit=10)) <= 1  # new: no history
        finally:
            await ex.close()


def test_cli_builds_a_universe_and_churns_listings():
    args = parse_args(["--markets", "50", "--spot-only", "BTC/USDT", "--inactive", "ETH/USDT"])
    markets = build_markets(args.symbols, args.spot_only, args.inactive, args.markets, args.seed)
    assert len(markets) == 53 and sum(m.quote == "USDT" for m in markets) == 50
    by_symbol = {m.symbol: m for m in markets}
    assert not by_symbol["BTC/USDT"].has_perp and not by_symbol["ETH/USDT"].active
    assert by_symbol["SOL/USDT"].activity == 6.0
    with pytest.raises(SystemExit):
        parse_args(["--markets", "5", "--symbols", "BTC/USDT"])

    sim = MexcSimulator(synthetic_markets(10, other_quotes=0), history_minutes=10)
    step = churn(sim, seed=1)
    step()
    step()
    listed = {m.symbol: m for m in sim.markets}
    assert {"L0001/USDT", "L0002/USDT"} <= set(listed) and listed["L0002/USDT"].has_perp
    inactive_before = sum(not m.active for m in synthetic_markets(10, other_quotes=0))
    assert sum(not m.active for m in sim.markets) == inactive_before + 2
