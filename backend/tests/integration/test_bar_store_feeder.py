"""The feeder with a bar store: bars written as they close, a warm restart asks one page and
writes back only what the store lacks."""

from __future__ import annotations

import asyncio

import pytest

from backend.src.data.bar_store import load_bars
from backend.src.data.gap_filler import fill_minute_bars
from backend.src.data.market_feeder import MarketFeeder
from backend.src.errors import StoreLockedError
from backend.src.sim.server import MexcSimulator
from backend.tests.helpers import BAR_KEYS, ring, wait_until

from .test_adapter_rest import MIN, kline_requests
from .test_feeder_health import running

SYMBOLS = ["BTC/USDT", "ETH/USDT"]


async def exchange_settled(sim: MexcSimulator) -> None:
    """Wait until the simulator has traded through its clock jump, and for a new minute when
    this one is about to close: a warm and a cold bootstrap compared bar for bar must read the
    same closed minutes of the same exchange."""
    jumped_at = sim.clock.now_ms()
    await wait_until(lambda: sim.model.last_step_ms >= jumped_at)
    left_ms = MIN - sim.clock.now_ms() % MIN
    if left_ms < 3000:
        await asyncio.sleep(left_ms / 1000 + 0.05)


@pytest.mark.asyncio
async def test_a_restart_after_ten_minutes_reads_the_store_and_asks_one_page(
    sim: MexcSimulator, make_adapter, tmp_path
) -> None:
    mds: list[dict] = []
    async with running(MarketFeeder(SYMBOLS, adapter=make_adapter(SYMBOLS), data_dir=tmp_path), mds):
        pass
    stored = {s: load_bars(tmp_path, s) for s in SYMBOLS}
    assert all(len(bars) >= 1500 for bars in stored.values())  # bootstrap history, flushed on close

    sim.faults.skew_clock(sim.clock.skew_ms + 10 * MIN)  # the feeder was down for ten minutes
    await exchange_settled(sim)
    adapter = make_adapter(SYMBOLS)
    warm_feeder = MarketFeeder(SYMBOLS, adapter=adapter, data_dir=tmp_path)
    await adapter.fetch_time(samples=7)
    for symbol in SYMBOLS:
        before = len(kline_requests(sim))
        warm = await warm_feeder.bootstrap_bars(symbol)
        assert len(kline_requests(sim)) - before == 1  # not three or four
        cold = fill_minute_bars(await adapter.fetch_ohlcv(symbol, "1m", 1500))[-1500:]
        assert len(warm) == 1500 and [b[0] for b in warm] == [b[0] for b in cold]
        assert warm == [pytest.approx(b) for b in cold]  # the same 1500 bars as a cold bootstrap
    await warm_feeder.close()


@pytest.mark.asyncio
async def test_two_feeders_cannot_share_one_store(make_adapter, tmp_path) -> None:
    first = MarketFeeder(SYMBOLS, adapter=make_adapter(SYMBOLS), data_dir=tmp_path)
    with pytest.raises(StoreLockedError, match="in use by another process"):
        MarketFeeder(SYMBOLS, adapter=make_adapter(SYMBOLS), data_dir=tmp_path)
    await first.close()


@pytest.mark.asyncio
async def test_a_warm_start_writes_back_only_the_bars_the_store_lacks(
    sim: MexcSimulator, make_adapter, tmp_path
) -> None:
    """Of a warm start's history, only what REST added or corrected goes to the store's writer
    (its thread competes with the event loop), and the store then holds the feeder's bars."""
    mds: list[dict] = []
    async with running(MarketFeeder(SYMBOLS, adapter=make_adapter(SYMBOLS), data_dir=tmp_path), mds):
        pass
    sim.faults.skew_clock(sim.clock.skew_ms + 10 * MIN)
    warm = MarketFeeder(SYMBOLS, adapter=make_adapter(SYMBOLS), data_dir=tmp_path)
    async with running(warm, []):
        pass
    assert warm.bar_sink is not None and warm.bar_sink.writer.written < 60 * len(SYMBOLS)  # not 1500 each
    for symbol in SYMBOLS:
        stored = [tuple(b[k] for k in BAR_KEYS) for b in load_bars(tmp_path, symbol)]
        assert stored[-1500:] == ring(warm.states[symbol])[-1500:]
