"""The real ``ccxt.pro.mexc`` watch_* methods against the simulator's websockets,
plus the wire protocol details ccxt does not expose (acks, pongs, limits)."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import ccxt.pro as ccxt_pro
import pytest
from ccxt.protobuf.mexc import PushDataV3ApiWrapper_pb2

from backend.src.sim import MexcSimulator

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"


async def recv_json(ws: aiohttp.ClientWebSocketResponse, wait: float = 2.0) -> dict:
    """Next text frame as JSON, skipping binary pushes."""
    deadline = time.monotonic() + wait
    while True:
        msg = await asyncio.wait_for(ws.receive(), max(0.01, deadline - time.monotonic()))
        if msg.type == aiohttp.WSMsgType.TEXT:
            return json.loads(msg.data)
        if msg.type != aiohttp.WSMsgType.BINARY:
            raise AssertionError(f"unexpected frame {msg.type}")


@pytest.mark.asyncio
async def test_watch_spot_ticker_is_a_book_ticker(pro: ccxt_pro.mexc):
    ticker = await asyncio.wait_for(pro.watch_ticker("BTC/USDT"), 5)
    assert ticker["symbol"] == "BTC/USDT"
    assert 0 < ticker["bid"] < ticker["ask"] and ticker["bidVolume"] > 0
    assert ticker["last"] is None and ticker["baseVolume"] is None  # like the real MEXC
    assert ticker["timestamp"] > 0


@pytest.mark.asyncio
async def test_watch_trades_ohlcv_and_order_book(sim: MexcSimulator, pro: ccxt_pro.mexc):
    trades = await asyncio.wait_for(pro.watch_trades("ETH/USDT"), 5)
    assert trades and trades[0]["id"] is None and trades[0]["side"] in ("buy", "sell")
    assert trades[0]["amount"] > 0 and trades[0]["timestamp"] > 0

    candles = await asyncio.wait_for(pro.watch_ohlcv("ETH/USDT", "1m"), 5)
    ts, o, h, low, c, v = candles[-1]
    assert ts % 60_000 == 0 and low <= min(o, c) <= max(o, c) <= h and v > 0

    book = await asyncio.wait_for(pro.watch_order_book("ETH/USDT"), 10)  # 25 deltas first
    assert book["bids"][0][0] < book["asks"][0][0] and book["nonce"] is not None
    assert len(book["bids"]) >= 10


@pytest.mark.asyncio
async def test_watch_swap_ticker_funding_and_trades(pro: ccxt_pro.mexc):
    ticker = await asyncio.wait_for(pro.watch_ticker("BTC/USDT:USDT"), 5)
    assert ticker["symbol"] == "BTC/USDT:USDT" and ticker["last"] > 0
    assert ticker["bid"] <= ticker["ask"]
    assert "fundingRate" in ticker["info"] and ticker["info"]["holdVol"] > 0
    rate = await asyncio.wait_for(pro.watch_funding_rate("BTC/USDT:USDT"), 5)
    assert rate["symbol"] == "BTC/USDT:USDT" and abs(rate["fundingRate"]) < 0.01
    assert rate["fundingTimestamp"] > time.time() * 1000
    trades = await asyncio.wait_for(pro.watch_trades("BTC/USDT:USDT"), 5)
    assert trades and trades[-1]["amount"] >= 1  # contracts
    book = await asyncio.wait_for(pro.watch_order_book("BTC/USDT:USDT"), 5)
    assert book["bids"][0][0] < book["asks"][0][0] and book["nonce"] is not None
    candles = await asyncio.wait_for(pro.watch_ohlcv("BTC/USDT:USDT", "1m"), 5)
    assert candles[-1][0] % 60_000 == 0 and candles[-1][5] >= 1  # volume in contracts


@pytest.mark.asyncio
async def test_spot_protocol_acks_pings_and_unsubscribe(sim: MexcSimulator):
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url + "/ws") as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": [DEALS]}))
        assert await recv_json(ws) == {"id": 0, "code": 0, "msg": DEALS}
        for ping in ("ping", "PING", "Ping"):
            await ws.send_str(json.dumps({"method": ping}))
            assert await recv_json(ws) == {"id": 0, "code": 0, "msg": "PONG"}
        frame = await asyncio.wait_for(ws.receive_bytes(), 2)
        decoded = PushDataV3ApiWrapper_pb2.PushDataV3ApiWrapper()
        decoded.ParseFromString(frame)
        assert decoded.channel == DEALS and decoded.symbol == "BTCUSDT"
        assert decoded.sendTime > 0 and len(decoded.publicAggreDeals.deals) >= 1
        await ws.send_str(json.dumps({"method": "UNSUBSCRIPTION", "params": [DEALS]}))
        assert await recv_json(ws) == {"id": 0, "code": 0, "msg": DEALS}
        await ws.send_str(
            json.dumps({"method": "SUBSCRIPTION", "params": ["spot@public.aggre.deals.v3.api.pb@100ms@NOPE"]})
        )
        failed = (await recv_json(ws))["msg"]
        assert failed.startswith("Not Subscribed successfully! [") and "Reason：" in failed


@pytest.mark.asyncio
async def test_at_most_30_subscriptions_per_connection(sim: MexcSimulator):
    channels = [
        f"spot@public.kline.v3.api.pb@{sym}@{iv}"
        for sym in ("BTCUSDT", "ETHUSDT")
        for iv in ("Min1", "Min5", "Min15", "Min30", "Min60", "Hour4", "Hour8", "Day1", "Week1", "Month1")
    ]
    channels += [
        f"spot@public.aggre.{k}.v3.api.pb@{f}@DOGEUSDT"
        for k in ("deals", "bookTicker", "depth")
        for f in ("100ms", "10ms")
    ]
    assert len(channels) == 26
    channels += [f"spot@public.aggre.{k}.v3.api.pb@10ms@BTCUSDT" for k in ("deals", "bookTicker", "depth")]
    channels += [DEALS, "spot@public.aggre.depth.v3.api.pb@100ms@ETHUSDT"]
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url + "/ws") as ws:
        for i, channel in enumerate(channels):
            await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": [channel]}))
            msg = (await recv_json(ws))["msg"]
            if i < 30:
                assert msg == channel
            else:
                assert msg.startswith("Not Subscribed successfully!") and channel in msg
    assert len(sim.recorder.refused_subscriptions) == 1


@pytest.mark.asyncio
async def test_swap_protocol_responses(sim: MexcSimulator):
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url + "/edge") as ws:
        await ws.send_str(json.dumps({"method": "sub.ticker", "param": {"symbol": "BTC_USDT"}}))
        rs = await recv_json(ws)
        assert rs["channel"] == "rs.sub.ticker" and rs["data"] == "success" and rs["ts"] > 0
        await ws.send_str(json.dumps({"method": "ping"}))
        while (msg := await recv_json(ws))["channel"] != "pong":
            assert msg["channel"] == "push.ticker"
            assert {
                "lastPrice",
                "bid1",
                "ask1",
                "volume24",
                "holdVol",
                "fundingRate",
                "fairPrice",
                "indexPrice",
                "timestamp",
            } <= set(msg["data"])
        assert isinstance(msg["data"], int)
        await ws.send_str(json.dumps({"method": "sub.deal", "param": {"symbol": "DOGE_USDT"}}))
        while (msg := await recv_json(ws))["channel"] == "push.ticker":
            pass
        assert msg["channel"] == "rs.error"


@pytest.mark.asyncio
async def test_server_drops_connection_without_subscription_or_ping():
    async with (
        MexcSimulator(no_sub_timeout=0.3, idle_timeout=0.6, push_interval=0.05) as sim,
        aiohttp.ClientSession() as session,
    ):
        async with session.ws_connect(sim.ws_url + "/ws") as ws:  # never subscribes
            msg = await asyncio.wait_for(ws.receive(), 3)
            assert msg.type == aiohttp.WSMsgType.CLOSE
        async with session.ws_connect(sim.ws_url + "/ws") as ws:  # subscribes, never pings
            await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": [DEALS]}))
            started = time.monotonic()
            while (msg := await asyncio.wait_for(ws.receive(), 3)).type in (
                aiohttp.WSMsgType.TEXT,
                aiohttp.WSMsgType.BINARY,
            ):
                pass
            assert msg.type == aiohttp.WSMsgType.CLOSE and time.monotonic() - started >= 0.5
        reasons = [r.close_reason for r in sim.recorder.connections.values()]
        assert len(reasons) == 2 and all(r and r.startswith("closed") for r in reasons)


@pytest.mark.asyncio
async def test_max_connection_lifetime_closes_even_a_busy_client(make_pro):
    async with MexcSimulator(max_lifetime=1.0, push_interval=0.05) as sim:
        ex = make_pro(sim, streaming={"keepAlive": 200})
        await ex.watch_trades("BTC/USDT")
        started = time.monotonic()
        with pytest.raises(ccxt_pro.NetworkError, match="1000"):
            while time.monotonic() - started < 5:
                await ex.watch_trades("BTC/USDT")
        assert 0.5 < time.monotonic() - started < 2.5
