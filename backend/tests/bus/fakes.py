"""A dynamic feeder without an exchange, shared by the in-process tests and ``node_proc``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class FakeFeeder:
    """A dynamic feeder without an exchange: every ``interval`` s one md per symbol it streams,
    with the same keys and types as ``MarketFeeder``'s md. Same API as the real one."""

    def __init__(self, interval: float = 0.02) -> None:
        self.symbols: list[str] = []
        self.failed: dict[str, str] = {}
        self.interval = interval
        self.emitted: list[dict[str, Any]] = []
        self.added: list[list[str]] = []
        self.removed: list[list[str]] = []
        self._closed = asyncio.Event()
        self._ts = 1_700_000_000_000

    async def add_symbols(self, symbols: list[str]) -> None:
        self.added.append(list(symbols))
        self.symbols += [s for s in symbols if s not in self.symbols]

    async def remove_symbols(self, symbols: list[str]) -> None:
        self.removed.append(list(symbols))
        self.symbols = [s for s in self.symbols if s not in symbols]

    def make_md(self, symbol: str) -> dict[str, Any]:
        self._ts += 1
        price = 100.0 + (self._ts % 1000) / 7
        return {
            "symbol": symbol,
            "ts": self._ts,
            "price": price,
            "bid": price - 0.01,
            "ask": price + 0.01,
            "spread": 0.02,
            "vol": 1234.5678,
            "texts": ["news about " + symbol.split("/")[0]] if self._ts % 3 == 0 else [],
            "funding": None if self._ts % 2 else 0.0001,
            "oi": None,
            "stale": self._ts % 5 == 0,
        }

    async def run(self, on_md: Callable[[dict[str, Any]], Any]) -> None:
        while not self._closed.is_set():
            for symbol in list(self.symbols):
                md = self.make_md(symbol)
                self.emitted.append(md)
                on_md(md)
            try:
                await asyncio.wait_for(self._closed.wait(), self.interval)
            except TimeoutError:
                pass

    async def close(self) -> None:
        self._closed.set()
