"""Kline rows parsed outside ccxt (``kline_rows``) against ccxt's own ``parse_ohlcvs``.

Every recorded real spot kline page must give ccxt's rows, and so must pages whose fields hold
what a hostile or changed API might send (numbers for strings, empty or unreadable fields,
short rows, rows out of order, an answer that is not a list).
"""

from __future__ import annotations

import math
from typing import Any

import ccxt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.src.adapters.mexc.kline_rows import parse_rows

from ..recorded_real import names, payload

PAGES = [n for n in names("rest") if n.startswith(("spot_klines", "ccxt_spot_klines"))]
ODD = ["", None, "abc", "nan", "1e-8", " 7 ", "-1", 0, 1.5, 3, True, [], "0"]


@pytest.fixture(scope="module")
def client() -> ccxt.mexc:
    return ccxt.mexc({"enableRateLimit": False})


def assert_as_ccxt(raw: Any, client: ccxt.mexc) -> None:
    def same(a: Any, b: Any) -> bool:
        nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        return nan or (type(a) is type(b) and a == b)

    def ours() -> list[list]:
        return parse_rows(
            raw, lambda row: client.parse_ohlcv(row, None), lambda r: client.parse_ohlcvs(r, None, "1m")
        )

    try:
        expected = client.parse_ohlcvs(raw, None, "1m")
    except Exception as exc:  # what ccxt cannot parse, neither do we: the same error
        with pytest.raises(type(exc)):
            ours()
        return
    got = ours()
    assert len(got) == len(expected)
    assert all(same(a, b) for g, e in zip(got, expected, strict=True) for a, b in zip(g, e, strict=True))


def test_the_recorded_pages_are_ccxts_rows(client: ccxt.mexc) -> None:
    assert len(PAGES) >= 4
    for name in PAGES:
        assert_as_ccxt(payload(name), client)
    assert_as_ccxt(None, client)
    assert_as_ccxt({"code": 0}, client)


@settings(max_examples=200, deadline=None)
@given(
    page=st.sampled_from(PAGES),
    edits=st.lists(st.tuples(st.integers(0, 7), st.sampled_from(ODD)), max_size=4),
    cut=st.integers(0, 8),
    shuffle=st.randoms(use_true_random=False),
)
def test_odd_rows_are_ccxts_rows(
    client: ccxt.mexc, page: str, edits: list[tuple[int, Any]], cut: int, shuffle: Any
) -> None:
    rows = payload(page)
    row = rows[0]
    for column, value in edits:
        row[column] = value
    rows.append(row[:cut])  # a short row
    shuffle.shuffle(rows)
    assert_as_ccxt(rows, client)
