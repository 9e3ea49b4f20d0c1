"""Pure parts of the simulator: intervals, bar store, klines selection, formatting."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.src.sim.frames import fmt_scaled
from backend.src.sim.intervals import BY_SPOT_ID, MINUTE_MS
from backend.src.sim.market_model import (
    BUY,
    SELL,
    BarStore,
    MarketModel,
    ModelConfig,
    SimMarket,
    Trade,
    aggregate,
)

from .conftest import FixedClock

T0 = int(datetime(2025, 3, 5, 10, 0, tzinfo=UTC).timestamp() * 1000)  # a Wednesday


def test_interval_alignment():
    week, month = BY_SPOT_ID["1W"], BY_SPOT_ID["1M"]
    monday = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp() * 1000)
    assert week.floor(T0) == monday and week.next_open(monday) == monday + 7 * 86_400_000
    first = int(datetime(2025, 3, 1, tzinfo=UTC).timestamp() * 1000)
    assert month.floor(T0) == first
    assert month.next_open(first) == int(datetime(2025, 4, 1, tzinfo=UTC).timestamp() * 1000)
    assert BY_SPOT_ID["60m"].floor(T0 + 59 * MINUTE_MS) == T0


def test_bar_store_folds_trades_and_omits_minutes():
    store = BarStore()
    for ts, price, qty, side in [
        (T0 + 1, 100, 2, BUY),
        (T0 + 2, 105, 1, SELL),
        (T0 + 3, 99, 3, BUY),
        (T0 + MINUTE_MS, 101, 1, BUY),
    ]:
        store.fold(Trade(ts, price, qty, side))
    bar = store.get(T0)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.quote, bar.trades) == (
        100,
        105,
        99,
        99,
        6,
        100 * 2 + 105 + 99 * 3,
        3,
    )
    store.omit(T0 + MINUTE_MS + 5)
    assert store.get(T0 + MINUTE_MS) is None
    assert store.fold(Trade(T0 + MINUTE_MS + 9, 1, 1, BUY)) is None  # stays out
    assert len(store) == 1


def test_aggregate_merges_in_order():
    store = BarStore()
    for i, price in enumerate([10, 12, 8, 11, 9]):
        store.fold(Trade(T0 + i * MINUTE_MS, price, 1, BUY))
    five = aggregate(store.between(T0, T0 + 5 * MINUTE_MS), BY_SPOT_ID["5m"])
    assert len(five) == 1
    assert (five[0].open, five[0].high, five[0].low, five[0].close, five[0].volume) == (10, 12, 8, 9, 5)
    assert store.get(T0).close == 10  # the 1m bars were not mutated


def test_klines_selection_like_mexc():
    model = MarketModel(
        [SimMarket("BTC/USDT", 50_000.0)], seed=1, cfg=ModelConfig(history_minutes=100), clock=FixedClock(T0)
    )
    sm = model.get("BTCUSDT")
    m1 = BY_SPOT_ID["1m"]
    assert len(sm.klines(m1, None, None, 500)) == 100
    start = T0 - 50 * MINUTE_MS
    rows = sm.klines(m1, start, start + 10 * MINUTE_MS, 500)  # endTime exclusive
    assert [b.open_ms for b in rows] == [start + i * MINUTE_MS for i in range(10)]
    assert [b.open_ms for b in sm.klines(m1, start, None, 3)] == [start, start + 60_000, start + 120_000]
    latest = sm.klines(m1, None, start, 2)  # only endTime: the latest bars before it
    assert [b.open_ms for b in latest] == [start - 2 * MINUTE_MS, start - MINUTE_MS]
    assert sm.klines(m1, None, None, 1)[0].close == 5_000_000  # history ends at the price
    assert model.get("BTC/USDT:USDT") is sm and model.get("BTC_USDT") is sm


def test_live_steps_are_seeded_and_fold_into_bars():
    def run(seed: int) -> list[Trade]:
        clock = FixedClock(T0)
        model = MarketModel(
            [SimMarket("ETH/USDT", 3000.0)],
            seed=seed,
            cfg=ModelConfig(history_minutes=5, quiet_probability=0.0),
            clock=clock,
        )
        trades: list[Trade] = []
        for _ in range(50):
            clock.now += 100
            events = model.step()[0]
            trades += events.trades
            if events.depth is not None:
                assert events.depth.to_version - events.depth.from_version + 1 == len(
                    events.depth.bids
                ) + len(events.depth.asks)
        bar = model.bar("ETH/USDT", T0)
        assert bar.volume == sum(t.qty for t in trades)
        assert model.trades_emitted()["ETH/USDT"] == len(trades)
        return trades

    assert run(5) == run(5) != run(6)


def test_fmt_scaled_is_exact():
    assert fmt_scaled(6000012, 2) == "60000.12"
    assert fmt_scaled(5, 6) == "0.000005"
    assert fmt_scaled(-15, 1) == "-1.5"
    assert fmt_scaled(42, 0) == "42"
