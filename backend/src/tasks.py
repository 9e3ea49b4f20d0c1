"""Background tasks owned by one object: named, tracked until done, cancelled together.

Why: a fire-and-forget ``asyncio.create_task`` can be garbage-collected mid-flight and leaves
"Task was destroyed but it is pending" at shutdown; every owner (adapter, feeder) needs the
same bookkeeping, so it lives here once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable, Iterator
from typing import Any


class TaskSet:
    """A set of named background tasks; a finished task leaves the set by itself."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def running(self, name: str) -> bool:
        """Whether a task of that name is still running (used to avoid duplicates)."""
        return any(t.get_name() == name for t in self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks))

    async def cancel_all(self) -> None:
        """Cancel every task and wait for all of them to finish."""
        await cancel_and_wait(list(self._tasks))


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one has finished, whatever it raised."""
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*pending, return_exceptions=True)
