"""A broken or hostile exchange, through the simulator's real sockets and REST.

Each test forges what MEXC (or something between it and us) could send — frames injected on
the live websockets with ``sim.faults.inject``, REST bodies rewritten with
``sim.faults.tamper_rest`` — and asserts what reaches the md callback (nothing impossible),
what is counted (a drop with its reason), that the symbol keeps streaming, and that the event
loop never stalls (a 10 ms timer watches it throughout).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from ccxt.protobuf.mexc.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper

from backend.src.data.market_feeder import MarketFeeder
from backend.src.sim.server import MexcSimulator
from backend.src.validation import MAX_FUTURE_MS
from backend.tests.helpers import wait_until

YEAR_2100_MS = 4_102_444_800_000
MAX_LOOP_STALL_S = 0.1


class LoopWatch:
    """The largest lateness of a 10 ms timer: a handler that blocks the loop shows up here."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - start - 0.01)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Feed:
    """A running feeder on the simulator, its md, and helpers to judge them."""

    def __init__(self, feeder: MarketFeeder, sim: MexcSimulator) -> None:
        self.feeder = feeder
        self.sim = sim
        self.mds: list[dict[str, Any]] = []
        self.watch = LoopWatch()

    def dropped(self, symbol: str, channel: str) -> dict[str, int]:
        channels = self.feeder.health()["symbols"][symbol]["channels"]
        return channels.get(channel, {}).get("dropped", {})

    async def fresh_md_within(self, symbol: str, seconds: float) -> dict[str, Any]:
        """The first md of ``symbol`` delivered from now on; fails after ``seconds``."""
        start = len(self.mds)
        await wait_until(lambda: any(m["symbol"] == symbol for m in self.mds[start:]), seconds)
        return next(m for m in self.mds[start:] if m["symbol"] == symbol)


def assert_possible(md: dict[str, Any], now_ms: int) -> None:
    """What an engine may rely on for every md (README, md section)."""
    for key in ("price", "bid", "ask"):
        assert isinstance(md[key], float) and math.isfinite(md[key]) and md[key] > 0, (key, md)
    assert md["bid"] < md["ask"] and md["spread"] > 0, md
    assert md["ts"] <= now_ms + MAX_FUTURE_MS, md
    assert math.isfinite(md["vol"]) and md["vol"] >= 0, md
    if md["funding"] is not None:
        assert math.isfinite(md["funding"]) and abs(md["funding"]) <= 0.05, md
    if md["oi"] is not None:
        assert math.isfinite(md["oi"]) and md["oi"] >= 0, md


@contextlib.asynccontextmanager
async def feed(make_adapter, sim: MexcSimulator, symbols: list[str]) -> AsyncIterator[Feed]:
    feeder = MarketFeeder(symbols, adapter=make_adapter(symbols))
    f = Feed(feeder, sim)
    task = asyncio.create_task(feeder.run(f.mds.append))
    try:
        await wait_until(lambda: {m["symbol"] for m in f.mds} >= set(symbols), 10.0)
        f.watch.start()
        yield f
        assert f.watch.worst < MAX_LOOP_STALL_S, f"event loop stalled {f.watch.worst:.3f}s"
        now = sim.clock.now_ms()
        for md in f.mds:
            assert_possible(md, now)
    finally:
        if f.watch._task is not None:
            await f.watch.stop()
        await feeder.close()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def spot_frame(kind: str, market_id: str, send_ms: int, **body: Any) -> bytes:
    """A spot protobuf push as MEXC frames it; ``kind`` is ``bookTicker`` or ``deals``."""
    msg = PushDataV3ApiWrapper()
    msg.channel = f"spot@public.aggre.{kind}.v3.api.pb@100ms@{market_id}"
    msg.symbol = market_id
    msg.sendTime = send_ms
    if kind == "bookTicker":
        bt = msg.publicAggreBookTicker
        bt.bidPrice, bt.askPrice = body["bid"], body["ask"]
        bt.bidQuantity = bt.askQuantity = "1.5"
    else:
        for price, qty, side, ts in body["trades"]:
            deal = msg.publicAggreDeals.deals.add()
            deal.price, deal.quantity, deal.tradeType, deal.time = price, qty, side, ts
        msg.publicAggreDeals.eventType = "spot@public.aggre.deals.v3.api.pb@100ms"
    return msg.SerializeToString()


def swap_frame(contract_id: str, ts: int, **data: Any) -> str:
    """A ``push.ticker`` shaped like the recorded one (contract_ws_push_ticker_link), with
    ``data`` overriding its figures."""
    body = {
        "symbol": contract_id,
        "lastPrice": 64000.5,
        "fairPrice": 64000.1,
        "indexPrice": 64001.2,
        "volume24": 962062810,
        "timestamp": ts,
        "bid1": 64000.4,
        "ask1": 64000.6,
        "holdVol": 95479623,
        "fundingRate": 0.0001,
        "riseFallRates": [-0.0006, 0.1008, 0.2262, 0.2628, 0.2439, 1.0564],
        **data,
    }
    return orjson.dumps({"symbol": contract_id, "data": body, "channel": "push.ticker", "ts": ts}).decode()


@pytest.mark.asyncio
async def test_a_trade_from_the_year_2100_is_dropped_without_stalling_or_poisoning(make_adapter, sim) -> None:
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        state = f.feeder.states["BTC/USDT"]
        synthetic_before = len(state.bars.synthetic)
        frame = spot_frame("deals", "BTCUSDT", sim.clock.now_ms(), trades=[("64000", "0.5", 1, YEAR_2100_MS)])
        await sim.faults.inject(frame, path="/ws")
        await wait_until(lambda: f.dropped("BTC/USDT", "trades").get("future_ts", 0) == 1, 2.0)
        md = await f.fresh_md_within("BTC/USDT", 1.0)
        assert md["ts"] < sim.clock.now_ms() + MAX_FUTURE_MS
        assert state.ts is not None and state.ts < sim.clock.now_ms() + MAX_FUTURE_MS
        # no forming bar just after a minute turn
        assert state.bars.forming is None or state.bars.forming[0] < YEAR_2100_MS
        assert all(bar[0] < YEAR_2100_MS for bar in state.bars.closed)
        assert len(state.bars.synthetic) <= synthetic_before + 1  # at most a real quiet minute
        assert f.feeder.adapter.counters[("BTC/USDT trades", "future_ts")] == 1


@pytest.mark.asyncio
async def test_a_book_from_the_year_2100_never_freezes_the_book(make_adapter, sim) -> None:
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        frame = spot_frame("bookTicker", "BTCUSDT", YEAR_2100_MS, bid="1", ask="2")
        await sim.faults.inject(frame, path="/ws")
        await wait_until(lambda: f.dropped("BTC/USDT", "ticker").get("future_ts", 0) == 1, 2.0)
        seen = len(f.mds)
        await wait_until(lambda: len(f.mds) > seen + 3, 2.0)  # later real books still apply
        assert all(m["bid"] > 2 for m in f.mds)


@pytest.mark.parametrize(
    ("bid", "ask", "reason"),
    [
        ("NaN", "64000", "bad_price"),
        ("inf", "64000", "bad_price"),
        ("-5", "64000", "bad_price"),
        ("64001", "64000", "crossed_book"),
        ("64000", "64000", "crossed_book"),
    ],
)
@pytest.mark.asyncio
async def test_impossible_books_are_dropped_and_counted(make_adapter, sim, bid, ask, reason) -> None:
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        frame = spot_frame("bookTicker", "BTCUSDT", sim.clock.now_ms(), bid=bid, ask=ask)
        await sim.faults.inject(frame, path="/ws")
        await wait_until(lambda: f.dropped("BTC/USDT", "ticker").get(reason, 0) == 1, 2.0)
        await f.fresh_md_within("BTC/USDT", 1.0)


@pytest.mark.parametrize(("price", "qty", "reason"), [("0", "1", "bad_price"), ("-5", "1", "bad_price")])
@pytest.mark.asyncio
async def test_trades_at_impossible_prices_are_dropped(make_adapter, sim, price, qty, reason) -> None:
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        now = sim.clock.now_ms()
        frame = spot_frame("deals", "BTCUSDT", now, trades=[(price, qty, 2, now)])
        await sim.faults.inject(frame, path="/ws")
        await wait_until(lambda: f.dropped("BTC/USDT", "trades").get(reason, 0) == 1, 2.0)
        await f.fresh_md_within("BTC/USDT", 1.0)
        bars = f.feeder.states["BTC/USDT"].bars
        recent = list(bars.closed)[-2:] + ([bars.forming] if bars.forming is not None else [])
        # no bar's low was touched, even across a minute turn
        assert recent and all(bar[3] > 0 for bar in recent)


@pytest.mark.asyncio
async def test_a_deals_frame_repeated_three_times_counts_its_volume_once(make_adapter, sim) -> None:
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        state = f.feeder.states["BTC/USDT"]
        await wait_until(lambda: state.last is not None, 5.0)
        now = sim.clock.now_ms()
        frame = spot_frame("deals", "BTCUSDT", now, trades=[(f"{state.last:.2f}", "7.123457", 1, now)])
        for _ in range(3):
            await sim.faults.inject(frame, path="/ws")
        await wait_until(lambda: f.dropped("BTC/USDT", "trades").get("duplicate", 0) == 2, 2.0)
        await asyncio.sleep(0.2)
        assert f.dropped("BTC/USDT", "trades").get("duplicate", 0) == 2  # the first one counted
        await f.fresh_md_within("BTC/USDT", 1.0)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"holdVol": "xyz"}, "malformed"),
        ({"holdVol": -5}, "bad_open_interest"),
        ({"fundingRate": 0.5}, "bad_funding"),
        ({"lastPrice": 0}, "bad_price"),
        ({"timestamp": YEAR_2100_MS}, "future_ts"),
    ],
)
@pytest.mark.asyncio
async def test_impossible_swap_pushes_are_dropped_and_the_stream_goes_on(
    make_adapter, sim, data, reason
) -> None:
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        swap = f.feeder.feed_health.channel("BTC/USDT", "swap")
        await wait_until(lambda: swap.parsed > 0, 5.0)
        await sim.faults.inject(swap_frame("BTC_USDT", sim.clock.now_ms(), **data), path="/edge")
        await wait_until(lambda: f.dropped("BTC/USDT", "swap").get(reason, 0) == 1, 2.0)
        await swap_stream_goes_on(f, swap)


@pytest.mark.asyncio
async def test_a_bare_nan_in_a_swap_push_is_a_malformed_frame(make_adapter, sim) -> None:
    """JSON has no NaN; ccxt's orjson refuses the frame, which costs that frame only."""
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        swap = f.feeder.feed_health.channel("BTC/USDT", "swap")
        await wait_until(lambda: swap.parsed > 0, 5.0)
        frame = swap_frame("BTC_USDT", sim.clock.now_ms(), fundingRate="NaN").replace('"NaN"', "NaN")
        await sim.faults.inject(frame, path="/edge")
        await wait_until(lambda: f.feeder.adapter.malformed_frames() == 1, 2.0)
        await swap_stream_goes_on(f, swap)


async def swap_stream_goes_on(f: Feed, swap: Any) -> None:
    """The swap stream parses again, and the symbol's md flow within a second."""
    parsed = swap.parsed
    await wait_until(lambda: swap.parsed > parsed, 2.0)
    await f.fresh_md_within("BTC/USDT", 1.0)


@pytest.mark.asyncio
async def test_negative_funding_is_market_data_and_is_delivered(make_adapter, sim) -> None:
    """Shorts paying longs is ordinary (the recorded LINK_USDT push has -4.5e-05)."""
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        await sim.faults.inject(swap_frame("BTC_USDT", sim.clock.now_ms(), fundingRate=-0.0003), path="/edge")
        await wait_until(lambda: any(m["funding"] == -0.0003 for m in f.mds), 2.0)


@pytest.mark.asyncio
async def test_a_nan_close_in_the_bootstrap_klines_never_becomes_the_price(make_adapter, sim) -> None:
    def nan_close(rows: list[list[Any]]) -> list[list[Any]]:
        return [[*row[:4], "NaN", *row[5:]] for row in rows]  # every row of the page

    sim.faults.tamper_rest("/api/v3/klines", nan_close, count=3)
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        state = f.feeder.states["BTC/USDT"]
        assert not any(math.isnan(b[4]) for b in state.bars.closed)
        assert f.dropped("BTC/USDT", "klines").get("bad_bar", 0) >= 1


@pytest.mark.asyncio
async def test_garbage_swap_payload_from_rest_bootstrap_is_dropped_not_fatal(make_adapter, sim) -> None:
    def garbage(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "data": {**body["data"], "holdVol": "xyz"}}

    sim.faults.tamper_rest("/api/v1/contract/ticker", garbage)
    t0 = time.monotonic()
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        assert time.monotonic() - t0 < 10
        assert f.dropped("BTC/USDT", "swap").get("malformed", 0) == 1
        await wait_until(lambda: f.feeder.states["BTC/USDT"].oi is not None, 5.0)  # from the stream


@pytest.mark.asyncio
async def test_a_perpetual_gone_at_bootstrap_leaves_the_spot_market_streaming(make_adapter, sim) -> None:
    """MEXC's real answer for a contract that does not exist (recorded contract_error_1001)."""

    def gone(_body: Any) -> dict[str, Any]:
        return {"code": 1001, "message": "Contract does not exist", "success": False}

    sim.faults.tamper_rest("/api/v1/contract/ticker", gone)
    async with feed(make_adapter, sim, ["BTC/USDT"]) as f:
        assert f.feeder.failed == {}
        assert f.feeder._has_perp["BTC/USDT"] is False
        await f.fresh_md_within("BTC/USDT", 1.0)
        assert all(m["funding"] is None and m["oi"] is None for m in f.mds)
