"""Fast handling of MEXC's contract ``push.ticker``: the fields the adapter reads, without
ccxt's generic ticker parse.

Why: ccxt handles each contract ticker push (about one a second per perpetual) with
``handle_bid_ask``, which finds nothing in a contract frame but builds a whole ticker to learn
that, and ``parse_ticker`` + ``safe_ticker``, exact-decimal arithmetic on a dozen fields the md
path never reads: about 40 of the 45 µs a frame costs on a small VM, the most of any channel.
At the whole universe's scale MEXC's once-a-second pushes of every perpetual arrive as one
burst that every other frame waits behind (``docs/BENCHMARKS.md``).

Contract (as the spot fast path's, :mod:`.mexc_fast_path`): for every message
:func:`swap_ticker` accepts, the ticker holds exactly the values ccxt.pro 4.5.x computes for
:data:`SWAP_TICKER_FIELDS` — what ``mexc_parsing.parse_swap_ticker`` reads — and the caller
stores it in ``tickers[symbol]`` and resolves ``'ticker:' + symbol`` as ccxt does. A message
is accepted only in the shape MEXC sends (``{symbol, data, channel, ts}``, ``data.symbol`` the
same contract, exactly one swap market with that id) and with every number ccxt computes with
a finite JSON number and the timestamp an integer ccxt keeps as is: ccxt's arithmetic cannot
raise on those, so skipping it changes nothing but fields nobody reads. Anything else returns
None and is left to ccxt, which keeps its exact behaviour, raising included.
``backend/tests/unit/test_fast_contract.py`` checks this differentially against ccxt.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import isfinite
from typing import Any

from .mexc_fast_path import _EXACT_INT, TickerUpdate

SWAP_TICKER_CHANNEL = "push.ticker"
#: The keys the fast path builds (tests compare exactly these against ccxt's tickers).
SWAP_TICKER_FIELDS = ("symbol", "timestamp", "last", "info")

#: A contract ticker push has these keys and no others: any other (``c``, ``d``, ``s``, ``t``,
#: ``msg``...) would send ccxt's dispatch or ``handle_bid_ask`` another way.
_MESSAGE_KEYS = frozenset(("symbol", "data", "channel", "ts"))
#: Ints of at most this magnitude convert to a float (larger ones may overflow).
_FLOAT_INT = 2**1023
#: The body fields ccxt's ``parse_ticker``/``safe_ticker`` compute with (exact decimals).
_NUMBERS = (
    "lastPrice",
    "bid1",
    "ask1",
    "volume24",
    "amount24",
    "high24Price",
    "lower24Price",
    "riseFallValue",
    "riseFallRate",
    "fairPrice",
    "indexPrice",
)


def swap_market(market_id: Any, markets_by_id: Mapping[str, list[dict]] | None) -> dict | None:
    """The one swap market with id ``market_id``; None for an unknown, ambiguous or other id."""
    if type(market_id) is not str or not markets_by_id:
        return None
    found = markets_by_id.get(market_id)
    if found is None or len(found) != 1 or found[0].get("swap") is not True:
        return None
    return found[0]


def _plain_numbers(data: Mapping[str, Any]) -> bool:
    """Every number ccxt computes with is absent, None, a finite float or an int a float can
    hold (not a bool, not a string: ccxt's exact decimals raise on some strings, and ``True``
    would read as ``"True"``; an int past a float's range makes ``float()`` raise where ccxt's
    decimal string reads as inf)."""
    for key in _NUMBERS:
        value = data.get(key)
        if value is None:
            continue
        kind = type(value)
        if kind is float:
            if not isfinite(value):
                return False
        elif kind is not int or not -_FLOAT_INT <= value <= _FLOAT_INT:
            return False
    return True


def swap_ticker(
    message: Mapping[str, Any], markets_by_id: Mapping[str, list[dict]] | None
) -> TickerUpdate | None:
    """``{symbol, timestamp, last, info}`` as ccxt's ``handle_ticker`` computes them for a
    contract ``push.ticker``, or None to leave the message to ccxt (see the module doc)."""
    if message.keys() - _MESSAGE_KEYS:
        return None
    market_id = message.get("symbol")
    data = message.get("data")
    if type(data) is not dict or data.get("symbol") != market_id:
        return None
    market = swap_market(market_id, markets_by_id)
    if market is None or not _plain_numbers(data):
        return None
    ts = data.get("timestamp")
    if ts is not None and (type(ts) is not int or not 0 <= ts <= _EXACT_INT):
        return None
    last = data.get("lastPrice")
    symbol = market["symbol"]
    ticker = {
        "symbol": symbol,
        "timestamp": ts,
        # ccxt: parse_number(omit_zero(safe_string(...))), i.e. float(str(x)), zero as None
        "last": float(last) if last else None,
        "info": data,
    }
    return TickerUpdate(symbol, ticker)
