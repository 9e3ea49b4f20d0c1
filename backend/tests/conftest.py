"""Shared fixtures: a running MEXC simulator the real ccxt clients can talk to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from backend.src.sim.server import MexcSimulator

# Fast timings: pushes every 50 ms, contract ticker/funding every 200 ms. MEXC's connection
# limits (30 s / 60 s / 24 h) stay at their defaults; tests that need them build their own.
FAST_OPTIONS: dict[str, float] = {
    "push_interval": 0.05,
    "ticker_interval": 0.2,
    "funding_interval": 0.2,
}


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[MexcSimulator]:
    """A started simulator with the default markets (BTC/ETH with perps, DOGE spot-only,
    OLD/USDT inactive) and fast timings; point ccxt at it with
    ``{'urls': {'api': sim.urls}, 'enableRateLimit': False}``."""
    async with MexcSimulator(seed=1, **FAST_OPTIONS) as simulator:
        yield simulator
