"""MEXC's spot kline rows as ccxt's OHLCV rows, parsed outside ccxt.

Why: a 2000-symbol bootstrap parses about 17,500 kline pages of up to 500 rows each, and
ccxt's ``parse_ohlcvs`` spends five ``safe_number`` calls and a ``safe_integer`` per row on
it: about a sixth of the bootstrap's CPU (``docs/BENCHMARKS.md``). A row of MEXC's shape
(``[open ms, "o", "h", "l", "c", "v", close ms, "quote volume"]``) becomes
``[int, float, float, float, float, float]`` here in one step, by ccxt's own rules for those
fields (``safe_integer``: ``int(float(v))``; ``safe_number``: ``float`` of a non-empty
string); any other row (numbers where MEXC sends strings, missing or unreadable fields) is
given to ccxt's ``parse_ohlcv``, and the rows are sorted as ccxt sorts them.
``backend/tests/unit/test_kline_rows.py`` checks the result against ccxt's ``parse_ohlcvs`` on
the recorded real pages and on odd rows.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

#: ccxt's ``parse_ohlcv`` of one row, for the rows of another shape
ParseRow = Callable[[Any], list]
#: ccxt's ``parse_ohlcvs`` of a whole answer that is not a list
ParseAll = Callable[[Any], list[list]]


def _row(raw: Any) -> list | None:
    """``raw`` in MEXC's usual shape as ccxt's OHLCV row; None for any other shape."""
    if type(raw) is not list or len(raw) < 6:
        return None
    ts, o, h, low, c, v = raw[0], raw[1], raw[2], raw[3], raw[4], raw[5]
    if type(o) is not str or type(h) is not str or type(low) is not str:
        return None
    if type(c) is not str or type(v) is not str or type(ts) is not int:
        return None
    try:
        return [int(float(ts)), float(o), float(h), float(low), float(c), float(v)]
    except ValueError:  # "" or not a number: ccxt makes that field None
        return None


def parse_rows(raw: Any, parse_row: ParseRow, parse_all: ParseAll) -> list[list]:
    """``parse_all(raw)`` (ccxt's ``parse_ohlcvs``), each usual row parsed here."""
    if not isinstance(raw, list):
        return parse_all(raw)
    rows = []
    for item in raw:
        row = _row(item)
        rows.append(row if row is not None else parse_row(item))
    try:
        return sorted(rows, key=itemgetter(0))
    except TypeError:  # a row without an open time: ccxt sorts it as 0
        return sorted(rows, key=lambda row: row[0] if row[0] is not None else 0)
