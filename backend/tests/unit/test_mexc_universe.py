"""Universe selection rules over ccxt-shaped markets (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from backend.src.adapters.mexc_universe import UniverseSpec, changes, select_universe


def spot(symbol: str, active: bool = True) -> dict[str, Any]:
    base, quote = symbol.split("/")
    return {"symbol": symbol, "spot": True, "swap": False, "quote": quote, "base": base, "active": active}


def perp(symbol: str, active: bool = True) -> dict[str, Any]:
    return {**spot(symbol, active), "symbol": f"{symbol}:USDT", "spot": False, "swap": True}


MARKETS = {  # keyed like ccxt's exchange.markets: perpetuals under BASE/QUOTE:SETTLE
    m["symbol"]: m
    for m in [
        spot("BTC/USDT"),
        perp("BTC/USDT"),
        spot("ETH/USDT"),
        perp("ETH/USDT", active=False),
        spot("DOGE/USDT"),
        spot("OLD/USDT", active=False),
        spot("ETH/BTC"),
        spot("PEPE/USDC"),
    ]
}


def test_every_active_spot_market_of_the_quote_and_why_others_are_left_out() -> None:
    selection = select_universe(MARKETS, UniverseSpec("USDT"))
    assert selection.symbols == ("BTC/USDT", "DOGE/USDT", "ETH/USDT")
    assert selection.skipped == {"OLD/USDT": "inactive on MEXC"}  # other quotes are no candidates


def test_perp_only_needs_an_active_perpetual() -> None:
    selection = select_universe(MARKETS, UniverseSpec("USDT", perp_only=True))
    assert selection.symbols == ("BTC/USDT",)
    assert selection.skipped["ETH/USDT"] == "no active perpetual"
    assert selection.skipped["DOGE/USDT"] == "no active perpetual"


def test_top_n_by_quote_volume_busiest_first_and_missing_volume_counts_as_zero() -> None:
    volumes = {"BTC/USDT": 5e9, "ETH/USDT": 2e9, "DOGE/USDT": None}
    selection = select_universe(MARKETS, UniverseSpec("USDT", top=2), volumes)
    assert selection.symbols == ("BTC/USDT", "ETH/USDT")
    assert selection.skipped["DOGE/USDT"] == "outside the top 2 by 24 h quote volume"
    everything = select_universe(MARKETS, UniverseSpec("USDT"), {"DOGE/USDT": 1.0})
    assert everything.symbols == ("DOGE/USDT", "BTC/USDT", "ETH/USDT")  # ties broken by name


def test_exclude_and_other_quotes() -> None:
    selection = select_universe(MARKETS, UniverseSpec("USDT", exclude=frozenset({"BTC/USDT"})))
    assert selection.symbols == ("DOGE/USDT", "ETH/USDT") and selection.skipped["BTC/USDT"] == "excluded"
    assert select_universe(MARKETS, UniverseSpec("USDC")).symbols == ("PEPE/USDC",)
    assert select_universe(MARKETS, UniverseSpec("EUR")).symbols == ()


def test_bad_specs_fail_fast() -> None:
    with pytest.raises(ValueError, match="top"):
        UniverseSpec(top=0)
    with pytest.raises(ValueError, match="quote"):
        UniverseSpec(quote="")
    with pytest.raises(ValueError, match="volumes"):
        select_universe(MARKETS, UniverseSpec(top=5))


def test_changes_keep_order_and_ignore_duplicates() -> None:
    assert changes(["A", "B", "C"], ["C", "D", "A", "D"]) == (["D"], ["B"])
    assert changes([], ["X"]) == (["X"], [])
    assert changes(["X"], []) == ([], ["X"])


def test_mexcs_status_decides_not_ccxts_active() -> None:
    """ccxt's ``active`` also needs API orders allowed; MEXC closes them on busy pairs whose
    market data flows (BTCUSDT in the recorded exchangeInfo). The raw status decides."""
    closed_api = {**spot("BTC/USDT", active=False), "info": {"status": "1", "isSpotTradingAllowed": False}}
    paused = {**spot("OLD/USDT"), "info": {"status": "2", "isSpotTradingAllowed": True}}
    perp_closed_api = {**perp("BTC/USDT", active=True), "info": {"state": 0, "apiAllowed": False}}
    perp_offline = {**perp("ETH/USDT", active=True), "info": {"state": 3}}
    markets = {
        **MARKETS,
        "BTC/USDT": closed_api,
        "OLD/USDT": paused,
        "BTC/USDT:USDT": perp_closed_api,
        "ETH/USDT:USDT": perp_offline,
    }
    assert select_universe(markets, UniverseSpec("USDT")).symbols == ("BTC/USDT", "DOGE/USDT", "ETH/USDT")
    selection = select_universe(markets, UniverseSpec("USDT", perp_only=True))
    assert selection.symbols == ("BTC/USDT",)
    assert selection.skipped == {
        "OLD/USDT": "inactive on MEXC",
        "ETH/USDT": "no active perpetual",
        "DOGE/USDT": "no active perpetual",
    }
