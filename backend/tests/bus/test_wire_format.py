"""Subject scheme and the md and bar codecs: pure functions, no server."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.src.bus.codec import (
    BAR_CODEC_VERSION,
    CODEC_HEADER,
    CODEC_VERSION,
    HISTORY_HEADER,
    SEQ_HEADER,
    SOURCE_HEADER,
    bar_headers,
    decode_bar,
    decode_md,
    encode_bar,
    encode_md,
    md_headers,
)
from backend.src.bus.subjects import bar_subject, md_subject, subject_symbol, symbol_token, token_symbol
from backend.src.errors import CodecError
from backend.src.market_data import make_bar

MD = {
    "symbol": "BTC/USDT",
    "ts": 1_700_000_000_123,
    "price": 67_123.45,
    "bid": 0.1 + 0.2,  # not representable in short decimal: must come back bit-identical
    "ask": 1e-9,
    "spread": None,
    "vol": 1234.0,  # float, not int, after the round trip
    "texts": ["BTC ETF approved", "ünïcode ✓"],
    "funding": -0.0001,
    "oi": None,
    "stale": False,
}


def test_subject_scheme_round_trips() -> None:
    assert md_subject("BTC/USDT") == "md.mexc.spot.BTC_USDT"
    assert md_subject("1INCH/USDT") == "md.mexc.spot.1INCH_USDT"
    assert subject_symbol("md.mexc.spot.BTC_USDT") == "BTC/USDT"
    assert token_symbol(symbol_token("X-Y/USDC")) == "X-Y/USDC"


@pytest.mark.parametrize(
    "bad", ["BTCUSDT", "BTC/USDT:USDT", "B.TC/USDT", "BTC/US*", "A_B/USDT", "BTC/", " /X"]
)
def test_symbols_that_would_not_map_back_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot be a bus subject"):
        md_subject(bad)


def test_foreign_subjects_are_rejected() -> None:
    with pytest.raises(ValueError, match="not an md subject"):
        subject_symbol("md.binance.spot.BTC_USDT")
    with pytest.raises(ValueError, match="not a bus symbol token"):
        token_symbol("BTCUSDT")


def test_md_round_trip_is_exact() -> None:
    out = decode_md(encode_md(MD), CODEC_VERSION)
    assert out == MD
    assert list(out) == list(MD)  # key order kept
    assert [type(v) for v in out.values()] == [type(v) for v in MD.values()]
    assert out["bid"] == 0.1 + 0.2 and isinstance(out["vol"], float) and out["stale"] is False


md_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.lists(st.text(), max_size=3),
)


@given(st.dictionaries(st.text(min_size=1), md_values, max_size=12))
def test_any_md_shaped_dict_round_trips_exactly(md: dict) -> None:
    out = decode_md(encode_md(md), CODEC_VERSION)
    assert out == md
    for key, value in md.items():
        assert type(out[key]) is type(value)
        if isinstance(value, float):  # -0.0 == 0.0, so compare the sign too
            assert math.copysign(1.0, out[key]) == math.copysign(1.0, value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("price", math.nan), ("price", math.inf), ("texts", ("a",)), ("oi", {1: 2.0}), ("vol", b"1")],
)
def test_values_json_would_change_are_rejected(field: str, value: object) -> None:
    with pytest.raises(CodecError):
        encode_md({**MD, field: value})


def test_unknown_codec_versions_and_bad_payloads_are_rejected() -> None:
    payload = encode_md(MD)
    for codec in ("md/2", None, "json"):
        with pytest.raises(CodecError, match="unsupported md codec"):
            decode_md(payload, codec)
    with pytest.raises(CodecError, match="not JSON"):
        decode_md(b"{not json", CODEC_VERSION)
    with pytest.raises(CodecError, match="not an md object"):
        decode_md(orjson.dumps([1, 2]), CODEC_VERSION)


def test_headers_name_codec_source_and_sequence() -> None:
    assert md_headers("feed-a", 7) == {CODEC_HEADER: "md/1", SOURCE_HEADER: "feed-a", SEQ_HEADER: "7"}


def test_bars_have_a_subject_and_a_codec_of_their_own() -> None:
    bar = make_bar("BTC/USDT", [1_767_225_600_000, 0.1 + 0.2, 1.0, 0.1, 0.5, 0.0], True, revision=True)
    assert bar_subject("BTC/USDT") == "bars.mexc.spot.BTC_USDT"
    decoded = decode_bar(encode_bar(bar), BAR_CODEC_VERSION)
    assert decoded == bar and type(decoded["ts"]) is int and decoded["open"] == 0.1 + 0.2
    with pytest.raises(CodecError, match="unsupported bar codec"):
        decode_bar(encode_bar(bar), CODEC_VERSION)  # an md codec is not a bar's
    assert bar_headers("feed-a", 3, history=False) == {
        CODEC_HEADER: "bar/1",
        SOURCE_HEADER: "feed-a",
        SEQ_HEADER: "3",
    }
    assert bar_headers("feed-a", 4, history=True)[HISTORY_HEADER] == "1"
