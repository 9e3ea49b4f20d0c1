"""MEXC's real spot protobuf frames through ``MexcWsClient``, fast path on and off.

Every binary frame in the recordings (kind ``ws-protobuf-hex``) enters at the connection, as
from aiohttp, and the stored tickers, trades and candles must carry the values MEXC sent, as
decoded with MEXC's official 2026-06 protos (``decoded_with_official_proto``). The 2026-06
frames carry fields ccxt's bundled protobuf classes do not know (``tradeId`` on deals,
``version``/``lastOrderCreateTime`` on book tickers and depth): both paths must skip them.
The last test takes the frames over a real socket through ccxt's own ``watch_*``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import WSMessage, WSMsgType

from backend.src.adapters.mexc_parsing import parse_book_ticker, parse_trades
from backend.src.adapters.mexc_ws_client import MexcWsClient
from backend.src.sim.server import sim_urls

from ..recorded_real import RecordedMexc, ccxt_markets, entry, frame_bytes, names

QUIET: dict[str, Any] = {"verify": False, "timeout_on_exit": 0, "enableRateLimit": False}
HEX = names("ws-protobuf-hex")
BOOK_TICKERS = [n for n in HEX if "bookticker" in n]
DEALS = [n for n in HEX if "deals" in n]
KLINES = [n for n in HEX if "kline" in n]
SIDES = {1: "buy", 2: "sell"}  # tradeType


def decoded(name: str) -> dict[str, Any]:
    return entry(name)["decoded_with_official_proto"]


async def fed(name: str, fast_path: bool) -> MexcWsClient:
    """A client with the recorded markets that received frame ``name`` at its connection."""
    ws = MexcWsClient(QUIET, fast_path=fast_path)
    ws.set_markets(list(ccxt_markets().values()))
    client = ws.client(ws.urls["api"]["ws"]["spot"])
    client.handle_message(WSMessage(WSMsgType.BINARY, frame_bytes(name), None))
    await ws.close()
    assert not ws.malformed, ws.malformed
    return ws


def test_the_recordings_hold_every_frame_kind_and_the_2026_fields() -> None:
    assert len(BOOK_TICKERS) == 2 and len(DEALS) == 2 and len(KLINES) == 2
    assert all("version" in decoded(n)["publicAggreBookTicker"] for n in BOOK_TICKERS)
    assert all("tradeId" in d for n in DEALS for d in decoded(n)["publicAggreDeals"]["deals"])


@pytest.mark.asyncio
@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize("name", BOOK_TICKERS)
async def test_book_ticker_frames(name: str, fast_path: bool) -> None:
    ws = await fed(name, fast_path)
    want = decoded(name)
    body = want["publicAggreBookTicker"]
    ticker = ws.tickers["BTC/USDT"]
    assert (ticker["bid"], ticker["ask"]) == (float(body["bidPrice"]), float(body["askPrice"]))
    assert ticker["timestamp"] == int(want["sendTime"])
    assert ws.fast_frames == (1 if fast_path else 0)
    record = parse_book_ticker(ticker, None, None)
    assert record["ts"] == int(want["sendTime"]) and record["spread"] == pytest.approx(
        float(body["askPrice"]) - float(body["bidPrice"])
    )
    if not fast_path:  # the fast path builds only the fields the adapter reads
        assert ticker["bidVolume"] == float(body["bidQuantity"])
        assert ticker["askVolume"] == float(body["askQuantity"])


@pytest.mark.asyncio
@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize("name", DEALS)
async def test_deals_frames(name: str, fast_path: bool) -> None:
    ws = await fed(name, fast_path)
    want = [
        {
            "ts": int(d["time"]),
            "price": float(d["price"]),
            "amount": float(d["quantity"]),
            "side": SIDES[d["tradeType"]],
        }
        for d in decoded(name)["publicAggreDeals"]["deals"]
    ]
    assert parse_trades(list(ws.trades["BTC/USDT"])) == want
    assert ws.fast_frames == (1 if fast_path else 0)


@pytest.mark.asyncio
@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize("name", KLINES)
async def test_kline_frames_window_start_in_seconds(name: str, fast_path: bool) -> None:
    ws = await fed(name, fast_path)
    k = decoded(name)["publicSpotKline"]
    candle = ws.ohlcvs["BTC/USDT"]["1m"][-1]
    prices = [float(k[f]) for f in ("openingPrice", "highestPrice", "lowestPrice", "closingPrice")]
    assert candle == [int(k["windowStart"]) * 1000, *prices, float(k["volume"])]


@pytest.mark.asyncio
@pytest.mark.parametrize("fast_path", [True, False])
async def test_limit_depth_frame_is_ignored_without_harm(fast_path: bool) -> None:
    ws = await fed("spot_ws_pb_limit_depth5_hex", fast_path)  # a channel ccxt 4.5.90 does not use
    assert not ws.tickers and not ws.trades and not ws.orderbooks


@pytest_asyncio.fixture
async def server() -> AsyncIterator[RecordedMexc]:
    async with RecordedMexc() as srv:
        yield srv


@pytest.mark.asyncio
@pytest.mark.parametrize("fast_path", [True, False])
async def test_real_frames_over_a_socket_through_watch(server: RecordedMexc, fast_path: bool) -> None:
    ws = MexcWsClient({**QUIET, "urls": {"api": sim_urls(server.url)}}, fast_path=fast_path)
    ws.set_markets(list(ccxt_markets().values()))
    try:
        ticker, trades, candles = await asyncio.wait_for(
            asyncio.gather(
                ws.watch_ticker("BTC/USDT"), ws.watch_trades("BTC/USDT"), ws.watch_ohlcv("BTC/USDT")
            ),
            2.0,
        )
    finally:
        await ws.close()
    book = decoded("spot_ws_pb_aggre_bookticker_100ms_hex")
    assert (ticker["bid"], ticker["ask"], ticker["timestamp"]) == (84270.0, 84270.01, int(book["sendTime"]))
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [
        (84270.0, 0.00099829, "sell"),
        (84270.0, 0.00019169, "buy"),
    ]
    assert (
        candles[-1][0]
        == int(decoded("spot_ws_pb_kline_min1_hex_osslabz")["publicSpotKline"]["windowStart"]) * 1000
    )
    assert server.spot_subscriptions == [
        "spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT",
        "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT",
        "spot@public.kline.v3.api.pb@BTCUSDT@Min1",
    ]
