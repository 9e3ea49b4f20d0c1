"""A recorded simulator session with faults, shared by the recording and replay tests.

The session runs once per test module in its own event loop (a replay needs its own, on the
recording's virtual time, so the tests that use it are plain functions). Faults, in order: a
REST 429 during the bootstrap, a malformed frame on each websocket, a TCP drop, a refused
subscription (refused again on every reconnect until it is lifted), a clean close, a dropped
contract connection. Before the feeder stops, the simulator goes silent for a moment, so the
last md are not racing the stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.src.adapters.mexc_ccxt import MexcAdapter, MexcConfig
from backend.src.data.market_feeder import MarketFeeder
from backend.src.recording.replay import ReplayFeeder
from backend.src.sim.server import MexcSimulator
from backend.tests.conftest import FAST_OPTIONS
from backend.tests.helpers import wait_until

SYMBOLS = ["BTC/USDT", "ETH/USDT"]


@dataclass
class Session:
    """Where the session was recorded, and the md it delivered live."""

    directory: Path
    live: list[dict[str, Any]]


async def _wait_for_md(live: list[dict[str, Any]], seconds: float) -> None:
    """Until both symbols deliver again, then a few pushes more."""
    start = len(live)
    await wait_until(lambda: len({m["symbol"] for m in live[start:]}) == len(SYMBOLS), seconds)
    await asyncio.sleep(0.4)


@contextlib.asynccontextmanager
async def feeding(feeder: MarketFeeder, live: list[dict[str, Any]]) -> AsyncIterator[None]:
    """``feeder`` runs into ``live`` inside the block, and is closed and awaited after it."""
    task = asyncio.create_task(feeder.run(live.append))
    try:
        yield
    finally:
        await feeder.close()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def quiet_end(sim: MexcSimulator) -> None:
    """The simulator goes silent before the feeder stops: nothing in flight at the stop."""
    sim.faults.silence()
    await asyncio.sleep(0.3)


async def record_faulty_session(directory: Path) -> list[dict[str, Any]]:
    """Stream ``SYMBOLS`` from a fresh simulator through faults, recording into ``directory``."""
    live: list[dict[str, Any]] = []
    async with MexcSimulator(seed=1, **FAST_OPTIONS) as sim:
        sim.faults.rest_error(429, 1, path="/api/v3/klines")  # the first kline page: throttled
        config = MexcConfig(rate_limit=False, urls=sim.urls, record_dir=str(directory))
        adapter = MexcAdapter(SYMBOLS, config=config)  # default backoffs: seeded, seed recorded
        feeder = MarketFeeder(SYMBOLS, adapter=adapter)
        async with feeding(feeder, live):
            await _wait_for_md(live, 10.0)
            await sim.faults.send_malformed("garbage", path="/ws")
            await sim.faults.send_malformed("invalid_json", path="/edge")
            await _wait_for_md(live, 5.0)
            sim.faults.reject_subscriptions("spot@public.aggre.deals*ETHUSDT")
            sim.faults.drop_ws(path="/ws")  # TCP reset: both spot streams reconnect
            refused = lambda: any(ws.rejections for ws, _ in adapter.shards.entries.values())  # noqa: E731
            await wait_until(refused, 5.0)  # ETH's trades are refused, retried with backoff
            sim.faults.clear_rejections()
            await _wait_for_md(live, 5.0)
            await sim.faults.close_ws(path="/ws", code=1000)  # a clean close
            await _wait_for_md(live, 5.0)
            sim.faults.drop_ws(path="/edge")
            await asyncio.sleep(0.5)
            await _wait_for_md(live, 5.0)
            await quiet_end(sim)
    return live


def replayed(directory: Path, **options: Any) -> tuple[list[dict[str, Any]], ReplayFeeder]:
    """The md of one replay of the recording in ``directory``, and its feeder (for its stats)."""
    feeder = ReplayFeeder(directory, **options)
    mds: list[dict[str, Any]] = []
    with feeder.runner() as runner:
        runner.run(feeder.run(mds.append))
    return mds, feeder
