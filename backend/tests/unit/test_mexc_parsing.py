"""Recorded real MEXC payloads → ccxt's own parsers → our records."""

from __future__ import annotations

import ccxt
import pytest

from backend.src.adapters.mexc_parsing import (
    parse_24h_stats,
    parse_book_ticker,
    parse_swap_ticker,
    parse_trades,
)
from backend.src.adapters.mexc_ws_client import MexcWsClient
from backend.src.errors import MalformedPayload

from .recorded import MARKETS, RECORDED


@pytest.fixture
def rest() -> ccxt.mexc:
    ex = ccxt.mexc()
    ex.set_markets(MARKETS)
    return ex


def test_24h_stats_from_recorded_rest_ticker(rest: ccxt.mexc) -> None:
    ticker = rest.parse_ticker(RECORDED["spot_ticker_24hr"], rest.market("BTC/USDT"))
    stats = parse_24h_stats(ticker)
    assert stats == {"ts": 1710328251172, "last": 73397.77, "volume": 7729.258925}


def test_trades_from_recorded_rest_trades(rest: ccxt.mexc) -> None:
    trades = rest.parse_trades(RECORDED["spot_trades"], rest.market("BTC/USDT"))
    assert parse_trades(trades) == [
        {"ts": 1710327661000, "price": 73238.7, "amount": 0.000112, "side": "buy"}
    ]
    assert parse_trades(trades, rx=12.5) == [
        {"ts": 1710327661000, "price": 73238.7, "amount": 0.000112, "side": "buy", "rx": 12.5}
    ]


def test_book_ticker_spread_and_exchange_time() -> None:
    rec = parse_book_ticker({"bid": 100.0, "ask": 100.5, "timestamp": 1_700_000_000_123}, 100.2, 12.0)
    assert rec == {
        "ts": 1_700_000_000_123,
        "bid": 100.0,
        "ask": 100.5,
        "last": 100.2,
        "spread": 0.5,
        "volume": 12.0,
    }


@pytest.mark.parametrize(
    "ticker",
    [{"bid": None, "ask": 1.0, "timestamp": 1}, {"bid": 1.0, "ask": 1.0, "timestamp": None}, {}],
)
def test_book_ticker_without_fields_is_malformed(ticker: dict) -> None:
    with pytest.raises(MalformedPayload):
        parse_book_ticker(ticker, None, None)


def test_trade_without_price_is_malformed() -> None:
    with pytest.raises(MalformedPayload):
        parse_trades([{"price": None, "amount": 1.0, "timestamp": 1}])


@pytest.mark.asyncio
async def test_swap_ticker_from_recorded_push_through_ccxt_pro() -> None:
    """The recorded ``push.ticker`` frame, handled by ccxt.pro's own code, gives funding and OI."""
    ex = MexcWsClient()
    try:
        ex.set_markets(MARKETS)
        client = ex.client(ex.urls["api"]["ws"]["swap"])  # no connection is made
        ex.handle_message(client, RECORDED["swap_push_ticker"])
        ticker = ex.tickers["BTC/USDT:USDT"]
        rec = parse_swap_ticker(ticker, contract_size=0.0001)
    finally:
        await ex.close()
    assert rec["ts"] == 1731137509138
    assert rec["funding"] == 0.0001
    assert rec["oi_contracts"] == 95479623
    assert rec["oi"] == pytest.approx(9547.9623)
    assert rec["mark"] == 76374.4 and rec["index"] == 76385.8
    assert rec["last"] == 76376.1


def test_swap_ticker_without_perp_contract_size_has_no_base_oi() -> None:
    rec = parse_swap_ticker({"timestamp": 5, "info": {"holdVol": 10, "fundingRate": "-0.0002"}}, None)
    assert rec["oi"] is None and rec["oi_contracts"] == 10 and rec["funding"] == -0.0002


@pytest.mark.parametrize("hold", ["xyz", [1], {"a": 1}])
def test_a_figure_that_is_no_number_is_a_malformed_payload_not_a_crash(hold) -> None:
    with pytest.raises(MalformedPayload, match="not a number"):
        parse_swap_ticker({"timestamp": 1, "info": {"holdVol": hold, "fundingRate": 0.0001}}, 0.0001)
