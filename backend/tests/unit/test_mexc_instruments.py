from __future__ import annotations

import pytest

from backend.src.adapters.mexc_instruments import InstrumentProvider, UnknownSymbolError, perp_symbol_for

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
