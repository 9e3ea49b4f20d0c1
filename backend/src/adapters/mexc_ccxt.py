"""The historical import path of ``MexcAdapter`` (the user's spec and tests import it here)."""

from .mexc import MexcAdapter, MexcConfig, StreamListener

__all__ = ["MexcAdapter", "MexcConfig", "StreamListener"]
