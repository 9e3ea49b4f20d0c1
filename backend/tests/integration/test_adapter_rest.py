"""MexcAdapter REST against the loopback simulator, through the real ccxt async client."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime

import ccxt
import pytest

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.adapters.mexc_klines import bar_open, timeframe_ms
from backend.src.errors import UnknownSymbolError
from backend.src.sim.market_model import SimMarket
from backend.src.sim.server import MexcSimulator

MIN = 60_000


def kline_requests(sim: MexcSimulator) -> list[dict[str, str]]:
    return [q for path, q in sim.recorder.rest_log if path.endswith("/klines")]


@pytest.mark.asyncio
async def test_1500_closed_bars_in_three_pages(sim: MexcSimulator, make_adapter) -> None:
    adapter: MexcAdapter = make_adapter()
    bars = await adapter.fetch_ohlcv("BTC/USDT", "1m", 1500)
    now = sim.clock.now_ms()
    assert len(bars) == 1500
    stamps = [b[0] for b in bars]
    assert stamps == sorted(set(stamps))  # ascending, no duplicates
    assert all(b - a == MIN for a, b in itertools.pairwise(stamps))
    assert stamps[-1] == now // MIN * MIN - MIN  # the last *closed* minute, not the forming one
    requests = kline_requests(sim)
    assert len(requests) == 3 and all(int(q["limit"]) == 500 for q in requests)
    # every bar equals the exchange's own bar for that minute
    model = sim.model.get("BTC/USDT")
    model_bar = sim.model.bar("BTC/USDT", stamps[100])
    assert bars[100][4] == pytest.approx(model_bar.close / model.price_scale)


@pytest.mark.asyncio
@pytest.mark.parametrize(("tf", "limit"), [("5m", 600), ("15m", 150), ("1h", 40), ("4h", 10), ("1d", 2)])
async def test_other_timeframes_are_closed_and_on_their_grid(make_adapter, sim, tf: str, limit: int) -> None:
    adapter: MexcAdapter = make_adapter()
    bars = await adapter.fetch_ohlcv("BTC/USDT", tf, limit)
    step = timeframe_ms(tf)
    assert len(bars) == limit
    assert all(b[0] % step == 0 for b in bars)
    assert bars[-1][0] == bar_open(sim.clock.now_ms(), tf) - step


@pytest.mark.asyncio
async def test_missing_minutes_are_made_up_from_an_older_window(sim: MexcSimulator, make_adapter) -> None:
    now = sim.clock.now_ms() // MIN * MIN
    holes = [now - k * MIN for k in (2, 3, 10, 700)]
    sim.faults.omit_minutes(holes, ["BTC/USDT"])
    adapter: MexcAdapter = make_adapter()
    bars = await adapter.fetch_ohlcv("BTC/USDT", "1m", 1500)
    stamps = {b[0] for b in bars}
    assert len(bars) == 1500 and not stamps & set(holes)
    assert min(stamps) == now - 1504 * MIN  # four older bars fetched to make up for the holes


@pytest.mark.asyncio
async def test_young_market_returns_what_exists_and_says_so(caplog) -> None:
    young = SimMarket("NEW/USDT", 2.0, has_perp=False, listing_minutes_ago=120)
    async with MexcSimulator(markets=[young], seed=2) as sim:
        adapter = MexcAdapter(["NEW/USDT"], rate_limit=False, urls=sim.urls)
        try:
            with caplog.at_level(logging.INFO):
                bars = await adapter.fetch_ohlcv("NEW/USDT", "1m", 1500)
        finally:
            await adapter.close()
    assert 100 <= len(bars) <= 121
    assert "only" in caplog.text and "NEW/USDT" in caplog.text


@pytest.mark.asyncio
async def test_order_book_snapshot(make_adapter) -> None:
    adapter: MexcAdapter = make_adapter()
    book = await adapter.fetch_orderbook("BTC/USDT", limit=5)
    assert book["symbol"] == "BTC/USDT" and 0 < len(book["bids"]) <= 5 and 0 < len(book["asks"]) <= 5
    assert book["bids"][0][0] < book["asks"][0][0]
    assert isinstance(book["nonce"], int)


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", [0, -1, 5001, 2.5, "50", True])
async def test_order_book_limit_mexc_rejects_is_a_value_error(make_adapter, sim, limit) -> None:
    adapter: MexcAdapter = make_adapter()
    with pytest.raises(ValueError, match=r"1\.\.5000"):
        await adapter.fetch_orderbook("BTC/USDT", limit=limit)
    assert not kline_requests(sim)


@pytest.mark.asyncio
@pytest.mark.parametrize(("symbol", "fragment"), [("NOPE/USDT", "not listed"), ("OLD/USDT", "not trading")])
async def test_unknown_or_inactive_symbol_fails_fast_without_retry(
    make_adapter, sim, symbol, fragment
) -> None:
    adapter: MexcAdapter = make_adapter([symbol])
    with pytest.raises(UnknownSymbolError, match=fragment) as info:
        await adapter.fetch_ohlcv(symbol)
    assert info.value.symbol == symbol
    assert not kline_requests(sim) and not adapter.counters


@pytest.mark.asyncio
async def test_symbol_the_exchange_rejects_is_unknown_not_retried(make_adapter, sim) -> None:
    """A symbol in our market list that MEXC's REST refuses (-1121) → BadSymbol → no retry."""
    adapter: MexcAdapter = make_adapter()
    await adapter.instruments()
    del sim.model.by_spot_id["BTCUSDT"]  # delisted after our market load
    with pytest.raises(UnknownSymbolError, match="BTC/USDT"):
        await adapter.fetch_orderbook("BTC/USDT")
    assert sim.recorder.rest_requests["/api/v3/depth"] == 1
    assert not adapter.counters


@pytest.mark.asyncio
async def test_rate_limit_storm_is_retried_honouring_retry_after(make_adapter, sim) -> None:
    adapter: MexcAdapter = make_adapter()
    await adapter.instruments()
    sim.faults.rest_error(429, count=2, path="/api/v3/depth", retry_after=1)
    book = await adapter.fetch_orderbook("BTC/USDT")
    assert book["bids"]
    assert adapter.counters[("fetch_orderbook", "retry.RateLimitExceeded")] == 2
    assert sim.recorder.rest_requests["/api/v3/depth"] == 3


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "error"), [(503, "ExchangeNotAvailable"), (418, "DDoSProtection")])
async def test_server_errors_are_retried_and_counted(make_adapter, sim, status, error) -> None:
    adapter: MexcAdapter = make_adapter()
    await adapter.instruments()
    sim.faults.rest_error(status, count=3, path="/api/v3/klines", retry_after=0)
    bars = await adapter.fetch_ohlcv("ETH/USDT", "1m", 10)
    assert len(bars) == 10
    assert adapter.counters[("fetch_ohlcv", f"retry.{error}")] == 3


@pytest.mark.asyncio
async def test_persistent_outage_gives_up_after_the_attempt_budget(make_adapter, sim) -> None:
    adapter: MexcAdapter = make_adapter(rest_attempts=3)
    await adapter.instruments()
    sim.faults.rest_error(502, count=10, path="/api/v3/depth")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await adapter.fetch_orderbook("BTC/USDT")
    assert sim.recorder.rest_requests["/api/v3/depth"] == 3
    assert adapter.counters[("fetch_orderbook", "retry.ExchangeNotAvailable")] == 2


@pytest.mark.asyncio
async def test_server_time_and_clock_offset_follow_the_exchange(make_adapter, sim) -> None:
    sim.faults.skew_clock(-4_000)
    adapter: MexcAdapter = make_adapter()
    server_now = await adapter.fetch_time()
    assert abs(adapter.clock.offset_ms - (-4_000)) < 250
    assert abs(server_now - sim.clock.now_ms()) < 250
    bars = await adapter.fetch_ohlcv("BTC/USDT", "1m", 3)
    assert bars[-1][0] == sim.clock.now_ms() // MIN * MIN - MIN  # closed by exchange time


@pytest.mark.asyncio
async def test_swap_ticker_gives_funding_and_base_unit_open_interest(make_adapter, sim) -> None:
    adapter: MexcAdapter = make_adapter(["BTC/USDT", "DOGE/USDT"])
    rec = await adapter.fetch_swap_ticker("BTC/USDT")
    assert rec is not None and rec["funding"] is not None
    assert rec["oi"] == pytest.approx(rec["oi_contracts"] * 0.0001)
    assert await adapter.fetch_swap_ticker("DOGE/USDT") is None


@pytest.mark.asyncio
async def test_close_is_idempotent_and_later_calls_fail_clearly(make_adapter) -> None:
    adapter: MexcAdapter = make_adapter()
    await adapter.fetch_time()
    await adapter.close()
    await adapter.close()
    with pytest.raises(ccxt.ExchangeClosedByUser):
        await adapter.fetch_time()


@pytest.mark.asyncio
async def test_monthly_bars_are_calendar_months_and_closed_only() -> None:
    market = SimMarket("BTC/USDT", 60000.0, has_perp=False)
    async with MexcSimulator(markets=[market], seed=4, history_minutes=50_000) as sim:
        adapter = MexcAdapter(["BTC/USDT"], rate_limit=False, urls=sim.urls)
        try:
            bars = await adapter.fetch_ohlcv("BTC/USDT", "1M", 5)
        finally:
            await adapter.close()
    now = datetime.fromtimestamp(sim.clock.now_ms() / 1000, tz=UTC)
    this_month = int(datetime(now.year, now.month, 1, tzinfo=UTC).timestamp() * 1000)
    assert bars and all(b[0] < this_month for b in bars)  # the forming month is left out
    assert all(datetime.fromtimestamp(b[0] / 1000, tz=UTC).day == 1 for b in bars)
