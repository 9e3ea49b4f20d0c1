"""Never silently stale: feeder health, stale marking, backfill after outages (against the simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from backend.src.data.health import FeedHealth
from backend.src.data.kpis import kpi_report
from backend.src.data.market_feeder import MarketFeeder
from backend.src.sim.server import MexcSimulator
from backend.tests.helpers import wait_until

from .test_feeder_sim import StaticTexts

MIN = 60_000


@contextlib.asynccontextmanager
async def running(feeder: MarketFeeder, sink: list[dict]):
    task = asyncio.create_task(feeder.run(sink.append))
    try:
        await wait_until(lambda: len(sink) > 3, 10.0)
        yield task
    finally:
        await feeder.close()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.asyncio
async def test_health_counts_everything_and_meets_the_kpis_when_healthy(make_adapter) -> None:
    mds: list[dict] = []
    feeder = MarketFeeder(["BTC/USDT", "DOGE/USDT"], adapter=make_adapter(["BTC/USDT", "DOGE/USDT"]))
    async with running(feeder, mds):
        await wait_until(lambda: len(mds) > 60, 10.0)
    report = feeder.health()  # after close: every md delivered is counted
    json.dumps(report, allow_nan=False)
    btc = report["symbols"]["BTC/USDT"]["channels"]
    assert btc["ticker"]["received"] > 0 and btc["trades"]["received"] > 0 and btc["swap"]["received"] > 0
    assert "swap" not in report["symbols"]["DOGE/USDT"]["channels"]
    totals = report["totals"]
    assert totals["dropped"] == 0 and totals["delivered"] == len(mds)
    assert totals["latency"]["p95_ms"] < 5.0
    assert all(row.passed for row in kpi_report(report)), kpi_report(report)
    assert report["clock_offset_ms"] is not None


@pytest.mark.asyncio
async def test_silent_stream_marks_md_stale_then_fresh_and_costs_uptime(
    make_adapter, sim: MexcSimulator
) -> None:
    mds: list[dict] = []
    adapter = make_adapter(["ETH/USDT"], stale_after={"ticker": 1.0})
    feeder = MarketFeeder(
        ["ETH/USDT"],
        adapter=adapter,
        health=FeedHealth(stale_after_s=0.5),
        monitor_interval=0.05,
        texts=StaticTexts(),
    )
    async with running(feeder, mds):
        sim.faults.silence(path="/ws")
        await wait_until(lambda: mds[-1]["stale"], 3.0)
        stale_md = mds[-1]
        await wait_until(lambda: adapter.counters[("ETH/USDT ticker", "stale")] >= 1, 3.0)
        sim.faults.silence(False)
        await wait_until(lambda: not mds[-1]["stale"], 5.0)
        report = feeder.health()
    assert stale_md["symbol"] == "ETH/USDT" and stale_md["price"] is not None
    assert stale_md["texts"] == ["news about ETH"]  # stale data, but the same md schema and texts
    flagged = [i for i, md in enumerate(mds) if md["stale"]]
    assert flagged == list(range(flagged[0], flagged[-1] + 1))  # one stale period, then fresh
    assert len({(mds[i]["bid"], mds[i]["ask"]) for i in flagged}) == 1  # the frozen book, flagged
    sym = report["symbols"]["ETH/USDT"]
    assert sym["uptime_pct"] < 100.0 and sym["downtime_s"] > 0.4
    ticker = sym["channels"]["ticker"]
    assert ticker["reconnects"] >= 1 and ticker["recoveries"]["count"] >= 1
    assert ticker["recoveries"]["max_s"] < 5.0


@pytest.mark.asyncio
async def test_malformed_frames_are_counted_as_dropped_and_the_stream_goes_on(make_adapter, sim) -> None:
    mds: list[dict] = []
    feeder = MarketFeeder(["BTC/USDT"], adapter=make_adapter(), monitor_interval=0.05)
    async with running(feeder, mds):
        await sim.faults.send_malformed("truncated", path="/ws")
        await sim.faults.send_malformed("garbage", path="/ws")
        await wait_until(lambda: feeder.health()["totals"]["dropped"] == 2, 3.0)
        n = len(mds)
        await wait_until(lambda: len(mds) > n + 5, 3.0)
        report = feeder.health()
    assert report["symbols"]["*"]["channels"]["ws"]["dropped"] == {"malformed": 2}
    assert report["totals"]["reconnects"] == 0


@pytest.mark.asyncio
async def test_bars_missed_in_an_outage_are_backfilled_from_rest(make_adapter, sim: MexcSimulator) -> None:
    """Trades missed while disconnected make a partial live bar; once the minute closes, the
    exchange's bar replaces it, exactly."""
    mds: list[dict] = []
    adapter = make_adapter(["BTC/USDT"])
    feeder = MarketFeeder(["BTC/USDT"], adapter=adapter)
    async with running(feeder, mds):
        state = feeder.states["BTC/USDT"]
        await wait_until(lambda: state.bars.forming is not None, 5.0)
        minute = int(state.bars.forming[0])
        sim.faults.refuse_connections(1.0)  # the exchange trades on; we miss it
        await asyncio.sleep(1.2)
        await wait_until(lambda: feeder.feed_health.channel("BTC/USDT", "trades").recovery_count >= 1, 10.0)
        gap = MIN - sim.clock.now_ms() % MIN + 500
        sim.faults.skew_clock(gap)  # let the minute close without waiting for it
        await adapter.fetch_time(samples=7)  # a fresh median: the whole window after the jump
        await wait_until(lambda: feeder.backfilled["BTC/USDT"] >= 1, 10.0)
    exchange_bar = sim.model.bar("BTC/USDT", minute)
    ours = next(b for b in state.bars.closed if b[0] == minute)
    scale = sim.model.get("BTC/USDT")
    assert ours[4] == pytest.approx(exchange_bar.close / scale.price_scale)
    assert ours[5] == pytest.approx(exchange_bar.volume / scale.qty_scale)


@pytest.mark.asyncio
async def test_clock_skew_of_seconds_is_measured_and_md_ts_follows_the_exchange(make_adapter, sim) -> None:
    sim.faults.skew_clock(3_000)
    mds: list[dict] = []
    feeder = MarketFeeder(["BTC/USDT"], adapter=make_adapter())
    async with running(feeder, mds):
        await wait_until(lambda: len(mds) > 10, 5.0)
        report = feeder.health()
    assert abs(report["clock_offset_ms"] - 3_000) < 300
    assert abs(mds[-1]["ts"] - sim.clock.now_ms()) < 1_500


@pytest.mark.asyncio
async def test_price_jump_is_delivered_not_filtered(make_adapter, sim) -> None:
    mds: list[dict] = []
    feeder = MarketFeeder(["ETH/USDT"], adapter=make_adapter(["ETH/USDT"]))
    async with running(feeder, mds):
        before = mds[-1]["bid"]
        sim.faults.jump_price("ETH/USDT", 20.0)
        await wait_until(lambda: mds[-1]["bid"] > before * 1.15, 5.0)
    assert not mds[-1]["stale"]


@pytest.mark.asyncio
async def test_trades_lost_in_a_too_small_ccxt_cache_are_counted_as_drops(make_adapter) -> None:
    """With room for one trade, a push of several loses the rest before the stream reads them:
    never silently — they are the trade stream's drops in the feeder's health."""
    mds: list[dict] = []
    adapter = make_adapter(["BTC/USDT"], ccxt_config={"options": {"tradesLimit": 1}})
    feeder = MarketFeeder(["BTC/USDT"], adapter=adapter, monitor_interval=0.05)
    async with running(feeder, mds):
        await wait_until(lambda: sum(adapter.trades_overflow().values()) > 5, 10.0)
        await wait_until(
            lambda: (
                feeder.health()["symbols"]["BTC/USDT"]["channels"]["trades"]["dropped"].get(
                    "cache_overflow", 0
                )
                >= 5
            ),
            2.0,
        )
        trades = feeder.health()["symbols"]["BTC/USDT"]["channels"]["trades"]
        assert trades["dropped"]["cache_overflow"] <= adapter.trades_overflow()["BTC/USDT"]
    assert trades["received"] >= trades["dropped_total"] > 0
