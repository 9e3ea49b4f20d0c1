"""Many symbols in one feeder: a universe instead of a list, symbols joining and leaving while
running, bounded concurrent bootstrap, and one 429 pausing every REST caller."""

from __future__ import annotations

import asyncio
import time

import pytest

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.adapters.mexc_universe import UniverseSpec
from backend.src.data.bootstrap import BootstrapProgress
from backend.src.data.market_feeder import MarketFeeder
from backend.src.sim.market_model import SimMarket
from backend.src.sim.server import MexcSimulator
from backend.tests.helpers import wait_until

from .test_feeder_health import running


def seen(mds: list[dict]) -> set[str]:
    return {md["symbol"] for md in mds}


@pytest.mark.asyncio
async def test_usdt_universe_streams_every_active_market_and_skips_inactive(make_adapter) -> None:
    events: list[tuple[int, int, str]] = []

    def progress(p: BootstrapProgress, symbol: str) -> None:
        events.append((p.finished, p.total, symbol))

    mds: list[dict] = []
    feeder = MarketFeeder([], adapter=make_adapter(), universe=UniverseSpec("USDT"), on_progress=progress)
    async with running(feeder, mds):
        await wait_until(lambda: seen(mds) == {"BTC/USDT", "ETH/USDT", "DOGE/USDT"}, 10.0)
        assert sorted(feeder.symbols) == ["BTC/USDT", "DOGE/USDT", "ETH/USDT"]  # OLD/USDT is inactive
        assert feeder.state()["bootstrap"] == {"total": 3, "ready": 3, "failed": 0}
    assert sorted(e[0] for e in events) == [1, 2, 3] and {e[1] for e in events} == {3}
    assert not feeder.failed  # the inactive market was never a candidate, not a failure


@pytest.mark.asyncio
async def test_perp_only_top_one_is_the_busiest_perp_market(make_adapter, sim: MexcSimulator) -> None:
    adapter: MexcAdapter = make_adapter()
    tickers = await adapter.rest.fetch_tickers(None, {"type": "spot"})  # what MEXC says right now
    busiest = max(("BTC/USDT", "ETH/USDT"), key=lambda s: tickers[s]["quoteVolume"])
    selection = await adapter.select_universe(UniverseSpec("USDT", perp_only=True, top=1))
    assert selection.symbols == (busiest,)
    assert selection.skipped["DOGE/USDT"] == "no active perpetual"
    assert sim.recorder.rest_requests["/api/v3/ticker/24hr"] >= 2  # one request for every pair


@pytest.mark.asyncio
async def test_symbols_join_and_leave_while_running(make_adapter, sim: MexcSimulator) -> None:
    mds: list[dict] = []
    feeder = MarketFeeder(["BTC/USDT"], adapter=make_adapter(["BTC/USDT"]), dynamic=True)
    async with running(feeder, mds) as task:
        assert await feeder.add_symbols(["ETH/USDT", "NOPE/USDT", "BTC/USDT"]) == ["ETH/USDT"]
        assert "not listed" in feeder.failed["NOPE/USDT"]
        await wait_until(lambda: "ETH/USDT" in seen(mds), 10.0)

        btc_before = feeder.health()["totals"]["received"]
        assert await feeder.remove_symbols(["BTC/USDT", "DOGE/USDT"]) == ["BTC/USDT"]
        n_btc = sum(md["symbol"] == "BTC/USDT" for md in mds)
        pushed = sim.recorder.book_tickers_sent["BTCUSDT"]
        await asyncio.sleep(0.5)  # ten push intervals
        assert sum(md["symbol"] == "BTC/USDT" for md in mds) == n_btc  # nothing after removal
        assert sim.recorder.book_tickers_sent["BTCUSDT"] <= pushed + 1  # unsubscribed at MEXC
        report = feeder.health()
        assert "BTC/USDT" not in report["symbols"] and report["totals"]["received"] >= btc_before
        assert feeder.symbols == ["ETH/USDT"] and feeder.state()["streaming"] == ["ETH/USDT"]

        assert await feeder.remove_symbols(["ETH/USDT"]) == ["ETH/USDT"]
        await asyncio.sleep(0.1)
        assert not task.done()  # a dynamic feeder waits for symbols instead of ending
        assert await feeder.add_symbols(["BTC/USDT"]) == ["BTC/USDT"]  # back, on a free slot
        n_btc = sum(md["symbol"] == "BTC/USDT" for md in mds)
        await wait_until(lambda: sum(md["symbol"] == "BTC/USDT" for md in mds) > n_btc + 5, 10.0)
    assert not {"BTC/USDT", "ETH/USDT"} & set(feeder.failed)


@pytest.mark.asyncio
async def test_a_slow_bootstrap_does_not_hold_back_the_other_symbols(
    make_adapter, sim: MexcSimulator
) -> None:
    adapter: MexcAdapter = make_adapter(["BTC/USDT", "ETH/USDT"])
    await adapter.instruments()
    sim.faults.rest_hang(count=1, path="/api/v3/klines", seconds=2.0)  # the first page of one symbol
    mds: list[dict] = []
    feeder = MarketFeeder(["BTC/USDT", "ETH/USDT"], adapter=adapter, bootstrap_concurrency=2)
    started = time.monotonic()
    async with running(feeder, mds):
        first = time.monotonic() - started
        assert feeder.progress.ready == 1  # the other symbol is still bootstrapping
        assert len(seen(mds)) == 1
        await wait_until(lambda: len(seen(mds)) == 2, 10.0)
    assert first < 1.5


@pytest.mark.asyncio
async def test_bootstrap_concurrency_is_bounded(make_adapter, sim: MexcSimulator) -> None:
    """With one slot, each symbol's kline pages are all requested before the next symbol's."""
    symbols = ["BTC/USDT", "ETH/USDT", "DOGE/USDT"]
    feeder = MarketFeeder(symbols, adapter=make_adapter(symbols), bootstrap_concurrency=1)
    async with running(feeder, []):
        await wait_until(lambda: feeder.progress.ready == 3, 10.0)
    order = [q["symbol"] for path, q in sim.recorder.rest_log if path == "/api/v3/klines"]
    runs = [s for i, s in enumerate(order) if i == 0 or order[i - 1] != s]
    assert len(runs) == 3 and set(runs) == {"BTCUSDT", "ETHUSDT", "DOGEUSDT"}, order


@pytest.mark.asyncio
async def test_a_429_pauses_every_rest_caller_not_just_the_one_refused(make_adapter, sim) -> None:
    adapter: MexcAdapter = make_adapter()
    await adapter.instruments()
    sim.faults.rest_error(429, count=1, path="/api/v3/depth", retry_after=1)
    started = time.monotonic()
    book = asyncio.create_task(adapter.fetch_orderbook("BTC/USDT"))
    await wait_until(lambda: sim.recorder.rest_requests["/api/v3/depth"] == 1, 2.0)
    await asyncio.sleep(0.05)  # the 429 has been answered and seen
    before = sim.recorder.rest_requests["/api/v3/time"]
    await adapter.fetch_time(samples=1)  # another caller, another endpoint: waits out the pause
    assert time.monotonic() - started >= 0.95
    assert sim.recorder.rest_requests["/api/v3/time"] == before + 1
    assert (await book)["bids"]


@pytest.mark.asyncio
async def test_market_reload_picks_up_listings_and_delistings(make_adapter, sim: MexcSimulator) -> None:
    mds: list[dict] = []
    feeder = MarketFeeder([], adapter=make_adapter(), universe=UniverseSpec("USDT"), reload_interval=0.3)
    async with running(feeder, mds):
        await wait_until(lambda: seen(mds) == {"BTC/USDT", "ETH/USDT", "DOGE/USDT"}, 10.0)
        sim.list_market(SimMarket("NEW/USDT", 2.0, has_perp=False, price_decimals=4, qty_decimals=2))
        sim.delist_market("DOGE/USDT")
        await wait_until(lambda: "NEW/USDT" in seen(mds) and "DOGE/USDT" not in feeder.symbols, 10.0)
        n_doge = sum(md["symbol"] == "DOGE/USDT" for md in mds)
        await asyncio.sleep(0.4)
        assert sum(md["symbol"] == "DOGE/USDT" for md in mds) == n_doge
        assert sorted(feeder.symbols) == ["BTC/USDT", "ETH/USDT", "NEW/USDT"]
        assert "DOGE/USDT" not in feeder.health()["symbols"]  # not reported stale or down
    assert not feeder.failed  # leaving the universe is not a failure


@pytest.mark.asyncio
async def test_a_delisted_perpetual_restarts_its_symbol_without_funding(
    make_adapter, sim: MexcSimulator
) -> None:
    mds: list[dict] = []
    feeder = MarketFeeder([], adapter=make_adapter(), universe=UniverseSpec("USDT"), reload_interval=0.3)
    async with running(feeder, mds):
        await wait_until(
            lambda: any(md["symbol"] == "BTC/USDT" and md["funding"] is not None for md in mds), 10
        )
        sim.delist_market("BTC/USDT:USDT")  # the perpetual only; spot trades on
        mark = len(mds)
        await wait_until(
            lambda: any(md["symbol"] == "BTC/USDT" and md["funding"] is None for md in mds[mark:]), 10
        )
        later = len(mds)
        await wait_until(lambda: sum(md["symbol"] == "BTC/USDT" for md in mds[later:]) >= 5, 10.0)
        assert all(
            md["funding"] is None and md["oi"] is None for md in mds[later:] if md["symbol"] == "BTC/USDT"
        )
        assert "swap" not in feeder.health()["symbols"]["BTC/USDT"]["channels"]
    assert not feeder.failed
