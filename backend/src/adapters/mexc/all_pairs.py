"""MEXC's all-pairs REST tickers, reduced to the fields the adapter reads, outside ccxt.

Why: the quiet-market check asks for the book ticker of every spot pair every 2 s, and the
24 h stats and the universe ranking ask for every pair's 24 h ticker. ccxt turns each of the
~2000 rows into a full unified ticker (30 fields and ``safe_ticker``'s derivations): 55 ms of
event loop per book snapshot and 130 ms per 24 h snapshot at 2000 pairs (measured,
``docs/BENCHMARKS.md``), of which the adapter reads two or three fields. Here a row of the
usual shape (a known spot market, its prices numeric) gets those fields by ccxt's own rules
for them (``safe_string`` → ``omit_zero`` → ``parse_number``); any other row goes to ccxt's
``parse_ticker`` (an answer that is not a list: to its ``parse_tickers``), so those fields are
ccxt's by construction. ``backend/tests/unit/test_all_pairs.py`` checks the result against
ccxt's ``fetch_bids_asks``/``fetch_tickers`` parsing on the recorded real payloads and on odd
rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ccxt.async_support as ccxt_async

from . import ccxt_compat
from .rest import RestClient

Row = Mapping[str, Any]
MarketsById = Mapping[str, list[Mapping[str, Any]]]
#: unified symbol → the ticker fields kept
Tickers = dict[str, dict[str, Any]]
#: one usual row and its unified symbol → the fields kept, or None to hand it to ccxt
FastRow = Callable[[Row, str], "dict[str, Any] | None"]

#: what the quiet-market check reads of a book ticker (``mexc_quiet.judge_silence``)
BOOK_FIELDS = ("symbol", "bid", "ask")
#: what the 24 h stats (``stats``) and the universe ranking (``markets``) read of a 24 h ticker
DAY_FIELDS = ("symbol", "timestamp", "last", "baseVolume", "quoteVolume")


def _number(value: Any) -> float | None:
    """ccxt's ``parse_number(safe_string(value))``: a non-empty string or an int/float as a
    float, anything else (bool, "", "abc", a list) None."""
    kind = type(value)
    if kind is str:
        if not value:
            return None
    elif kind is not float and kind is not int:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _nonzero(value: Any) -> float | None:
    """ccxt's ``parse_number(omit_zero(safe_string(value)))``: as :func:`_number`, zero None."""
    number = _number(value)
    return None if number == 0 else number


def _integer(value: Any) -> int | None:
    """ccxt's ``safe_integer``: ``int(float(value))``, None when that fails."""
    try:
        return int(float(value))
    except Exception:
        return None


def _spot_symbol(row: Any, markets_by_id: MarketsById) -> str | None:
    """The unified symbol ccxt's ``safe_market`` gives the row's id when that id names exactly
    one market, a spot one, and the row has the spot shape (ccxt reads a row with a
    ``timestamp`` as a swap ticker); None hands the row to ccxt."""
    if not isinstance(row, Mapping) or "timestamp" in row:
        return None
    market_id = row.get("symbol")
    markets = markets_by_id.get(market_id) if type(market_id) is str else None
    if not markets or len(markets) != 1 or markets[0].get("swap") is True:
        return None
    return markets[0]["symbol"]


def book_row(row: Row, symbol: str) -> dict[str, Any]:
    """A book-ticker row's ``bid``/``ask`` (a zero price is no price, as in ccxt)."""
    return {"symbol": symbol, "bid": _nonzero(row.get("bidPrice")), "ask": _nonzero(row.get("askPrice"))}


def day_row(row: Row, symbol: str) -> dict[str, Any] | None:
    """A 24 h ticker row's fields; None without a usable ``lastPrice``, which ccxt may derive
    from the open price and the change."""
    last = _nonzero(row.get("lastPrice"))
    if last is None:
        return None
    return {
        "symbol": symbol,
        "timestamp": _integer(row.get("closeTime")),
        "last": last,
        "baseVolume": _number(row.get("volume")),
        "quoteVolume": _number(row.get("quoteVolume")),
    }


def reduce_tickers(rows: Any, client: ccxt_async.mexc, fast: FastRow, fields: tuple[str, ...]) -> Tickers:
    """``client.parse_tickers(rows)`` cut down to ``fields``, each usual row by ``fast``."""
    if not isinstance(rows, list):
        return {s: {k: t.get(k) for k in fields} for s, t in client.parse_tickers(rows).items()}
    markets_by_id: MarketsById = client.markets_by_id or {}
    out: Tickers = {}
    for row in rows:
        symbol = _spot_symbol(row, markets_by_id)
        reduced = fast(row, symbol) if symbol is not None else None
        if reduced is None:
            ticker = client.parse_ticker(row)
            reduced = {k: ticker.get(k) for k in fields}
        if reduced["symbol"] is not None:  # ccxt's ``index_by`` leaves such a ticker out
            out[reduced["symbol"]] = reduced
    return out


async def fetch_book_tickers(rest: RestClient) -> Tickers:
    """Every spot pair's best bid and ask, one request (ccxt's ``fetch_bids_asks``)."""
    client = rest.client
    rows = await rest.retry("fetch_bids_asks", ccxt_compat.raw_book_tickers, client)
    return reduce_tickers(rows, client, book_row, BOOK_FIELDS)


async def fetch_day_tickers(rest: RestClient) -> Tickers:
    """Every spot pair's 24 h last price and volumes, one request (ccxt's ``fetch_tickers``)."""
    client = rest.client
    rows = await rest.retry("fetch_tickers", ccxt_compat.raw_day_tickers, client)
    return reduce_tickers(rows, client, day_row, DAY_FIELDS)
