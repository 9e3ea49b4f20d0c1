"""MEXC's refused websocket subscriptions, turned into errors the stream can see.

Why: when MEXC refuses a subscription it answers with a text such as
``Not Subscribed successfully! [spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT].  Reason： Blocked!``
and ccxt ignores it: the ``watch_*`` call waits forever and the stream is silently dead. We
parse the refusal, map each refused channel to the message hash ccxt's ``watch_*`` waits on,
and reject it with :class:`SubscriptionRejected`, so the supervisor logs, counts and retries.

Pure functions; the hook that calls them lives in ``mexc_ws_client``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import ccxt

FAILURE_PREFIX = "Not Subscribed successfully"
_FAILURE = re.compile(
    r"Not Subscribed successfully!\s*\[(?P<channels>[^\]]*)\]\.?\s*(?:Reason[:：]\s*(?P<reason>.*))?"
)
#: spot channel kind → ccxt message-hash prefix (ccxt.pro.mexc watch_* methods)
_HASH_PREFIX = {
    "public.aggre.deals.v3.api.pb": "trades:",
    "public.aggre.bookTicker.v3.api.pb": "ticker:",
    "public.aggre.depth.v3.api.pb": "orderbook:",
}


class SubscriptionRejected(ccxt.NetworkError):
    """MEXC refused a subscription. Retried like a network error: MEXC refuses for load and
    per-connection limits too, and a refusal that persists stays visible in the counters."""


def rejected_channels(message: Any) -> tuple[list[str], str] | None:
    """``(channels, reason)`` when ``message`` is MEXC's subscription failure, else None."""
    if not isinstance(message, Mapping):
        return None
    text = message.get("msg")
    if not isinstance(text, str) or not text.startswith(FAILURE_PREFIX):
        return None
    match = _FAILURE.match(text)
    if match is None:
        return [], text
    channels = [c.strip() for c in match.group("channels").split(",") if c.strip()]
    return channels, (match.group("reason") or "").strip()


def message_hash(
    channel: str, symbol_of: Callable[[str], str | None], timeframe_of: Mapping[str, str]
) -> str | None:
    """The ccxt message hash a ``watch_*`` call waits on for a spot ``channel``.

    ``symbol_of`` maps a MEXC market id (``BTCUSDT``) to the unified symbol; ``timeframe_of``
    maps MEXC interval ids (``Min1``) to ccxt timeframes (``1m``).
    """
    parts = channel.split("@")
    if len(parts) < 3:
        return None
    kind = parts[1]
    if kind == "public.kline.v3.api.pb" and len(parts) >= 4:
        symbol, timeframe = symbol_of(parts[2]), timeframe_of.get(parts[3])
        return f"candles:{symbol}:{timeframe}" if symbol and timeframe else None
    prefix = _HASH_PREFIX.get(kind)
    symbol = symbol_of(parts[-1])
    return f"{prefix}{symbol}" if prefix and symbol else None
