"""Helpers shared by the test modules: bounded waits, task leak checks, engine fixtures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from backend.src.engine.engine import MD, Engine


def pending_tasks() -> list[asyncio.Task[Any]]:
    """Tasks other than the caller still alive: what would log "Task was destroyed"."""
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()]


async def wait_until(cond: Callable[[], bool], limit_s: float = 1.0) -> None:
    """Poll ``cond`` until true; fails the test after ``limit_s`` instead of hanging."""
    async with asyncio.timeout(limit_s):
        while not cond():  # noqa: ASYNC110 - polling observable state is the point here
            await asyncio.sleep(0.002)


def md(i: int, symbol: str = "BTC/USDT") -> MD:
    return {"symbol": symbol, "ts": i, "price": float(i)}


def assert_accounting(engine: Engine) -> None:
    s = engine.md_stats
    assert s["received"] == s["enqueued"]
    assert s["received"] == s["delivered"] + s["dropped_queue_full"] + s["queued"]


class Recorder(Engine):
    """Engine that keeps every md it is given."""

    def __init__(self, symbol: str, **kwargs: Any) -> None:
        super().__init__(symbol, **kwargs)
        self.seen: list[MD] = []

    async def on_market_data(self, md: MD) -> None:
        self.seen.append(md)
        await super().on_market_data(md)
