"""Loopback MEXC exchange simulator (REST + spot protobuf websocket + contract websocket).

Public entry points: :class:`MexcSimulator`, :class:`SimMarket` and
:func:`synthetic_markets` (a MEXC-sized universe).
"""

from .market_model import DEFAULT_MARKETS, SimMarket
from .server import MexcSimulator
from .universe import synthetic_markets

__all__ = ["DEFAULT_MARKETS", "MexcSimulator", "SimMarket", "synthetic_markets"]
