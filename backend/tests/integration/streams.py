"""Helpers to consume adapter streams in tests with bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any


class Collector:
    """Consumes an async iterator in a background task, keeping every record and its arrival time."""

    def __init__(self, stream: AsyncIterator[dict[str, Any]]) -> None:
        self.stream = stream
        self.records: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self.error: BaseException | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for record in self.stream:
                self.records.append(record)
                self.arrivals.append(time.monotonic())
        except Exception as exc:
            self.error = exc

    async def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not done():
            if self.error is not None:
                raise self.error
            assert time.monotonic() < deadline, f"{what} in {timeout}s ({len(self.records)} records)"
            await asyncio.sleep(0.01)

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``count`` records in total have arrived (fails the test on timeout)."""
        await self._wait(lambda: len(self.records) >= count, timeout, f"not {count} records")

    async def wait_until(self, match: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until a record satisfying ``match`` has arrived (fails the test on timeout)."""
        await self._wait(lambda: any(match(r) for r in self.records), timeout, "no matching record")

    async def next_after(self, t0: float, timeout: float = 10.0) -> float:  # noqa: ASYNC109
        """Seconds from ``t0`` to the first record that arrives after it."""
        deadline = time.monotonic() + timeout
        while True:
            fresh = [t for t in self.arrivals if t > t0]
            if fresh:
                return fresh[0] - t0
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"no record within {timeout}s"
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        aclose = getattr(self.stream, "aclose", None)
        if aclose is not None:
            await aclose()
