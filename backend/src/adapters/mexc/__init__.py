"""MEXC market data: ``MexcAdapter`` and the pieces it is built from (see ``adapter``)."""

from .adapter import MexcAdapter
from .config import MexcConfig
from .runtime import StreamListener

__all__ = ["MexcAdapter", "MexcConfig", "StreamListener"]
