"""Helpers for the simulator tests: real ccxt clients pointed at the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest_asyncio

from backend.src.sim.clock import SimClock
from backend.src.sim.server import MexcSimulator


def client_config(sim: MexcSimulator, **extra: Any) -> dict[str, Any]:
    """ccxt config for the simulator; ``extra`` is deep-merged by ccxt like any config."""
    return {"urls": {"api": sim.urls}, "enableRateLimit": False, "timeout": 3000, **extra}


@pytest_asyncio.fixture
async def make_pro() -> AsyncIterator[Callable[..., ccxt_pro.mexc]]:
    """Factory of ``ccxt.pro.mexc`` clients that are all closed after the test."""
    made: list[ccxt_pro.mexc] = []

    def make(sim: MexcSimulator, **extra: Any) -> ccxt_pro.mexc:
        ex = ccxt_pro.mexc(client_config(sim, **extra))
        made.append(ex)
        return ex

    yield make
    for ex in made:
        await ex.close()


@pytest_asyncio.fixture
async def pro(sim: MexcSimulator, make_pro: Callable[..., ccxt_pro.mexc]) -> ccxt_pro.mexc:
    """A ``ccxt.pro.mexc`` client on the default ``sim`` with markets loaded."""
    ex = make_pro(sim)
    await ex.load_markets()
    return ex


@pytest_asyncio.fixture
async def rest(sim: MexcSimulator) -> AsyncIterator[ccxt_async.mexc]:
    """A plain ``ccxt.async_support.mexc`` REST client on the default ``sim``."""
    ex = ccxt_async.mexc(client_config(sim))
    try:
        yield ex
    finally:
        await ex.close()


class FixedClock(SimClock):
    """Exchange time frozen at ``now`` (plus any skew a fault sets): model tests without sleeping."""

    def __init__(self, now: int) -> None:
        super().__init__()
        self.now = now

    def now_ms(self) -> int:
        return self.now + self.skew_ms
