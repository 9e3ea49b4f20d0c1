"""The real ``ccxt.async_support.mexc`` against the simulator's REST API."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import pytest

from backend.src.sim import MexcSimulator, SimMarket

from .conftest import client_config

MINUTE = 60_000


@pytest.mark.asyncio
async def test_load_markets_spot_swap_and_inactive(sim: MexcSimulator, rest: ccxt_async.mexc):
    markets = await rest.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "DOGE/USDT", "OLD/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"} <= set(markets)
    assert "DOGE/USDT:USDT" not in markets  # spot-only market has no perpetual
    assert markets["BTC/USDT"]["id"] == "BTCUSDT"
    # as on the real MEXC: status "1" but no API orders, which ccxt's ``active`` counts against it
    assert markets["BTC/USDT"]["active"] is False and markets["BTC/USDT"]["info"]["status"] == "1"
    assert markets["ETH/USDT"]["active"] is True
    assert markets["OLD/USDT"]["active"] is False  # delisted: status "2"
    perp = markets["BTC/USDT:USDT"]
    assert perp["id"] == "BTC_USDT" and perp["contractSize"] == 0.0001 and perp["active"]
    # load_markets calls exactly these two endpoints; no currencies call without keys
    assert set(sim.recorder.rest_requests) == {"/api/v3/exchangeInfo", "/api/v1/contract/detail"}


@pytest.mark.asyncio
async def test_constructor_deep_merges_urls(sim: MexcSimulator):
    ex = ccxt_async.mexc(client_config(sim))
    try:
        api = ex.urls["api"]
        assert api["spot"]["public"] == sim.base_url
        assert api["contract"]["public"] == sim.base_url + "/api/v1/contract"
        assert api["spot2"]["public"].startswith("https://www.mexc.com")  # kept by the merge
    finally:
        await ex.close()


@pytest.mark.asyncio
async def test_fetch_ohlcv_1500_bars_in_three_pages(sim: MexcSimulator, rest: ccxt_async.mexc):
    await rest.load_markets()
    now = sim.clock.now_ms()
    until = now // MINUTE * MINUTE - MINUTE  # last closed minute
    since = until - 1499 * MINUTE
    bars: list[list[float]] = []
    cursor = since
    while cursor <= until:
        page = await rest.fetch_ohlcv("BTC/USDT", "1m", cursor, 500, {"until": until})
        assert 0 < len(page) <= 500
        bars.extend(page)
        cursor = page[-1][0] + MINUTE
    assert len(bars) == 1500
    assert sim.recorder.rest_requests["/api/v3/klines"] == 3
    stamps = [b[0] for b in bars]
    assert stamps == list(range(since, until + 1, MINUTE))
    for _, o, h, low, c, v in bars:
        assert low <= min(o, c) <= max(o, c) <= h and v > 0
    # what ccxt sent: startTime=since, endTime=until+1 (MEXC's endTime is exclusive)
    path, query = sim.recorder.rest_log[-1]
    assert path == "/api/v3/klines" and query["endTime"] == str(until + 1)


@pytest.mark.asyncio
async def test_klines_limit_caps_at_500_and_last_row_is_forming_bar(
    sim: MexcSimulator, rest: ccxt_async.mexc
):
    await rest.load_markets()
    bars = await rest.fetch_ohlcv("BTC/USDT", "1m", limit=1500)
    assert len(bars) == 500  # one request can never give 1500 bars
    sm = sim.model.get("BTC/USDT")
    newest = sm.bars.between(0, 2**62)[-1]
    assert bars[-1][0] == newest.open_ms


@pytest.mark.asyncio
async def test_higher_timeframe_is_aggregated_from_1m(sim: MexcSimulator, rest: ccxt_async.mexc):
    await rest.load_markets()
    hour = 3_600_000
    start = (sim.clock.now_ms() // hour - 10) * hour
    h1 = await rest.fetch_ohlcv("ETH/USDT", "1h", start, 3)
    m1 = await rest.fetch_ohlcv("ETH/USDT", "1m", start, 60)
    assert len(h1) == 3 and len(m1) == 60
    assert h1[0][0] == start
    assert h1[0][1] == m1[0][1] and h1[0][4] == m1[-1][4]
    assert h1[0][2] == max(b[2] for b in m1) and h1[0][3] == min(b[3] for b in m1)
    assert h1[0][5] == pytest.approx(sum(b[5] for b in m1))


@pytest.mark.asyncio
async def test_listing_time_limits_history(make_pro):
    markets = [SimMarket("NEW/USDT", 2.0, has_perp=False, listing_minutes_ago=30)]
    async with MexcSimulator(markets, seed=3) as sim:
        ex = make_pro(sim)
        bars = await ex.fetch_ohlcv("NEW/USDT", "1m", sim.clock.now_ms() - 100 * MINUTE)
        assert 0 < len(bars) <= 31
        assert bars[0][0] >= sim.clock.now_ms() // MINUTE * MINUTE - 30 * MINUTE


@pytest.mark.asyncio
async def test_fetch_order_book_ticker_time_funding(sim: MexcSimulator, rest: ccxt_async.mexc):
    await rest.load_markets()
    ob = await rest.fetch_order_book("BTC/USDT", 10)
    assert len(ob["bids"]) == 10 and len(ob["asks"]) == 10
    assert ob["bids"][0][0] < ob["asks"][0][0]
    assert 0 < ob["nonce"] <= sim.model.get("BTC/USDT").depth_version
    swap_book = await rest.fetch_order_book("BTC/USDT:USDT", 5)
    assert len(swap_book["bids"]) == 5 and swap_book["nonce"] > 0
    for _ in range(100):  # the first trades come with the first pushes
        if sim.model.trades_emitted()["BTC/USDT"]:
            break
        await asyncio.sleep(0.05)
    assert len(await rest.fetch_trades("BTC/USDT")) > 0  # aggTrades

    spot = await rest.fetch_ticker("BTC/USDT")
    assert spot["bid"] < spot["ask"] and spot["last"] > 0 and spot["baseVolume"] > 0
    assert spot["info"]["symbol"] == "BTCUSDT"

    swap = await rest.fetch_ticker("BTC/USDT:USDT")
    assert swap["last"] > 0 and swap["bid"] <= swap["ask"]
    assert "fundingRate" in swap["info"] and swap["info"]["holdVol"] > 0

    server_time = await rest.fetch_time()
    assert abs(server_time - int(time.time() * 1000)) < 1000

    rate = await rest.fetch_funding_rate("BTC/USDT:USDT")
    assert rate["symbol"] == "BTC/USDT:USDT" and rate["interval"] == "8h"
    assert rate["fundingTimestamp"] % (8 * 3_600_000) == 0


@pytest.mark.asyncio
async def test_errors_match_mexc(sim: MexcSimulator, rest: ccxt_async.mexc):
    await rest.load_markets()
    with pytest.raises(ccxt.BadSymbol):  # HTTP 400 {"code":10007,"msg":"bad symbol"}
        await rest.spotPublicGetKlines({"symbol": "NOPEUSDT", "interval": "1m"})
    with pytest.raises(ccxt.BadSymbol):  # contracts: HTTP 200 {"success":false,"code":1001}
        await rest.contractPublicGetFundingRateSymbol({"symbol": "NOPE_USDT"})
    with pytest.raises(ccxt.ExchangeError):  # depth limit out of range
        await rest.fetch_order_book("BTC/USDT", 6000)
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.base_url + "/api/v3/nothing") as resp:
            assert resp.status == 404
        async with session.get(
            sim.base_url + "/api/v3/klines", params={"symbol": "NOPEUSDT", "interval": "1m"}
        ) as resp:
            assert resp.status == 400
            assert await resp.json() == {"code": 10007, "msg": "bad symbol"}  # as recorded


@pytest.mark.asyncio
async def test_history_is_deterministic_per_seed():
    async with MexcSimulator(seed=7) as a, MexcSimulator(seed=7) as b, MexcSimulator(seed=8) as c:
        minute = a.clock.now_ms() // MINUTE * MINUTE - 120 * MINUTE
        if b.clock.now_ms() // MINUTE * MINUTE - 120 * MINUTE != minute:  # minute rolled over
            pytest.skip("simulators started in different minutes")
        assert a.model.bar("BTC/USDT", minute) == b.model.bar("BTC/USDT", minute)
        assert a.model.bar("BTC/USDT", minute) != c.model.bar("BTC/USDT", minute)
