"""MexcAdapter's REST paths through the real ccxt client, against MEXC's recorded answers.

A loopback aiohttp server answers each endpoint with the body MEXC really sent (recorded by
GoCryptoTrader on 2025-12-31, tests/fixtures/mexc_real); the adapter talks to it through the
same ccxt code that talks to MEXC. GCT truncated arrays to 5 elements: the recorded universe is
six spot pairs (BTCUSDT among them, with ``isSpotTradingAllowed: false``) and five perpetuals.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

import ccxt
import pytest
import pytest_asyncio

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.adapters.mexc_universe import UniverseSpec
from backend.src.backoff import Backoff
from backend.src.errors import UnknownSymbolError
from backend.src.sim.server import MexcSimulator, sim_urls

from ..recorded_real import REST_ROUTES, RecordedMexc, payload


@pytest_asyncio.fixture
async def server() -> AsyncIterator[RecordedMexc]:
    async with RecordedMexc() as srv:
        yield srv


@pytest_asyncio.fixture
async def adapter(server: RecordedMexc) -> AsyncIterator[MexcAdapter]:
    made = MexcAdapter(["BTC/USDT"], rate_limit=False, urls=sim_urls(server.url), rest_attempts=1)
    yield made
    await made.close()


@pytest.mark.asyncio
async def test_btc_usdt_is_an_instrument_although_mexc_takes_no_api_orders_on_it(
    adapter: MexcAdapter, server: RecordedMexc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="backend.src.adapters.mexc_instruments")
    inst = await adapter.instrument("BTC/USDT")
    assert (inst.market_id, inst.perp_symbol, inst.contract_size) == ("BTCUSDT", "BTC/USDT:USDT", 0.0001)
    assert (inst.api_trading, inst.perp_api_trading) == (False, False)
    assert adapter.rest.markets["BTC/USDT"]["active"] is False  # ccxt's verdict, which we overrule
    assert (await adapter.instrument("METAL/USDT")).api_trading is True  # an alt pair
    await adapter.instrument("BTC/USDT")
    noted = [r for r in caplog.records if "no API orders" in r.getMessage()]
    assert len(noted) == 1 and noted[0].levelno == logging.INFO and "BTC/USDT" in noted[0].getMessage()
    assert {path for path, _ in server.requests} == {"/api/v3/exchangeInfo", "/api/v1/contract/detail"}
    with pytest.raises(UnknownSymbolError, match="not listed"):
        await adapter.instrument("ETH/USDT")  # only a perpetual in the recording


@pytest.mark.asyncio
async def test_universe_and_perp_only_selection_keep_btc_usdt(adapter: MexcAdapter) -> None:
    everything = await adapter.select_universe(UniverseSpec("USDT"))
    assert everything.symbols == ("AMPED/USDT", "AO/USDT", "BTC/USDT", "METAL/USDT", "PYTH/USDT", "RARI/USDT")
    assert everything.skipped == {}
    perp_only = await adapter.select_universe(UniverseSpec("USDT", perp_only=True))
    assert perp_only.symbols == ("BTC/USDT",)
    # the all-pairs 24 h ticker (truncated by the recorder) has no BTCUSDT: zero volume, last
    top = await adapter.select_universe(UniverseSpec("USDT", top=2))
    volumes = {row["symbol"]: float(row["quoteVolume"]) for row in payload("spot_ticker24hr_all")}
    busiest = sorted(volumes, key=volumes.__getitem__, reverse=True)[:2]
    assert [s.replace("/", "") for s in top.symbols] == busiest
    assert top.skipped["BTC/USDT"] == "outside the top 2 by 24 h quote volume"


@pytest.mark.asyncio
async def test_order_book_time_and_24h_stats(adapter: MexcAdapter, server: RecordedMexc) -> None:
    book = await adapter.fetch_orderbook("BTC/USDT", 10)
    recorded = payload("spot_depth_btcusdt_limit10")
    assert book["nonce"] == recorded["lastUpdateId"] == 56217769552
    assert book["bids"][0] == [87900.0, 0.05661525] and book["asks"][0] == [87903.98, 5.121816]
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "10"}) in server.requests

    now = await adapter.fetch_time(samples=1)
    assert abs(now - payload("spot_time")["serverTime"]) < 5_000  # exchange time, not ours

    stats = await adapter.fetch_ticker_stats("BTC/USDT")
    assert (stats["last"], stats["volume"]) == (87904.0, 7670.80936815)
    assert ("/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}) in server.requests


@pytest.mark.asyncio
async def test_swap_ticker_funding_and_open_interest_in_base_units(adapter: MexcAdapter) -> None:
    record = await adapter.fetch_swap_ticker("BTC/USDT")
    assert record is not None
    assert record["funding"] == 0.0001
    assert record["oi_contracts"] == 277022504
    assert record["oi"] == pytest.approx(277022504 * 0.0001)  # holdVol x contractSize (detail)
    assert (record["ts"], record["mark"], record["index"], record["last"]) == (
        1767209294795,
        87722.5,
        87751.69,
        87718.1,
    )


@pytest.mark.asyncio
async def test_ccxt_reads_the_recorded_funding_rate_and_all_pairs_books(adapter: MexcAdapter) -> None:
    await adapter.instruments()
    funding = await adapter.rest.fetch_funding_rate("BTC/USDT:USDT")
    assert (funding["fundingRate"], funding["fundingTimestamp"]) == (0.0001, 1767225600000)
    books = await adapter.rest.fetch_bids_asks(None, {"type": "spot"})
    assert books["AO/USDT"]["bid"] == 5.336 and books["AO/USDT"]["ask"] == 5.373
    assert "BTC/USDT" not in books  # the recorder kept 5 pairs


@pytest.mark.asyncio
async def test_klines_only_inside_the_asked_window(adapter: MexcAdapter, server: RecordedMexc) -> None:
    await adapter.instruments()  # a backfill follows the bootstrap: markets are loaded
    await adapter.fetch_time(samples=1)
    first, last = 1767204000000, 1767204300000
    bars = await adapter.fetch_ohlcv_range("BTC/USDT", first, last, "5m")
    assert bars == [
        [1767204000000, 87621.27, 87683.93, 87570.0, 87667.2, 26.68976225],
        [1767204300000, 87667.2, 87904.15, 87635.56, 87868.15, 72.17327432],
    ]
    # MEXC once answered such a window with bars from ~41 h earlier: they must not leak in
    server.routes["/api/v3/klines"] = ("spot_klines_btcusdt_5m_limit100",) * 2
    assert await adapter.fetch_ohlcv_range("BTC/USDT", first, last, "5m") == []


@pytest.mark.asyncio
async def test_a_disabled_market_is_unknown_and_never_streamed() -> None:
    async with RecordedMexc() as srv:
        disabled = payload("spot_exchangeinfo_all")
        disabled["symbols"][1]["status"] = "2"  # METALUSDT; MEXC's docs: 1 online, 2 pause, 3 offline
        adapter = MexcAdapter(["METAL/USDT"], rate_limit=False, urls=sim_urls(srv.url), rest_attempts=1)
        try:
            adapter.rest.spotPublicGetExchangeInfo = _returning(disabled)
            with pytest.raises(UnknownSymbolError, match="not trading") as info:
                await adapter.instrument("METAL/USDT")
            assert "'2'" in str(info.value)
            selection = await adapter.select_universe(UniverseSpec("USDT"))
            assert "METAL/USDT" not in selection.symbols
            assert selection.skipped == {"METAL/USDT": "inactive on MEXC"}
        finally:
            await adapter.close()


def _returning(body: object) -> Callable[..., Awaitable[object]]:
    """A stand-in for a ccxt endpoint method that answers ``body``."""

    async def endpoint(params: object = None) -> object:
        return body

    return endpoint


# ---- recorded error bodies through the adapter ----------------------------------------------


def _fast_backoff() -> Backoff:
    return Backoff(base=0.01, cap=0.02, rng=random.Random(1))


@pytest.mark.asyncio
async def test_bad_symbol_body_is_unknown_at_once_not_retried() -> None:
    routes = {**REST_ROUTES, "/api/v3/depth": ("spot_error_bad_symbol_10007",) * 2}
    async with RecordedMexc(routes, statuses={"/api/v3/depth": 400}) as srv:
        adapter = MexcAdapter(
            ["BTC/USDT"], rate_limit=False, urls=sim_urls(srv.url), backoff_factory=_fast_backoff
        )
        try:
            with pytest.raises(UnknownSymbolError, match="bad symbol"):
                await adapter.fetch_orderbook("BTC/USDT", 10)
        finally:
            await adapter.close()
    assert [path for path, _ in srv.requests].count("/api/v3/depth") == 1


@pytest.mark.asyncio
async def test_contract_does_not_exist_on_the_swap_ticker_names_the_perpetual() -> None:
    """The live contract error (code 1001) becomes UnknownSymbolError of the *perpetual*: the
    spot symbol itself is fine (see the report: the feeder's bootstrap re-raises it)."""
    routes = {**REST_ROUTES, "/api/v1/contract/ticker": ("contract_error_unknown_symbol_depth",) * 2}
    async with RecordedMexc(routes) as srv:
        adapter = MexcAdapter(
            ["BTC/USDT"], rate_limit=False, urls=sim_urls(srv.url), backoff_factory=_fast_backoff
        )
        try:
            with pytest.raises(UnknownSymbolError) as info:
                await adapter.fetch_swap_ticker("BTC/USDT")
            assert info.value.symbol == "BTC/USDT:USDT" and "Contract does not exist" in info.value.reason
            assert (await adapter.instrument("BTC/USDT")).perp_symbol == "BTC/USDT:USDT"
        finally:
            await adapter.close()
    assert [path for path, _ in srv.requests].count("/api/v1/contract/ticker") == 1


@pytest.mark.asyncio
async def test_maintenance_body_is_retried() -> None:
    routes = {**REST_ROUTES, "/api/v3/time": ("error_maintenance_500",) * 2}
    async with RecordedMexc(routes, statuses={"/api/v3/time": 503}) as srv:
        adapter = MexcAdapter(
            ["BTC/USDT"],
            rate_limit=False,
            urls=sim_urls(srv.url),
            backoff_factory=_fast_backoff,
            rest_attempts=3,
        )
        try:
            with pytest.raises(ccxt.OnMaintenance):
                await adapter.fetch_time(samples=1)
            assert adapter.counters[("fetch_time", "retry.OnMaintenance")] == 2
        finally:
            await adapter.close()
    assert [path for path, _ in srv.requests].count("/api/v3/time") == 3


# ---- the simulator's recorded BTCUSDT (API closed, data flowing), streamed end to end ---------


@pytest.mark.asyncio
async def test_a_market_with_its_api_closed_streams_from_the_simulator() -> None:
    async with MexcSimulator(
        seed=1, push_interval=0.05, ticker_interval=0.2, btcusdt_no_api_trading=True
    ) as sim:
        adapter = MexcAdapter(["BTC/USDT"], rate_limit=False, urls=sim.urls, backoff_factory=_fast_backoff)
        try:
            perp_only = await adapter.select_universe(UniverseSpec("USDT", perp_only=True))
            assert "BTC/USDT" in perp_only.symbols
            assert adapter.rest.markets["BTC/USDT"]["active"] is False  # ccxt's verdict
            inst = await adapter.instrument("BTC/USDT")
            assert (inst.api_trading, inst.perp_api_trading) == (False, False)
            book = await _first(adapter.stream_ticker("BTC/USDT"))
            swap = await _first(adapter.stream_swap_ticker("BTC/USDT"))
            assert book["bid"] < book["ask"] and swap["oi"] is not None
        finally:
            await adapter.close()


async def _first(stream: AsyncGenerator[dict, None]) -> dict:
    """The first record of ``stream`` (within 3 s), the stream closed afterwards."""
    try:
        async with asyncio.timeout(3.0):
            return await anext(stream)
    finally:
        await stream.aclose()
