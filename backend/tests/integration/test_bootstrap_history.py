"""A cold bootstrap's history costs the window's pages (and one for the bar before it), not the
days of pages an illiquid pair's 1500 latest real bars span, and is the same history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from operator import itemgetter

import pytest
import pytest_asyncio

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.data.bootstrap import recent
from backend.src.data.gap_filler import fill_minute_bars
from backend.src.data.live_bars import LiveBars
from backend.src.data.market_feeder import MarketFeeder
from backend.src.sim.market_model import DEFAULT_MARKETS, SimMarket
from backend.src.sim.server import MexcSimulator
from backend.tests.conftest import FAST_OPTIONS

from .conftest import fast_backoff
from .test_adapter_rest import MIN, kline_requests

#: a trade about every four minutes: 1500 real bars span about four days
SPARSE = SimMarket("SPARSE/USDT", 2.0, has_perp=False, price_decimals=4, qty_decimals=2, activity=0.004)
#: a trade every few hours: the 1500 latest minutes may hold none
DORMANT = SimMarket("DORMANT/USDT", 3.0, has_perp=False, price_decimals=4, qty_decimals=2, activity=0.0001)
#: listed two hours ago: nothing exists before
YOUNG = SimMarket("YOUNG/USDT", 1.0, has_perp=False, listing_minutes_ago=120)
SYMBOLS = ["BTC/USDT", "SPARSE/USDT", "DORMANT/USDT", "YOUNG/USDT"]


@pytest_asyncio.fixture
async def sparse_sim() -> AsyncIterator[MexcSimulator]:
    async with MexcSimulator([*DEFAULT_MARKETS, SPARSE, DORMANT, YOUNG], seed=5, **FAST_OPTIONS) as simulator:
        yield simulator


def up_to_now(history: list[list], now_closed: int) -> list[list]:
    """A bootstrap's history as the feeder's ring holds it once the minutes up to now closed."""
    bars = LiveBars(history, 1500)
    bars.close_until(now_closed + MIN)
    return [list(b) for b in bars.closed]


async def bootstrap_requests(sim: MexcSimulator, feeder: MarketFeeder, symbol: str) -> tuple[list[list], int]:
    before = len(kline_requests(sim))
    bars = await feeder.bootstrap_bars(symbol)
    return bars, len(kline_requests(sim)) - before


@pytest.mark.asyncio
async def test_the_history_of_every_kind_of_market_in_few_requests(sparse_sim: MexcSimulator) -> None:
    adapter = MexcAdapter(SYMBOLS, rate_limit=False, urls=sparse_sim.urls, backoff_factory=fast_backoff)
    feeder = MarketFeeder(SYMBOLS, adapter=adapter)
    try:
        await adapter.fetch_time(samples=3)
        costs, compared = {}, set()
        for symbol in SYMBOLS:
            bars, costs[symbol] = await bootstrap_requests(sparse_sim, feeder, symbol)
            before = len(kline_requests(sparse_sim))
            latest = await adapter.fetch_ohlcv(symbol, "1m", 1500)  # the 1500 latest real bars
            spent = len(kline_requests(sparse_sim)) - before
            assert bars, symbol
            now_closed = sparse_sim.clock.now_ms() // MIN * MIN - MIN
            assert bars[-1][0] >= now_closed - MIN * 1500  # the latest minutes, not days ago
            if latest and latest[-1][0] >= now_closed - 1499 * MIN:  # a trade in the window
                expected = fill_minute_bars(recent(sorted(latest, key=itemgetter(0)), 1500))[-1500:]
                # the same 1500 minutes once both are closed up to now, as the feeder does
                assert up_to_now(bars, now_closed) == up_to_now(expected, now_closed), symbol
                compared.add(symbol)
            if symbol == "SPARSE/USDT":
                assert spent >= 9  # about four days of pages
        assert {"BTC/USDT", "SPARSE/USDT", "YOUNG/USDT"} <= compared
        assert costs["BTC/USDT"] == 3  # three pages of 500
        assert costs["SPARSE/USDT"] == 4  # and one page for the bar before the window
        assert costs["YOUNG/USDT"] <= 6  # nothing before the listing: as far as fetch_ohlcv looks
        assert costs["DORMANT/USDT"] <= 6
        young = await feeder.bootstrap_bars("YOUNG/USDT")
        assert len(young) <= 121  # its history starts at the listing
    finally:
        await feeder.close()
