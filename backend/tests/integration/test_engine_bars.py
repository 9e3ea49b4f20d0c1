"""Engines get bars in this process: the history before their first md, every closed bar (a
quiet symbol's too, by the exchange clock), and the exchange's bars after an outage, as
revisions (the real feeder on the loopback simulator)."""

from __future__ import annotations

from typing import Any

import pytest

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.data.bar_feed import CLOSE_GRACE_MS
from backend.src.data.market_feeder import MarketFeeder
from backend.src.engine.manager import EngineManager
from backend.src.sim.server import MexcSimulator
from backend.tests.helpers import BarRecorder, assert_accounting, held, ring, wait_until

BTC, DOGE = "BTC/USDT", "DOGE/USDT"
MIN = 60_000


async def next_minute(sim: MexcSimulator, adapter: MexcAdapter, into_ms: int = 500) -> None:
    """Let the exchange clock pass ``into_ms`` into the next minute without waiting for it."""
    sim.faults.skew_clock(sim.clock.skew_ms + MIN - sim.clock.now_ms() % MIN + into_ms)
    await adapter.fetch_time(samples=7)  # a fresh median: the whole window after the jump


@pytest.mark.asyncio
async def test_engines_start_with_the_history_and_get_every_closed_bar(
    sim: MexcSimulator, make_adapter
) -> None:
    adapter = make_adapter([BTC, DOGE])
    feeder = MarketFeeder([BTC, DOGE], adapter=adapter)
    feeder.bar_feed.interval = 0.1  # sweep often: the clock closes a quiet minute right after its grace
    manager = EngineManager([BTC, DOGE], feeder=feeder, engine_factory=BarRecorder)
    async with manager:
        engines: dict[str, Any] = dict(manager.engines)
        await wait_until(lambda: all(e.bars_at_first_md is not None for e in engines.values()), 10.0)
        assert [e.bars_at_first_md for e in engines.values()] == [1500, 1500]  # before the first md
        assert all(e.got == [] for e in engines.values())  # the history is no news
        sim.faults.silence(channel="*deals*DOGEUSDT")  # DOGE trades no more: only the clock closes
        await next_minute(sim, adapter, CLOSE_GRACE_MS + 500)  # no need to wait for the grace
        await wait_until(lambda: all(e.got for e in engines.values()), 5.0)
        await next_minute(sim, adapter, CLOSE_GRACE_MS + 500)
        await wait_until(lambda: any(b["synthetic"] for b in engines[DOGE].got), 5.0)
    for symbol, engine in engines.items():
        state = feeder.states[symbol]
        assert held(engine) == ring(state)  # the feeder's bars, minute for minute
        closed = [b["ts"] for b in engine.got if not b["revision"]]
        assert closed == [t for t, *_ in ring(state)][-len(closed) :]  # each once, in order
        assert engine.own_task
        assert_accounting(engine)
        stats = engine.md_stats
        assert stats["bars_received"] == stats["bars_delivered"] + stats["bars_queued"]
        assert stats["bars_dropped_queue_full"] == stats["on_bar_errors"] == 0
    quiet = engines[DOGE].got[-1]
    assert quiet["synthetic"] and quiet["volume"] == 0.0
    assert quiet["open"] == quiet["high"] == quiet["low"] == quiet["close"]
    assert manager.stats()["unrouted_bars"] == 0


@pytest.mark.asyncio
async def test_bars_corrected_after_an_outage_reach_the_engine_as_revisions(
    sim: MexcSimulator, make_adapter
) -> None:
    """The exchange's clock passes a minute while we are cut off: the engine gets that minute's
    bar as it closes (the trades before the outage only), then, once the outage is backfilled,
    the exchange's bar for the same minute marked ``revision``, and holds that one."""
    adapter = make_adapter([BTC])
    feeder = MarketFeeder([BTC], adapter=adapter)
    feeder.bar_feed.interval = 0.1  # sweep often: the clock closes a quiet minute right after its grace
    manager = EngineManager([BTC], feeder=feeder, engine_factory=BarRecorder)
    async with manager:
        engine: Any = manager.engines[BTC]
        await wait_until(lambda: engine.bars_at_first_md is not None, 10.0)
        sim.faults.skew_clock(sim.clock.skew_ms + MIN - sim.clock.now_ms() % MIN - 1_000)
        await adapter.fetch_time(samples=7)  # about a second before the minute ends
        state = feeder.states[BTC]
        await wait_until(lambda: state.bars.forming is not None, 2.0)
        minute = int(state.bars.forming[0])
        sim.faults.refuse_connections(4.0)  # the exchange trades on; we miss it
        await wait_until(lambda: any(b["ts"] == minute for b in engine.got), 4.0)  # closed by the clock
        await wait_until(lambda: feeder.feed_health.channel(BTC, "trades").recovery_count >= 1, 10.0)
        await next_minute(sim, adapter)  # the outage's last minute closes: it is backfilled
        await wait_until(lambda: any(b["ts"] == minute and b["revision"] for b in engine.got), 10.0)
    scale = sim.model.get(BTC)
    exchange = sim.model.bar(BTC, minute)
    revised = [b for b in engine.got if b["ts"] == minute]
    assert [b["revision"] for b in revised] == [False, True]  # closed, then corrected once
    assert revised[1]["close"] == pytest.approx(exchange.close / scale.price_scale)
    assert revised[1]["volume"] == pytest.approx(exchange.volume / scale.qty_scale)
    assert revised[1]["volume"] > revised[0]["volume"]  # the trades we missed
    assert next(b for b in engine.bars if b["ts"] == minute) == revised[1]  # the exchange's version
    assert held(engine) == ring(state)
    assert engine.md_stats["bar_revisions"] >= 1
