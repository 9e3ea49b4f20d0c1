"""Background tasks owned by one object: named, tracked until done, cancelled together.

Why: a fire-and-forget ``asyncio.create_task`` can be garbage-collected mid-flight and leaves
"Task was destroyed but it is pending" at shutdown; every owner (adapter, feeder) needs the
same bookkeeping, so it lives here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable, Iterator
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """Named background tasks; a finished task leaves the set by itself, and one that failed
    is logged (nobody awaits a background task, so its error would otherwise vanish)."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start ``coro`` as task ``name``; names are unique (see :meth:`running`)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks[name] = task
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        name = task.get_name()
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", name, exc_info=task.exception())

    def running(self, name: str) -> bool:
        """Whether a task of that name is still running (used to avoid duplicates); O(1), as it
        is asked per message on hot paths."""
        return name in self._tasks

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks.values()))

    async def cancel_all(self) -> None:
        """Cancel every task and wait for all of them to finish."""
        await cancel_and_wait(list(self._tasks.values()))


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one has finished, whatever it raised."""
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*pending, return_exceptions=True)


async def cancel_bounded(task: asyncio.Task[Any], grace_s: float, what: str) -> bool:
    """Cancel ``task``, wait at most ``grace_s`` for it, and consume its outcome.

    Why bounded: a task that swallows cancellation must not hang shutdown. Consuming the
    outcome avoids "Task exception was never retrieved". Returns True when the task finished.
    """
    task.cancel()
    return await wait_bounded(task, grace_s, what)


async def wait_bounded(task: asyncio.Task[Any], limit_s: float, what: str) -> bool:
    """Wait at most ``limit_s`` for ``task`` (without cancelling it); True when it finished."""
    done, _ = await asyncio.wait({task}, timeout=max(limit_s, 0.0))
    if not done:
        log.error("%s did not finish within %.2fs; leaving it behind", what, limit_s)
        return False
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("%s ended with %r", what, exc)
    return True
