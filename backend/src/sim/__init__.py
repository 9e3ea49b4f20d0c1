"""Loopback MEXC exchange simulator (REST + spot protobuf websocket + contract websocket).

Public entry points: :class:`MexcSimulator` and :class:`SimMarket`.
"""

from .market_model import DEFAULT_MARKETS, SimMarket
from .server import MexcSimulator

__all__ = ["DEFAULT_MARKETS", "MexcSimulator", "SimMarket"]
