"""Illiquid markets: a silent book ticker on a healthy connection is confirmed through MEXC's
REST book (fresh md, no reset), while a silent subscription whose book moved on is reset early."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.data.health import FeedHealth
from backend.src.data.market_feeder import MarketFeeder
from backend.src.sim.market_model import DEFAULT_MARKETS, SimMarket
from backend.src.sim.server import MexcSimulator
from backend.tests.conftest import FAST_OPTIONS
from backend.tests.helpers import wait_until

from .conftest import fast_backoff
from .streams import Collector
from .test_feeder_health import running

QUIET = SimMarket("QUIET/USDT", 2.0, has_perp=False, price_decimals=4, qty_decimals=2, activity=0.0005)


@pytest_asyncio.fixture
async def quiet_sim() -> AsyncIterator[MexcSimulator]:
    async with MexcSimulator([*DEFAULT_MARKETS, QUIET], seed=3, **FAST_OPTIONS) as simulator:
        yield simulator


@pytest.mark.asyncio
async def test_quiet_market_is_confirmed_fresh_without_resetting_its_connection(quiet_sim) -> None:
    symbols = ["BTC/USDT", "QUIET/USDT"]  # on one connection
    adapter = MexcAdapter(symbols, rate_limit=False, urls=quiet_sim.urls, quiet_after=0.3)
    feeder = MarketFeeder(
        symbols, adapter=adapter, health=FeedHealth(stale_after_s=1.0), monitor_interval=0.05
    )
    mds: list[dict] = []
    started = time.monotonic()
    async with running(feeder, mds):
        # confirmations are stamped with their snapshot (one per 2 s): wait for a few snapshots
        await wait_until(lambda: sum(md["symbol"] == "QUIET/USDT" for md in mds) >= 12, 15.0)
        elapsed = time.monotonic() - started
        report = feeder.health()
    quiet = [md for md in mds if md["symbol"] == "QUIET/USDT"]
    assert quiet_sim.recorder.book_tickers_sent["QUIETUSDT"] == 0  # MEXC pushed nothing for it
    assert not any(md["stale"] for md in quiet) and quiet[-1]["ts"] > quiet[0]["ts"]  # fresh, moving time
    assert quiet[-1]["bid"] == pytest.approx(quiet_sim.model.get("QUIET/USDT").book_ticker().bid * 1e-4)
    assert adapter.counters[("QUIET/USDT ticker", "quiet")] >= 5
    assert not [k for k in adapter.counters if k[1] == "stale"]  # no connection was reset
    assert report["symbols"]["QUIET/USDT"]["uptime_pct"] == 100.0 and not report["totals"]["stale_symbols"]
    assert adapter.books.fetches <= elapsed / adapter.books.ttl + 2  # one request serves all


@pytest.mark.asyncio
async def test_silent_subscription_of_a_moving_market_is_reset_long_before_stale_after(sim) -> None:
    adapter = MexcAdapter(
        ["BTC/USDT"], rate_limit=False, urls=sim.urls, quiet_after=0.3, backoff_factory=fast_backoff
    )
    try:
        ticks = Collector(adapter.stream_ticker("BTC/USDT"))
        await ticks.wait_for(3)
        sim.faults.silence(channel="*bookTicker*")  # pings answered, market moving, no pushes
        silenced = time.monotonic()
        await wait_until(lambda: adapter.counters[("BTC/USDT ticker", "stale")] == 1, 5.0)
        assert time.monotonic() - silenced < 2.0  # two disagreeing checks, not 30 s of silence
        assert adapter.counters[("BTC/USDT ticker", "moved")] == 2
        assert adapter.counters[("BTC/USDT ticker", "quiet")] == 0  # no stale book passed as fresh
        sim.faults.silence(False)
        n = len(ticks.records)
        await wait_until(lambda: len(ticks.records) > n + 3, 5.0)
        await ticks.stop()
    finally:
        await adapter.close()


@pytest.mark.asyncio
async def test_a_market_that_stops_trading_does_not_reset_its_connection(sim) -> None:
    adapter = MexcAdapter(["DOGE/USDT", "BTC/USDT"], rate_limit=False, urls=sim.urls, quiet_after=0.3)
    try:
        doge, btc = (
            Collector(adapter.stream_ticker("DOGE/USDT")),
            Collector(adapter.stream_ticker("BTC/USDT")),
        )
        await doge.wait_for(3)
        sim.delist_market("DOGE/USDT", remove=True)  # halted: no pushes, no REST book
        await wait_until(lambda: adapter.counters[("DOGE/USDT ticker", "absent")] >= 3, 5.0)
        assert not [k for k in adapter.counters if k[1] == "stale"]  # BTC's connection left alone
        n = len(btc.records)
        await btc.wait_for(n + 5)
        await doge.stop()
        await btc.stop()
    finally:
        await adapter.close()


def move_book(sim: MexcSimulator, symbol: str, pct: float, *, push: bool) -> float:
    """Move a quiet market's book now; pushed to subscribers only with ``push``. The new bid."""
    market = sim.model.get(symbol)
    market.jump(pct)
    now = sim.clock.now_ms()
    events = market.fire([now], now)
    if push:
        sim.spot.publish([events], now)
    return market.book_ticker().bid * 10.0**-market.market.price_decimals


@pytest.mark.asyncio
async def test_a_quiet_book_that_moved_while_we_were_away_is_adopted_not_reset_forever(quiet_sim) -> None:
    """MEXC sends no snapshot on subscribe: a quiet pair whose book changed during an outage
    never pushes that change. Judged against the book pushed before the outage it would look
    dead at every check and reset its connection again and again."""
    adapter = MexcAdapter(
        ["QUIET/USDT"], rate_limit=False, urls=quiet_sim.urls, quiet_after=0.3, backoff_factory=fast_backoff
    )
    try:
        ticks = Collector(adapter.stream_ticker("QUIET/USDT"))
        await ticks.wait_for(1)
        pushed = move_book(quiet_sim, "QUIET/USDT", 3.0, push=True)
        await ticks.wait_until(lambda r: r["bid"] == pytest.approx(pushed), 5.0)
        quiet_sim.faults.refuse_connections(1.0)  # drop the connection, refuse for a second
        moved = move_book(quiet_sim, "QUIET/USDT", 5.0, push=False)  # nobody subscribed is told
        await ticks.wait_until(lambda r: r["bid"] == pytest.approx(moved), 10.0)  # adopted
        # (a silently dropped socket may have been reset once on the way: that one is right)
        resets = adapter.counters[("QUIET/USDT ticker", "stale")]
        moves = adapter.counters[("QUIET/USDT ticker", "moved")]
        n = len(ticks.records)
        await ticks.wait_for(n + 8, 5.0)  # confirmations go on, nothing taken for a dead stream
        assert adapter.counters[("QUIET/USDT ticker", "stale")] == resets <= 1
        assert adapter.counters[("QUIET/USDT ticker", "moved")] == moves
        await ticks.stop()
    finally:
        await adapter.close()


@pytest.mark.asyncio
async def test_a_push_that_arrives_while_nobody_waits_is_not_lost(quiet_sim) -> None:
    """ccxt conflates tickers: a push arriving while the consumer is busy only updates ccxt's
    cache, and the next watch waits for the push after it — minutes away on a quiet pair. The
    stream must hand over the cached one at once."""
    adapter = MexcAdapter(["QUIET/USDT"], rate_limit=False, urls=quiet_sim.urls, quiet_after=5.0)
    records = adapter.stream_ticker("QUIET/USDT")
    try:
        first = move_book(quiet_sim, "QUIET/USDT", 1.0, push=False)
        confirmed = await anext(records)
        assert confirmed["bid"] == pytest.approx(first)  # confirmed from REST
        pushed = move_book(quiet_sim, "QUIET/USDT", 2.0, push=True)  # while we are not waiting
        await asyncio.sleep(0.3)
        started = time.monotonic()
        record = await anext(records)
        assert record["bid"] == pytest.approx(pushed) and time.monotonic() - started < 1.0
        assert record["ts"] >= confirmed["ts"]  # never older than the confirmation: not dropped
        assert not [k for k in adapter.counters if k[1] in ("moved", "stale")]
    finally:
        await records.aclose()
        await adapter.close()
