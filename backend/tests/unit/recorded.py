"""Recorded real MEXC payloads (see fixtures/mexc_recorded.json) and minimal ccxt markets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RECORDED: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "mexc_recorded.json").read_text()
)


def _market(symbol: str, market_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    base, quote = symbol.split(":")[0].split("/")
    return {
        "id": market_id,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "baseId": base,
        "quoteId": quote,
        "type": kind,
        "spot": kind == "spot",
        "swap": kind == "swap",
        "future": False,
        "option": False,
        "contract": kind == "swap",
        "linear": True if kind == "swap" else None,
        "inverse": False if kind == "swap" else None,
        "active": True,
        "settle": quote if kind == "swap" else None,
        "contractSize": None,
        "precision": {"amount": 1e-8, "price": 1e-2},
        "limits": {},
        "info": {},
        **extra,
    }


MARKETS: list[dict[str, Any]] = [
    _market("BTC/USDT", "BTCUSDT", "spot"),
    _market("BTC/USDT:USDT", "BTC_USDT", "swap", contractSize=0.0001),
    _market("DOGE/USDT", "DOGEUSDT", "spot"),
    _market("OLD/USDT", "OLDUSDT", "spot", active=False),
    _market("ETH/USDT:USDT", "ETH_USDT", "swap", contractSize=0.01),
]
