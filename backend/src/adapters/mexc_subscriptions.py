"""MEXC's refused websocket subscriptions, turned into errors the stream can see.

Why: when MEXC refuses a subscription it answers with a text such as
``Not Subscribed successfully! [spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT].  Reason： Blocked!``
(spot) or ``{"channel":"rs.error","data":"Contract [NOPE_USDT] not exists"}`` (contract), and
ccxt ignores both: the ``watch_*`` call waits forever (or until a watchdog resets the whole
connection, only for the same refusal to come again) and the stream is silently dead. We parse
the refusal, map it to the message hashes ccxt's ``watch_*`` waits on, and reject them with
:class:`SubscriptionRejected`, so the supervisor logs, counts and retries with backoff.

Pure functions; the hook that calls them lives in ``mexc_ws_client``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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


#: the contract websocket's reply channel for a refused request (``rs.sub.<kind>`` acks success)
CONTRACT_ERROR_CHANNEL = "rs.error"
#: ``Contract [NOPE_USDT] not exists`` (recorded ``contract_ws_error_unknown_contract``)
_CONTRACT_ID = re.compile(r"Contract\s*\[(?P<id>[^\]]+)\]")
#: ccxt.pro mexc message-hash prefixes of the public swap ``watch_*`` methods (pro/mexc.py:
#: ``ticker:``, ``trades:``, ``orderbook:``, ``fundingRate:`` + symbol; ``candles:`` + symbol
#: + ``:`` + timeframe). Each is also the subscription key (``watch_swap_public`` passes the
#: message hash as ``subscribe_hash``).
SWAP_HASH_PREFIXES = ("ticker:", "trades:", "orderbook:", "fundingRate:")


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


@dataclass(frozen=True)
class ContractRefusal:
    """A contract websocket ``rs.error``: MEXC's text and the contract id it names, if any."""

    text: str
    market_id: str | None


def contract_refusal(message: Any) -> ContractRefusal | None:
    """The refusal in a contract frame ``{"channel": "rs.error", "data": text}``, else None.

    Recorded texts: ``Contract [NOPE_USDT] not exists`` (a contract MEXC does not list) and
    ``Not support interval`` (``sub.kline`` with an interval the websocket does not serve); the
    docs show ``Contract doesn't exist!``, which names no contract.
    """
    if not isinstance(message, Mapping) or message.get("channel") != CONTRACT_ERROR_CHANNEL:
        return None
    data = message.get("data")
    text = data if isinstance(data, str) else str(data)
    match = _CONTRACT_ID.search(text)
    return ContractRefusal(text.strip(), match.group("id").strip() if match else None)


def swap_hashes_of(symbol: str, hashes: Iterable[str]) -> list[str]:
    """The message hashes among ``hashes`` that a swap ``watch_*`` of ``symbol`` waits on."""
    candles = f"candles:{symbol}:"
    exact = {prefix + symbol for prefix in SWAP_HASH_PREFIXES}
    return [h for h in hashes if h in exact or h.startswith(candles)]
