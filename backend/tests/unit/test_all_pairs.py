"""The all-pairs REST tickers parsed outside ccxt (``all_pairs``) against ccxt's own parsing.

ccxt's ``fetch_bids_asks``/``fetch_tickers`` are ``parse_tickers`` of the answer: the fields the
adapter reads of each ticker must come out the same, on MEXC's recorded answers (every row
and each single-symbol answer as a row) and on rows whose read fields hold what a hostile or
changed API might send. Where ccxt itself cannot parse a row, nothing is compared.
"""

from __future__ import annotations

import math
from typing import Any

import ccxt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.src.adapters.mexc.all_pairs import (
    BOOK_FIELDS,
    DAY_FIELDS,
    book_row,
    day_row,
    reduce_tickers,
)

from ..recorded_real import ccxt_markets, payload

BOOKS = [*payload("spot_bookticker_all"), payload("spot_bookticker_btcusdt")]
DAYS = [
    *payload("spot_ticker24hr_all"),
    payload("spot_ticker24hr_btcusdt"),
    payload("ccxt_spot_ticker24hr_btcusdt"),
]
#: what a read field may hold instead of a decimal string
ODD = ["0", "0.000", "", None, "abc", 0, 0.0, 1.5, 7, True, "1e-8", "nan", "-2.5", " 3 ", [], {"x": 1}]
#: ids: listed spot ones, a perpetual's, one nobody lists, not a string
IDS = ["BTCUSDT", "AOUSDT", "METALUSDT", "BTC_USDT", "NEWUSDT", None, 5]


@pytest.fixture(scope="module")
def client() -> ccxt.mexc:
    exchange = ccxt.mexc({"enableRateLimit": False})
    exchange.set_markets(list(ccxt_markets().values()))
    return exchange


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included (a "nan" string is NaN on both sides)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def assert_as_ccxt(rows: Any, client: ccxt.mexc, fast: Any, fields: tuple[str, ...]) -> None:
    try:
        expected = client.parse_tickers(rows)
    except Exception:  # ccxt cannot parse it: nothing to be equal to
        return
    got = reduce_tickers(rows, client, fast, fields)
    assert list(got) == list(expected)
    for symbol, ticker in expected.items():
        for field in fields:
            assert same(got[symbol][field], ticker[field]), (symbol, field, got[symbol][field], ticker[field])


def test_recorded_book_and_24h_tickers_read_as_ccxt_reads_them(client: ccxt.mexc) -> None:
    assert_as_ccxt(BOOKS, client, book_row, BOOK_FIELDS)
    assert_as_ccxt(DAYS, client, day_row, DAY_FIELDS)
    assert_as_ccxt(payload("spot_bookticker_btcusdt"), client, book_row, BOOK_FIELDS)  # not a list
    books = reduce_tickers(BOOKS, client, book_row, BOOK_FIELDS)
    assert books["AO/USDT"] == {"symbol": "AO/USDT", "bid": 5.336, "ask": 5.373}
    day = reduce_tickers(DAYS, client, day_row, DAY_FIELDS)["BTC/USDT"]
    assert (day["last"], day["baseVolume"], day["timestamp"]) == (73397.77, 7729.258925, 1710328251172)


def test_rows_of_another_shape_are_ccxts_own(client: ccxt.mexc) -> None:
    """No lastPrice (ccxt derives it from open and change), a swap-shaped row, an unknown id."""
    derived = {**payload("spot_ticker24hr_btcusdt"), "lastPrice": None}
    swap_shaped = {**payload("spot_ticker24hr_btcusdt"), "timestamp": 1767206031677, "bid1": 1.0}
    unknown = {**payload("spot_bookticker_btcusdt"), "symbol": "NEWUSDT"}
    assert_as_ccxt([derived, swap_shaped], client, day_row, DAY_FIELDS)
    assert_as_ccxt([unknown], client, book_row, BOOK_FIELDS)
    assert reduce_tickers([derived], client, day_row, DAY_FIELDS)["BTC/USDT"]["last"] == 87904.0


@settings(max_examples=150, deadline=None)
@given(
    base=st.sampled_from(DAYS),
    changes=st.dictionaries(
        st.sampled_from(
            ["bidPrice", "askPrice", "lastPrice", "volume", "quoteVolume", "closeTime", "openPrice"]
        ),
        st.sampled_from(ODD),
        max_size=4,
    ),
    market_id=st.sampled_from(IDS),
)
def test_odd_values_in_the_read_fields_read_as_ccxt_reads_them(
    client: ccxt.mexc, base: dict[str, Any], changes: dict[str, Any], market_id: Any
) -> None:
    row = {**base, **changes, "symbol": market_id}
    assert_as_ccxt([row, base], client, book_row, BOOK_FIELDS)
    assert_as_ccxt([row, base], client, day_row, DAY_FIELDS)
