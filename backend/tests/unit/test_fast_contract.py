"""Differential tests: the contract ``push.ticker`` fast path against ccxt's own handler.

The same decoded JSON messages go to ccxt.pro and to ``MexcWsClient(fast_path=True)``; after
each one the harness of ``test_fast_path`` compares whether either raised, every pending
future's resolution and every stored ticker on the fields the fast path promises
(``SWAP_TICKER_FIELDS``, what ``parse_swap_ticker`` reads). Recorded real pushes must take the
fast path; generated ones cover MEXC's shape with any finite numbers (which must take it too)
and every odd shape (strings, NaN, bools, unknown or ambiguous contracts, stray keys), which
must either take it with ccxt's values or be left to ccxt.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMessage, WSMsgType
from hypothesis import event, given
from hypothesis import strategies as st

from backend.src.adapters import mexc_fast_contract as fast_contract
from backend.src.adapters.mexc_parsing import parse_swap_ticker
from backend.src.adapters.mexc_ws_client import MexcWsClient

from ..recorded_real import payload
from .recorded import RECORDED, _market
from .test_fast_path import LARGE, QUIET, canon, differential, run
from .test_recorded_swap_ticker import swap_markets

MARKETS = [
    _market("BTC/USDT", "BTCUSDT", "spot"),
    _market("BTC/USDT:USDT", "BTC_USDT", "swap", contractSize=0.0001),
    _market("LINK/USDT:USDT", "LINK_USDT", "swap", contractSize=None),
    _market("BTC/USD:BTC", "BTC_USD", "swap", contractSize=100.0, linear=False, inverse=True, settle="BTC"),
    # ccxt cannot tell these two apart by id: left to ccxt
    _market("DUP/USDT", "DUP_USDT", "spot"),
    _market("DUP/USDT:USDT", "DUP_USDT", "swap", contractSize=1.0),
]
CONTRACT_IDS = ["BTC_USDT", "LINK_USDT", "BTC_USD"]
ODD_IDS = ["DUP_USDT", "BTCUSDT", "NOPE_USDT", "", "BTC/USDT:USDT"]
SYMBOLS = {m["symbol"] for m in MARKETS} | set(ODD_IDS) - {""}
HASHES = [f"{kind}:{s}" for s in SYMBOLS for kind in ("ticker", "bidask")]
NUMBER_FIELDS = [
    "lastPrice", "bid1", "ask1", "volume24", "amount24", "high24Price", "lower24Price", "riseFallValue",
    "riseFallRate", "fairPrice", "indexPrice", "holdVol", "fundingRate", "maxBidPrice", "minAskPrice",
]  # fmt: skip

#: JSON numbers as MEXC sends them: prices, rates, contract counts, zero, negatives
FINITE = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**12), 10**12),
    st.sampled_from([0, 0.0, -0.0, 1e-8, 5e-05, 97123.45, 2**53 + 1]),
)
ODD_VALUES = st.sampled_from([
    None, "76376.1", "", "abc", "nan", True, False, float("nan"), float("inf"), -float("inf"),
    [], {}, 10**400,
])  # fmt: skip
TIMESTAMPS = st.one_of(
    st.integers(1_500_000_000_000, 2_100_000_000_000),
    st.sampled_from([0, -1, 2**53, 2**53 + 1, 8_640_000_000_000_001, 1.7e12, "1731137509138", None, True]),
)


@st.composite
def pushes(draw: st.DrawFn) -> dict[str, Any]:
    """A contract ``push.ticker`` as MEXC sends it, with any finite numbers."""
    market_id = draw(st.sampled_from(CONTRACT_IDS))
    data: dict[str, Any] = {"symbol": market_id, **{key: draw(FINITE) for key in NUMBER_FIELDS}}
    data["timestamp"] = draw(st.integers(1_500_000_000_000, 2_100_000_000_000))
    data["zone"] = "UTC+8"
    data["riseFallRates"] = [draw(FINITE) for _ in range(3)]
    return {"symbol": market_id, "data": data, "channel": "push.ticker", "ts": data["timestamp"]}


ODDITIES = [
    "number", "missing field", "timestamp", "market", "data symbol", "no data", "data list", "stray key",
]  # fmt: skip


@st.composite
def odd_pushes(draw: st.DrawFn) -> dict[str, Any]:
    """A push as MEXC sends it with one or two things off (one at a time, so that each
    reaches the fast path's checks rather than the first one failing every time)."""
    message = draw(pushes())
    data = message["data"]
    for oddity in draw(st.lists(st.sampled_from(ODDITIES), min_size=1, max_size=2)):
        event(f"odd: {oddity}")
        if oddity == "number":
            data[draw(st.sampled_from(NUMBER_FIELDS))] = draw(ODD_VALUES)
        elif oddity == "missing field":
            data.pop(draw(st.sampled_from([*NUMBER_FIELDS, "timestamp", "symbol"])), None)
        elif oddity == "timestamp":
            data["timestamp"] = draw(TIMESTAMPS)
        elif oddity == "market":
            message["symbol"] = data["symbol"] = draw(st.sampled_from(ODD_IDS))
        elif oddity == "data symbol":
            data["symbol"] = draw(st.sampled_from([*CONTRACT_IDS, *ODD_IDS]))
        elif oddity == "no data":
            message.pop("data", None)
        elif oddity == "data list":
            message["data"] = [data]
        else:
            message[draw(st.sampled_from(["s", "d", "t", "c", "msg", "sendTime", "extra"]))] = draw(
                st.sampled_from(["BTCUSDT", "BTC_USDT", {"a": "1", "b": "2"}, 1_700_000_000_000, "x"])
            )
    return message


@LARGE
@given(st.lists(pushes(), min_size=1, max_size=12))
def test_contract_tickers_as_mexc_sends_them_take_the_fast_path_with_ccxts_values(frames: list[dict]) -> None:
    sut = run(lambda: differential(frames, markets=MARKETS, hashes=HASHES))
    assert sut.fast_frames == len(frames) and sut.fast_fallbacks == 0


@LARGE
@given(st.lists(st.one_of(pushes(), odd_pushes()), min_size=1, max_size=12))
def test_odd_contract_tickers_are_handled_as_ccxt_handles_them(frames: list[dict]) -> None:
    sut = run(lambda: differential(frames, markets=MARKETS, hashes=HASHES))
    event("fast path used" if sut.fast_frames else "fast path unused")
    event("fell back to ccxt" if sut.fast_fallbacks else "no fallback")


def _recorded_pushes() -> list[dict[str, Any]]:
    """Every recorded contract ``push.ticker``: a live one (LINK, tier B) and ccxt's example."""
    recorded = [payload("contract_ws_push_ticker_link"), payload("contract_ws_push_ticker_btc_ccxt")]
    return [*recorded, RECORDED["swap_push_ticker"]]


def test_recorded_contract_tickers_take_the_fast_path_with_ccxts_values() -> None:
    markets = swap_markets()
    hashes = ["ticker:BTC/USDT:USDT", "ticker:LINK/USDT:USDT", "bidask:BTC/USDT:USDT"]
    sut = run(lambda: differential(_recorded_pushes(), markets=markets, hashes=hashes))
    assert sut.fast_frames == 3 and sut.fast_fallbacks == 0


def test_the_adapter_reads_the_same_record_on_both_paths_and_ccxts_parser_is_skipped() -> None:
    """Through the connection (wire text → orjson → handler) into ``parse_swap_ticker``."""

    async def records(fast: bool) -> tuple[list[dict], int, list[str]]:
        ws = MexcWsClient(QUIET, fast_path=fast)
        ws.set_markets(swap_markets())
        parsed: list[str] = []
        original = ws.parse_ticker
        ws.parse_ticker = lambda *a: parsed.append("parse_ticker") or original(*a)  # type: ignore[method-assign]
        client = ws.client(ws.urls["api"]["ws"]["swap"])
        out = []
        for push in _recorded_pushes():
            symbol = {"BTC_USDT": "BTC/USDT:USDT", "LINK_USDT": "LINK/USDT:USDT"}[push["symbol"]]
            future = client.future(f"ticker:{symbol}")
            client.handle_message(WSMessage(WSMsgType.TEXT, json.dumps(push), None))
            out.append(parse_swap_ticker(future.result(), ws.markets[symbol]["contractSize"]))
        await ws.close()
        return out, ws.fast_frames, parsed

    fast, slow = asyncio.run(records(True)), asyncio.run(records(False))
    assert canon(fast[0]) == canon(slow[0])
    assert fast[1] == 3 and fast[2] == [] and slow[1] == 0 and len(slow[2]) == 3
    link = fast[0][0]
    assert (link["funding"], link["oi_contracts"], link["last"]) == (-4.5e-05, 14558875, 14.022)


def test_a_push_ccxt_would_choke_on_is_left_to_it_and_counted_as_malformed() -> None:
    """A string where MEXC sends a number: ccxt's exact decimals raise, the connection's guard
    counts the frame as malformed, nothing is stored; the fast path must not deliver it."""
    push = RECORDED["swap_push_ticker"]
    bad = {**push, "data": {**push["data"], "volume24": "xyz"}}

    async def feed() -> MexcWsClient:
        ws = MexcWsClient(QUIET, fast_path=True)
        ws.set_markets(MARKETS)
        client = ws.client(ws.urls["api"]["ws"]["swap"])
        client.handle_message(WSMessage(WSMsgType.TEXT, json.dumps(bad), None))
        await ws.close()
        return ws

    ws = asyncio.run(feed())
    assert ws.fast_fallbacks == 1 and ws.fast_frames == 0
    assert sum(ws.malformed.values()) == 1 and "BTC/USDT:USDT" not in ws.tickers


def test_huge_integers_are_read_as_ccxt_reads_them() -> None:
    """An int past a float's range makes ``float()`` raise, where ccxt's decimal string reads
    as inf: left to ccxt (found by the property test above); one a float holds takes the fast
    path with ccxt's value."""
    push = RECORDED["swap_push_ticker"]
    huge = {**push, "data": {**push["data"], "lastPrice": 10**400}}
    large = {**push, "data": {**push["data"], "lastPrice": 2**1023, "volume24": -(2**1023)}}
    hashes = ["ticker:BTC/USDT:USDT"]
    sut = run(lambda: differential([huge, large], markets=MARKETS, hashes=hashes))
    assert (sut.fast_fallbacks, sut.fast_frames) == (1, 1)


def test_swap_market_lookup() -> None:
    by_id = {m["id"]: [m] for m in MARKETS if m["id"] != "DUP_USDT"}
    by_id["DUP_USDT"] = [m for m in MARKETS if m["id"] == "DUP_USDT"]
    assert fast_contract.swap_market("BTC_USDT", by_id)["symbol"] == "BTC/USDT:USDT"
    assert fast_contract.swap_market("BTCUSDT", by_id) is None  # spot
    assert fast_contract.swap_market("DUP_USDT", by_id) is None  # ambiguous
    assert fast_contract.swap_market("NOPE_USDT", by_id) is None
    assert fast_contract.swap_market(7, by_id) is None
    assert fast_contract.swap_market("BTC_USDT", None) is None
