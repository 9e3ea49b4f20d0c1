from __future__ import annotations

import logging

import pytest

from backend.src.adapters.mexc_instruments import (
    InstrumentProvider,
    api_trading,
    perp_symbol_for,
    streamable,
)
from backend.src.errors import UnknownSymbolError

from .recorded import MARKETS


@pytest.fixture
def provider() -> InstrumentProvider:
    return InstrumentProvider({m["symbol"]: m for m in MARKETS})


def test_spot_with_perpetual(provider: InstrumentProvider) -> None:
    inst = provider.require_spot("BTC/USDT")
    assert (inst.market_id, inst.perp_symbol, inst.contract_size) == ("BTCUSDT", "BTC/USDT:USDT", 0.0001)


def test_spot_without_perpetual(provider: InstrumentProvider) -> None:
    inst = provider.require_spot("DOGE/USDT")
    assert inst.perp_symbol is None and inst.contract_size is None


@pytest.mark.parametrize(
    ("symbol", "fragment"),
    [("NOPE/USDT", "not listed"), ("OLD/USDT", "not trading"), ("ETH/USDT:USDT", "expected spot")],
)
def test_bad_symbols_fail_by_name(provider: InstrumentProvider, symbol: str, fragment: str) -> None:
    with pytest.raises(UnknownSymbolError) as info:
        provider.require_spot(symbol)
    assert symbol in str(info.value) and fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_perp_symbol_naming() -> None:
    assert perp_symbol_for("ETH/USDT") == "ETH/USDT:USDT"


def _with_info(market: dict, **info: object) -> dict:
    return {**market, "info": {**market["info"], **info}}


def test_streamable_reads_mexcs_status_not_ccxts_active() -> None:
    btc, perp = MARKETS[0], MARKETS[1]
    closed_api = _with_info({**btc, "active": False}, status="1", isSpotTradingAllowed=False)
    assert streamable(closed_api) and api_trading(closed_api) is False
    assert not streamable(_with_info(btc, status="2", isSpotTradingAllowed=True))  # paused
    assert not streamable(_with_info(btc, status="3"))  # offline
    assert streamable(_with_info({**perp, "active": True}, state=0, apiAllowed=False))
    assert not streamable(_with_info(perp, state=4))  # paused contract
    assert not streamable({**btc, "active": False})  # no raw status: ccxt's active decides
    assert streamable(btc) and api_trading(btc) is None and api_trading(None) is None


def test_closed_api_is_information_logged_once_per_symbol(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="backend.src.adapters.mexc_instruments")
    markets = {m["symbol"]: m for m in MARKETS}
    markets["BTC/USDT"] = _with_info(
        {**markets["BTC/USDT"], "active": False}, status="1", isSpotTradingAllowed=False
    )
    markets["BTC/USDT:USDT"] = _with_info(markets["BTC/USDT:USDT"], state=0, apiAllowed=False)
    noted: set[str] = set()
    for _ in range(2):  # a market reload builds a new provider; the adapter keeps one set
        inst = InstrumentProvider(markets, noted).require_spot("BTC/USDT")
        assert (inst.api_trading, inst.perp_api_trading, inst.perp_symbol) == (False, False, "BTC/USDT:USDT")
    lines = [r for r in caplog.records if "no API orders" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "BTC/USDT" in lines[0].getMessage() and noted == {"BTC/USDT"}


def test_disabled_perpetual_is_no_perpetual() -> None:
    markets = {m["symbol"]: m for m in MARKETS}
    markets["BTC/USDT:USDT"] = _with_info(markets["BTC/USDT:USDT"], state=3)  # offline
    inst = InstrumentProvider(markets).require_spot("BTC/USDT")
    assert inst.perp_symbol is None and inst.contract_size is None and inst.perp_api_trading is None


def test_disabled_status_is_named_in_the_error() -> None:
    markets = {"X/USDT": _with_info(MARKETS[0] | {"symbol": "X/USDT"}, status="2")}
    with pytest.raises(UnknownSymbolError, match=r"not trading on MEXC \(disabled, status '2'\)"):
        InstrumentProvider(markets).require_spot("X/USDT")
