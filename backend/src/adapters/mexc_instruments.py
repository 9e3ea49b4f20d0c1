"""Instrument provider: which MEXC markets exist, stream market data, and have a perpetual.

Validation happens here, once, before any stream starts, because a stream for a symbol that
does not exist never errors on MEXC's websocket: the subscription is refused with a text
message that ccxt ignores, and ``watch_*`` waits forever. An unknown or disabled symbol must
therefore fail fast, by name, and never enter a retry loop.

"Streamable" is not ccxt's ``active``: ccxt calls a spot market active only when it is enabled
*and* open to API orders, and MEXC closes the API to orders on busy pairs (BTCUSDT in the
recorded exchangeInfo) while their market data flows. See :func:`streamable`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableSet
from dataclasses import dataclass
from typing import Any

from ..errors import UnknownSymbolError

log = logging.getLogger(__name__)

#: exchangeInfo ``symbols[].status`` of an enabled spot market (MEXC sends the string "1").
SPOT_ENABLED = "1"
#: contract detail ``state`` of an enabled perpetual (0 enabled, 1 delivery, 2 completed,
#: 3 offline, 4 pause: ccxt 4.5.90 ``async_support/mexc.py`` ``fetch_swap_markets``).
SWAP_ENABLED = "0"


@dataclass(frozen=True)
class Instrument:
    """What the feed needs to know about one spot symbol."""

    symbol: str
    market_id: str
    perp_symbol: str | None
    #: Base units per contract of the perpetual; MEXC's open interest (``holdVol``) is in
    #: contracts, so OI in base units is ``holdVol * contract_size``.
    contract_size: float | None
    #: MEXC accepts API orders on the spot market (exchangeInfo ``isSpotTradingAllowed``);
    #: None when MEXC does not say. Information only: market data flows either way.
    api_trading: bool | None = None
    #: the same for the perpetual (contract detail ``apiAllowed``); None without a perpetual.
    perp_api_trading: bool | None = None


def perp_symbol_for(spot_symbol: str) -> str:
    """The unified symbol of a spot pair's linear perpetual: ``BTC/USDT`` → ``BTC/USDT:USDT``."""
    return f"{spot_symbol}:{spot_symbol.split('/')[1]}"


def streamable(market: Mapping[str, Any]) -> bool:
    """True when MEXC publishes market data for ``market`` (a ccxt market dict).

    Spot: exchangeInfo ``status == "1"``. Swap: contract detail ``state == 0``. Whether the
    API accepts *orders* is deliberately ignored: in the recorded exchangeInfo
    (``spot_exchangeinfo_btcusdt`` / ``spot_exchangeinfo_all`` in
    tests/fixtures/mexc_real/payloads.json, 2025-12-31) BTCUSDT has ``status "1"`` and
    ``isSpotTradingAllowed false`` while its klines, depth and trades flowed, and ccxt's
    ``active`` (both conditions) would drop the busiest pair. Markets without MEXC's raw
    ``info`` status (hand-built markets) fall back to ccxt's ``active``.
    """
    info = market.get("info") or {}
    raw = info.get("status") if market.get("spot") else info.get("state") if market.get("swap") else None
    if raw is not None:
        return str(raw) == (SPOT_ENABLED if market.get("spot") else SWAP_ENABLED)
    return market.get("active") is not False


def api_trading(market: Mapping[str, Any] | None) -> bool | None:
    """Whether MEXC takes API orders on ``market``: ``isSpotTradingAllowed`` (spot) or
    ``apiAllowed`` (swap); None when the market or the field is missing."""
    if market is None:
        return None
    info = market.get("info") or {}
    value = info.get("isSpotTradingAllowed") if market.get("spot") else info.get("apiAllowed")
    if value is None:
        return None
    return value if isinstance(value, bool) else str(value).lower() == "true"


def streamable_perp(markets: Mapping[str, Mapping[str, Any]], spot_symbol: str) -> Mapping[str, Any] | None:
    """The linear perpetual of ``spot_symbol`` when it exists and streams, else None."""
    perp = markets.get(perp_symbol_for(spot_symbol))
    return perp if perp is not None and perp.get("swap") and streamable(perp) else None


class InstrumentProvider:
    """Looks symbols up in ccxt's loaded markets (``exchange.markets``).

    ``noted`` collects the symbols whose closed API (no API orders) was already logged; pass
    the same set to every provider of one adapter (a market reload builds a new provider) so
    the INFO line appears once per symbol, not once per reload.
    """

    def __init__(
        self, markets: Mapping[str, Mapping[str, Any]], noted: MutableSet[str] | None = None
    ) -> None:
        self._markets = markets
        self._noted: MutableSet[str] = set() if noted is None else noted

    def require_spot(self, symbol: str) -> Instrument:
        """Return the spot instrument or raise :class:`UnknownSymbolError` naming ``symbol``."""
        market = self._markets.get(symbol)
        if market is None:
            raise UnknownSymbolError(symbol, "not listed on MEXC (check the spelling, e.g. BTC/USDT)")
        if not market.get("spot"):
            raise UnknownSymbolError(symbol, f"is a {market.get('type')} market, expected spot")
        if not streamable(market):
            status = (market.get("info") or {}).get("status")
            detail = f", status {status!r}" if status is not None else ""
            raise UnknownSymbolError(symbol, f"is listed but not trading on MEXC (disabled{detail})")
        perp = streamable_perp(self._markets, symbol)
        size = perp.get("contractSize") if perp is not None else None
        inst = Instrument(
            symbol=symbol,
            market_id=str(market["id"]),
            perp_symbol=str(perp["symbol"]) if perp is not None else None,
            contract_size=float(size) if size else None,
            api_trading=api_trading(market),
            perp_api_trading=api_trading(perp),
        )
        self._note_closed_api(inst)
        return inst

    def _note_closed_api(self, inst: Instrument) -> None:
        """One INFO line per symbol whose API takes no orders: worth knowing, not an error."""
        closed = [
            name
            for name, allowed in ((inst.symbol, inst.api_trading), (inst.perp_symbol, inst.perp_api_trading))
            if name is not None and allowed is False
        ]
        if closed and inst.symbol not in self._noted:
            self._noted.add(inst.symbol)
            log.info("%s: MEXC takes no API orders on %s; streaming market data anyway", inst.symbol, closed)
