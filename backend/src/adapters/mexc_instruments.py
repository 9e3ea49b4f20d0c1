"""Instrument provider: which MEXC markets exist, are tradable, and have a perpetual.

Validation happens here, once, before any stream starts, because a stream for a symbol that
does not exist never errors on MEXC's websocket: the subscription is refused with a text
message that ccxt ignores, and ``watch_*`` waits forever. An unknown or inactive symbol must
therefore fail fast, by name, and never enter a retry loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class UnknownSymbolError(ValueError):
    """A symbol MEXC does not list, or lists as not trading. Never retried."""

    def __init__(self, symbol: str, reason: str) -> None:
        super().__init__(f"{symbol!r}: {reason}")
        self.symbol = symbol
        self.reason = reason


@dataclass(frozen=True)
class Instrument:
    """What the feed needs to know about one spot symbol."""

    symbol: str
    market_id: str
    perp_symbol: str | None
    #: Base units per contract of the perpetual; MEXC's open interest (``holdVol``) is in
    #: contracts, so OI in base units is ``holdVol * contract_size``.
    contract_size: float | None


def perp_symbol_for(spot_symbol: str) -> str:
    """The unified symbol of a spot pair's linear perpetual: ``BTC/USDT`` → ``BTC/USDT:USDT``."""
    return f"{spot_symbol}:{spot_symbol.split('/')[1]}"


class InstrumentProvider:
    """Looks symbols up in ccxt's loaded markets (``exchange.markets``)."""

    def __init__(self, markets: Mapping[str, Mapping[str, Any]]) -> None:
        self._markets = markets

    def require_spot(self, symbol: str) -> Instrument:
        """Return the spot instrument or raise :class:`UnknownSymbolError` naming ``symbol``."""
        market = self._markets.get(symbol)
        if market is None:
            raise UnknownSymbolError(symbol, "not listed on MEXC (check the spelling, e.g. BTC/USDT)")
        if not market.get("spot"):
            raise UnknownSymbolError(symbol, f"is a {market.get('type')} market, expected spot")
        if market.get("active") is False:
            raise UnknownSymbolError(symbol, "is listed but not trading on MEXC (inactive)")
        perp = self._markets.get(perp_symbol_for(symbol))
        has_perp = perp is not None and perp.get("swap") and perp.get("active") is not False
        return Instrument(
            symbol=symbol,
            market_id=str(market["id"]),
            perp_symbol=str(perp["symbol"]) if has_perp else None,
            contract_size=float(perp["contractSize"]) if has_perp and perp.get("contractSize") else None,
        )
