"""The streamability rule on MEXC's real exchangeInfo and contract detail, parsed by ccxt.

``ccxt_markets()`` runs ccxt 4.5's own ``fetch_markets`` on the recorded bodies (GCT,
2025-12-31), so these are exactly the market dicts the adapter gets from ``load_markets``.
"""

from __future__ import annotations

import ccxt
import pytest

from backend.src.adapters.mexc_instruments import InstrumentProvider, api_trading, streamable
from backend.src.adapters.mexc_universe import UniverseSpec, select_universe

from ..recorded_real import ccxt_markets, payload


def test_ccxt_calls_btc_usdt_inactive_although_mexc_enables_it() -> None:
    raw = payload("spot_exchangeinfo_btcusdt")["symbols"][0]
    assert (raw["symbol"], raw["status"], raw["isSpotTradingAllowed"]) == ("BTCUSDT", "1", False)
    btc = ccxt_markets()["BTC/USDT"]
    assert btc["active"] is False  # ccxt: status "1" and isSpotTradingAllowed both required
    assert streamable(btc) and api_trading(btc) is False


@pytest.mark.parametrize("info", ["spot_exchangeinfo_btcusdt", "spot_exchangeinfo_all"])
def test_every_recorded_market_streams(info: str) -> None:
    markets = ccxt_markets(info)
    assert markets and all(streamable(m) for m in markets.values())
    spot_api = {s: api_trading(m) for s, m in markets.items() if m["spot"]}
    assert spot_api["BTC/USDT"] is False
    assert all(spot_api[s] for s in spot_api if s != "BTC/USDT")  # the alt pairs take orders


def test_perpetuals_stream_with_their_api_closed() -> None:
    perps = {s: m for s, m in ccxt_markets().items() if m["swap"]}
    assert set(perps) == {
        "BTC/USDT:USDT",
        "ETH/USDT:USDT",
        "LIGHT/USDT:USDT",
        "SOL/USDT:USDT",
        "SILVER/USDT:USDT",
    }
    assert all(streamable(m) and m["active"] and api_trading(m) is False for m in perps.values())


def test_btc_usdt_instrument_from_the_recorded_markets() -> None:
    inst = InstrumentProvider(ccxt_markets()).require_spot("BTC/USDT")
    assert (inst.market_id, inst.perp_symbol, inst.contract_size) == ("BTCUSDT", "BTC/USDT:USDT", 0.0001)
    assert (inst.api_trading, inst.perp_api_trading) == (False, False)


def test_universe_and_perp_only_include_btc_usdt() -> None:
    markets = ccxt_markets()
    everything = select_universe(markets, UniverseSpec("USDT"))
    assert "BTC/USDT" in everything.symbols and len(everything.symbols) == 6 and not everything.skipped
    assert select_universe(markets, UniverseSpec("USDT", perp_only=True)).symbols == ("BTC/USDT",)


def test_a_disabled_status_through_ccxt_is_not_streamable() -> None:
    """The only status the recordings show is "1"; MEXC's docs give 2 (pause) and 3 (offline)
    and contract states 1-4. A status other than "1" must keep the symbol out."""
    body = payload("spot_exchangeinfo_all")
    body["symbols"][1]["status"] = "2"  # METALUSDT
    detail = payload("contract_detail_all")
    detail["data"][0]["state"] = 3  # BTC_USDT offline
    markets = _parse(body, detail)
    assert not streamable(markets["METAL/USDT"]) and not streamable(markets["BTC/USDT:USDT"])
    assert select_universe(markets, UniverseSpec("USDT", perp_only=True)).symbols == ()
    assert select_universe(markets, UniverseSpec("USDT")).skipped == {"METAL/USDT": "inactive on MEXC"}


def _parse(exchange_info: dict, detail: dict) -> dict:
    ex = ccxt.mexc({"enableRateLimit": False})
    ex.spotPublicGetExchangeInfo = lambda params=None: exchange_info
    ex.contractPublicGetDetail = lambda params=None: detail
    return ex.load_markets()
