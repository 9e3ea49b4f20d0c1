"""Helpers shared by the test modules: bounded waits, task leak checks, engine fixtures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from backend.src.data.md_mapping import SymbolState
from backend.src.engine.engine import MD, Engine
from backend.src.market_data import Bar


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


class BarRecorder(Recorder):
    """Keeps every md and every bar given to ``on_bar``, the history size at the first md, and
    whether every ``on_bar`` ran in the engine's own task."""

    def __init__(self, symbol: str, **kwargs: Any) -> None:
        super().__init__(symbol, **kwargs)
        self.got: list[Bar] = []
        self.bars_at_first_md: int | None = None
        self.own_task = True

    async def on_market_data(self, md: MD) -> None:
        if self.bars_at_first_md is None and md.get("symbol") is not None:
            self.bars_at_first_md = len(self.bars)
        await super().on_market_data(md)

    async def on_bar(self, bar: Bar) -> None:
        self.own_task = self.own_task and asyncio.current_task() is self._task
        self.got.append(bar)


BAR_KEYS = ("ts", "open", "high", "low", "close", "volume", "synthetic")


def held(engine: Engine) -> list[tuple]:
    """An engine's bars as ``(ts, o, h, l, c, v, synthetic)``."""
    return [tuple(bar[k] for k in BAR_KEYS) for bar in engine.bars]


def ring(state: SymbolState) -> list[tuple]:
    """A feeder's closed bars of one symbol in the same shape."""
    closed = state.bars.closed
    return [(int(b[0]), *b[1:6], closed.is_synthetic(i)) for i, b in enumerate(closed)]
