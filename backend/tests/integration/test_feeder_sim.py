"""MarketFeeder and EngineManager end to end against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from typing import Any

import pytest

from backend.src.data.market_feeder import MarketFeeder
from backend.src.engine.manager import EngineManager
from backend.src.errors import NoValidSymbolError
from backend.src.market_data import MD_FIELDS
from backend.src.sim.server import MexcSimulator
from backend.tests.helpers import wait_until

#: the Epic's fields are all there, and nothing beyond the declared schema
EPIC = {"symbol", "price", "spread", "vol", "texts", "funding", "oi"}
REQUIRED = set(MD_FIELDS)
assert EPIC <= REQUIRED
MIN = 60_000


class StaticTexts:
    def __init__(self) -> None:
        self.tracked: list[str] = []

    def track(self, symbols: Iterable[str]) -> None:
        self.tracked.extend(symbols)

    def texts_for(self, symbol: str) -> list[str]:
        return [f"news about {symbol.split('/')[0]}"]


async def collect(feeder: MarketFeeder, until: Any, timeout: float = 10.0) -> list[dict]:  # noqa: ASYNC109
    """Run the feeder until ``until(mds)`` holds; return every md delivered."""
    mds: list[dict] = []
    run = asyncio.create_task(feeder.run(mds.append))
    deadline = time.monotonic() + timeout
    try:
        while not until(mds):
            assert not run.done(), run.exception() if not run.cancelled() else "cancelled"
            assert time.monotonic() < deadline, f"condition not met with {len(mds)} md"
            await asyncio.sleep(0.02)
    finally:
        await feeder.close()
        with contextlib.suppress(asyncio.CancelledError):
            await run
    return mds


def symbols_seen(mds: list[dict]) -> set[str]:
    return {md["symbol"] for md in mds}


@pytest.mark.asyncio
async def test_md_fields_for_perp_and_spot_only_symbols_and_bad_symbol_skipped(make_adapter, sim) -> None:
    adapter = make_adapter(["BTC/USDT", "DOGE/USDT", "NOPE/USDT"])
    texts = StaticTexts()
    feeder = MarketFeeder(adapter.symbols, adapter=adapter, texts=texts)
    mds = await collect(feeder, lambda m: {"BTC/USDT", "DOGE/USDT"} <= symbols_seen(m) and len(m) > 30)
    assert set(feeder.failed) == {"NOPE/USDT"} and "not listed" in feeder.failed["NOPE/USDT"]
    assert texts.tracked == ["BTC/USDT", "DOGE/USDT"]  # the hub learns the symbols that stream
    for md in mds:
        assert set(md) == REQUIRED
        assert md["price"] and md["price"] > 0
        assert md["spread"] == pytest.approx(md["ask"] - md["bid"]) and md["spread"] >= 0
        assert md["vol"] > 0 and md["texts"] == [f"news about {md['symbol'].split('/')[0]}"]
        assert abs(md["ts"] - sim.clock.now_ms()) < 5_000
    btc = [md for md in mds if md["symbol"] == "BTC/USDT"]
    doge = [md for md in mds if md["symbol"] == "DOGE/USDT"]
    assert all(md["funding"] is not None and md["oi"] > 0 for md in btc)
    assert all(md["funding"] is None and md["oi"] is None for md in doge)


@pytest.mark.asyncio
async def test_price_tracks_the_exchange_and_vol_is_24h_of_bars(make_adapter, sim) -> None:
    adapter = make_adapter(["ETH/USDT"])
    feeder = MarketFeeder(["ETH/USDT"], adapter=adapter)
    mds = await collect(feeder, lambda m: len(m) > 20)
    state = feeder.states["ETH/USDT"]
    bars = list(state.bars.closed)
    forming = state.bars.forming[5] if state.bars.forming else 0.0
    assert mds[-1]["vol"] == pytest.approx(sum(b[5] for b in bars[-1440:]) + forming)
    assert abs(mds[-1]["price"] - sim.model.price("ETH/USDT")) / sim.model.price("ETH/USDT") < 0.01


@pytest.mark.asyncio
async def test_bootstrap_gives_1500_closed_gap_filled_bars(make_adapter, sim) -> None:
    now = sim.clock.now_ms() // MIN * MIN
    sim.faults.omit_minutes([now - 5 * MIN], ["BTC/USDT"])
    feeder = MarketFeeder(["BTC/USDT"], adapter=make_adapter())
    bars = await feeder.bootstrap_bars("BTC/USDT")
    await feeder.close()
    assert len(bars) == 1500 and bars[-1][0] == now - MIN
    filled = next(b for b in bars if b[0] == now - 5 * MIN)
    before = next(b for b in bars if b[0] == now - 6 * MIN)
    assert filled[1:] == [before[4]] * 4 + [0.0]


@pytest.mark.asyncio
async def test_no_valid_symbol_raises_with_the_reasons(make_adapter) -> None:
    adapter = make_adapter(["NOPE/USDT", "OLD/USDT"])
    feeder = MarketFeeder(adapter.symbols, adapter=adapter)
    with pytest.raises(NoValidSymbolError, match="NOPE/USDT") as info:
        await feeder.run(lambda md: None)
    assert "OLD/USDT" in str(info.value)
    await feeder.close()


@pytest.mark.asyncio
async def test_async_on_md_is_awaited(make_adapter) -> None:
    got: list[dict] = []

    async def on_md(md: dict) -> None:
        await asyncio.sleep(0)
        got.append(md)

    feeder = MarketFeeder(["BTC/USDT"], adapter=make_adapter())
    run = asyncio.create_task(feeder.run(on_md))
    try:
        await wait_until(lambda: len(got) >= 5, 10.0)
    finally:
        await feeder.close()
        await run
    assert feeder.delivered["BTC/USDT"] >= 5


@pytest.mark.asyncio
async def test_engine_manager_routes_live_md_to_each_engine(make_adapter, sim: MexcSimulator) -> None:
    symbols = ["BTC/USDT", "ETH/USDT"]
    adapter = make_adapter(symbols)
    manager = EngineManager(symbols, feeder=MarketFeeder(symbols, adapter=adapter))
    await manager.start()
    try:
        await wait_until(lambda: all(e.last_md for e in manager.engines.values()), 10.0)
    finally:
        await manager.stop()
    for symbol, engine in manager.engines.items():
        assert engine.last_md["symbol"] == symbol and set(engine.last_md) == REQUIRED
    stats = manager.stats()
    assert stats["unrouted"] == 0
    assert all(s["received"] > 0 for s in stats["engines"].values())
