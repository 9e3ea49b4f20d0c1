"""Stream and REST agree: streamed trades build the REST bar, depth versions are
contiguous and match REST snapshots, and the recorder accounts for every frame."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from decimal import Decimal

import aiohttp
import pytest
from ccxt.protobuf.mexc import PushDataV3ApiWrapper_pb2

from backend.src.sim import MexcSimulator, SimMarket

MINUTE = 60_000


def decode(frame: bytes) -> PushDataV3ApiWrapper_pb2.PushDataV3ApiWrapper:
    msg = PushDataV3ApiWrapper_pb2.PushDataV3ApiWrapper()
    msg.ParseFromString(frame)
    return msg


@pytest.mark.asyncio
async def test_streamed_trades_of_a_minute_equal_its_rest_bar(make_pro):
    """Clock skew puts a minute boundary 0.7 s ahead, so the test sees a whole minute's
    trades without waiting a real minute, then skews past its end to close it."""
    async with MexcSimulator(push_interval=0.05, quiet_probability=0.0) as sim:
        ex = make_pro(sim)
        candles: dict[int, list[float]] = {}

        async def collect_candles() -> None:
            while True:
                for candle in await ex.watch_ohlcv("BTC/USDT", "1m"):
                    candles[candle[0]] = candle

        trades = list(await ex.watch_trades("BTC/USDT"))
        candle_task = asyncio.create_task(collect_candles())
        real_now = sim.clock.now_ms() - sim.clock.skew_ms
        minute = (real_now // MINUTE + 2) * MINUTE
        sim.faults.skew_clock(minute - 700 - real_now)
        while sim.clock.now_ms() < minute + 1500:
            trades.extend(await ex.watch_trades("BTC/USDT"))
        sim.faults.skew_clock(sim.clock.skew_ms + MINUTE)  # the minute is over
        while trades[-1]["timestamp"] < minute + MINUTE:
            trades.extend(await ex.watch_trades("BTC/USDT"))
        await asyncio.sleep(0.1)
        candle_task.cancel()

        mine = [t for t in trades if minute <= t["timestamp"] < minute + MINUTE]
        assert len(mine) >= 20
        assert any(t["timestamp"] < minute for t in trades)  # streamed from before the open
        prices = [Decimal(t["info"]["price"]) for t in mine]
        volume = sum(Decimal(t["info"]["quantity"]) for t in mine)
        quote = sum(Decimal(t["info"]["price"]) * Decimal(t["info"]["quantity"]) for t in mine)
        (row,) = await ex.spotPublicGetKlines(
            {"symbol": "BTCUSDT", "interval": "1m", "startTime": minute, "endTime": minute + MINUTE}
        )
        assert row[0] == minute and row[6] == minute + MINUTE
        assert [Decimal(x) for x in row[1:6]] == [prices[0], max(prices), min(prices), prices[-1], volume]
        assert Decimal(row[7]) == quote
        streamed = candles[minute]  # the kline stream's last word on that minute
        assert streamed[1:5] == [float(x) for x in row[1:5]]
        assert streamed[5] == pytest.approx(float(volume))


@pytest.mark.asyncio
async def test_depth_stream_is_contiguous_and_matches_rest_snapshots(sim: MexcSimulator):
    channel = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
    url = sim.base_url + "/api/v3/depth"
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url + "/ws") as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": [channel]}))
        assert (await ws.receive_json(timeout=2))["msg"] == channel
        deltas = []
        async with session.get(url, params={"symbol": "BTCUSDT", "limit": 5000}) as r:
            first = await r.json()
        while len(deltas) < 20:
            deltas.append(decode(await ws.receive_bytes(timeout=2)).publicAggreDepths)
        async with session.get(url, params={"symbol": "BTCUSDT", "limit": 5000}) as r:
            second = await r.json()
        while int(deltas[-1].toVersion) < second["lastUpdateId"]:
            deltas.append(decode(await ws.receive_bytes(timeout=2)).publicAggreDepths)

    for prev, cur in itertools.pairwise(deltas):
        assert int(cur.fromVersion) == int(prev.toVersion) + 1
    # REST pads levels ("84270.00"), pushes trim them ("84270"), as on MEXC: compare numbers
    book = {side: {Decimal(p): Decimal(q) for p, q in first[side]} for side in ("bids", "asks")}
    applied = 0
    for d in deltas:
        if int(d.toVersion) <= first["lastUpdateId"] or int(d.fromVersion) > second["lastUpdateId"]:
            continue
        assert int(d.fromVersion) > first["lastUpdateId"]  # snapshots fall between deltas
        applied += 1
        for side, levels in (("bids", d.bids), ("asks", d.asks)):
            for level in levels:
                if Decimal(level.quantity) == 0:
                    book[side].pop(Decimal(level.price), None)
                else:
                    book[side][Decimal(level.price)] = Decimal(level.quantity)
    assert applied > 0
    for side in ("bids", "asks"):
        assert book[side] == {Decimal(p): Decimal(q) for p, q in second[side]}


@pytest.mark.asyncio
async def test_recorder_accounts_for_every_trade_ccxt_received(sim: MexcSimulator, pro):
    received = list(await pro.watch_trades("BTC/USDT"))
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        received.extend(await pro.watch_trades("BTC/USDT"))
    sim.faults.silence()
    while True:  # drain what was already on the wire
        try:
            received.extend(await asyncio.wait_for(pro.watch_trades("BTC/USDT"), 0.3))
        except TimeoutError:
            break
    assert len(received) == sim.recorder.trades_sent["BTCUSDT"] > 10
    channel = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
    rec = sim.recorder.channel(channel)
    assert rec.items == len(received) and rec.frames == rec.last_seq
    assert abs(rec.last_send_ms - sim.clock.now_ms()) < 2000


@pytest.mark.asyncio
async def test_recorder_counts_book_ticker_frames_a_raw_client_received(sim: MexcSimulator):
    channel = "spot@public.aggre.bookTicker.v3.api.pb@100ms@ETHUSDT"
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url + "/ws") as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": [channel]}))
        await ws.receive_json(timeout=2)
        frames = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            decode(await ws.receive_bytes(timeout=2))
            frames += 1
        sim.faults.silence()
        while True:
            try:
                await ws.receive_bytes(timeout=0.3)
                frames += 1
            except TimeoutError:
                break
    assert frames == sim.recorder.book_tickers_sent["ETHUSDT"] > 5


@pytest.mark.asyncio
async def test_push_rate_scales_for_benchmarks():
    markets = [SimMarket(f"C{i}/USDT", 10.0 + i, has_perp=False) for i in range(10)]
    async with (
        MexcSimulator(markets, push_interval=0.01, quiet_probability=0.0, history_minutes=10) as sim,
        aiohttp.ClientSession() as session,
    ):
        async with session.ws_connect(sim.ws_url + "/ws") as ws:
            for m in markets:
                for kind in ("deals", "bookTicker"):
                    ch = f"spot@public.aggre.{kind}.v3.api.pb@100ms@{m.spot_id}"
                    await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": [ch]}))
            count = 0
            started = time.monotonic()
            while time.monotonic() - started < 1.0:
                msg = await ws.receive(timeout=1)
                count += msg.type == aiohttp.WSMsgType.BINARY
    assert count > 800  # ~2000/s nominal: 100 steps/s x 10 symbols x 2 channels
