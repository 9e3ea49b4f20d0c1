"""Fixtures: a MexcAdapter on real ccxt clients pointed at the loopback simulator."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.backoff import Backoff
from backend.src.sim.server import MexcSimulator


def fast_backoff() -> Backoff:
    """Backoff with the production shape (full jitter, doubling) at a tenth of the scale."""
    return Backoff(base=0.1, cap=0.5, rng=random.Random(3))


@pytest_asyncio.fixture
async def make_adapter(sim: MexcSimulator) -> AsyncIterator[Callable[..., MexcAdapter]]:
    """Factory of adapters on ``sim``; every adapter is closed after the test."""
    made: list[MexcAdapter] = []

    def make(symbols: list[str] | None = None, **options: Any) -> MexcAdapter:
        options.setdefault("backoff_factory", fast_backoff)
        adapter = MexcAdapter(symbols or ["BTC/USDT"], rate_limit=False, urls=sim.urls, **options)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        await adapter.close()
