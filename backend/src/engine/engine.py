"""Per-symbol trading engine base: a bounded, drop-oldest md inbox and a run-loop skeleton.

Why drop-oldest: the feeder serves every symbol from one event loop, so an engine that falls
behind must never block it (that would stall every other symbol). For market data the newest
tick supersedes older ones, so when the inbox is full the oldest md is discarded and counted.

Accounting invariant (exact, checked by the tests)::

    received == delivered + dropped_queue_full + queued

where ``delivered`` counts md handed to the strategy by :meth:`Engine._get_md`. Every received
md is enqueued (``enqueued == received``); the dropped ones are evicted later by newer md.
Consume the inbox only through ``_get_md`` or the invariant no longer holds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..errors import LifecycleError, UsageError
from ..log_limits import RateLimitedLog
from ..market_data import MarketData
from ..tasks import cancel_bounded

logger = logging.getLogger(__name__)

#: what an engine receives: a plain dict at runtime, keys and types in ``MarketData``
MD = MarketData


class Engine:
    """Base class of a per-symbol engine; strategies override :meth:`on_market_data`.

    The feeder calls :meth:`push_md` (sync, event-loop thread only); the engine's own task
    consumes md with :meth:`_get_md` inside :meth:`run`. Started once, stopped once.
    """

    def __init__(
        self,
        symbol: str,
        *,
        queue_size: int = 100,
        md_timeout: float = 1.0,
        drop_log_interval_s: float = 10.0,
    ) -> None:
        if queue_size < 1:
            raise UsageError(f"queue_size must be >= 1, got {queue_size}")
        self.symbol = symbol
        self.md_timeout = md_timeout
        self.last_md: MD | None = None
        self._md_queue: asyncio.Queue[MD] = asyncio.Queue(maxsize=queue_size)
        self._received = 0
        self._delivered = 0
        self._dropped_queue_full = 0
        self._md_timeouts = 0
        self._on_md_errors = 0
        self._stop_requested = False
        self._task: asyncio.Task[None] | None = None
        self._drop_log = RateLimitedLog(logger, drop_log_interval_s)
        self._error_log = RateLimitedLog(logger, drop_log_interval_s, level=logging.ERROR)

    # ---- inbox -------------------------------------------------------------------------

    def push_md(self, md: MD) -> None:
        """Enqueue ``md`` without ever blocking; on a full inbox evict the oldest md first.

        Runs once per md for every engine: the common case (room in the inbox) is a single
        ``put_nowait``, and ``QueueFull`` leads to the eviction.
        """
        self._received += 1
        queue = self._md_queue
        try:
            queue.put_nowait(md)
        except asyncio.QueueFull:
            queue.get_nowait()
            self._dropped_queue_full += 1
            self._drop_log.event(
                "engine %s: md queue full (%d), dropped oldest md; %d dropped so far",
                self.symbol,
                queue.maxsize,
                self._dropped_queue_full,
            )
            queue.put_nowait(md)

    async def _get_md(self) -> dict[str, Any]:
        """Next md, or an empty md after ``md_timeout`` s so strategies still get a heartbeat.

        A fresh empty dict is returned each time so a strategy mutating it cannot corrupt the
        next one. A cancelled ``Queue.get()`` (timeout or stop) never removes an item, and the
        get runs in this task (``asyncio.timeout``, not ``wait_for``, which on 3.11 runs it in a
        task of its own that holds the md for a loop iteration before we count it), so
        ``received == delivered + dropped + queued`` holds at every moment, not only at rest.

        A queued md is taken without any timer: that would cost one per md, and an engine
        could fall behind a busy feed (measured in ``benchmarks/bench_md_path.py``). The wait
        is only for an empty inbox.
        """
        if not self._md_queue.empty():
            self._delivered += 1
            return self._md_queue.get_nowait()
        try:
            async with asyncio.timeout(self.md_timeout):
                md = await self._md_queue.get()
            self._delivered += 1
            return md
        except TimeoutError:
            self._md_timeouts += 1
            return {"price": None, "spread": None, "vol": 0.0, "texts": []}

    @property
    def dropped(self) -> int:
        """md evicted from a full inbox (never seen by the strategy)."""
        return self._dropped_queue_full

    @property
    def md_stats(self) -> dict[str, int | bool]:
        """Snapshot of the inbox counters, as a plain dict for health reports."""
        return {
            "received": self._received,
            "enqueued": self._received,
            "delivered": self._delivered,
            "dropped_queue_full": self._dropped_queue_full,
            "queued": self._md_queue.qsize(),
            "md_timeouts": self._md_timeouts,
            "on_md_errors": self._on_md_errors,
            "running": self.running,
        }

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the task created by :meth:`start` is alive."""
        return self._task is not None and not self._task.done()

    async def on_market_data(self, md: MD) -> None:
        """Strategy hook, called for every md (and every timeout heartbeat). Default: keep it."""
        self.last_md = md

    async def run(self) -> None:
        """Consume md until :meth:`stop`.

        A strategy exception is logged (rate-limited) and counted rather than fatal: one bad
        tick must not silently stop trading the symbol while the feeder keeps feeding it.
        """
        while not self._stop_requested:
            md = await self._get_md()
            try:
                await self.on_market_data(md)
            except Exception:
                self._on_md_errors += 1
                self._error_log.event(
                    "engine %s: on_market_data failed (%d errors so far)",
                    self.symbol,
                    self._on_md_errors,
                    exc_info=True,
                )

    async def start(self) -> None:
        """Run :meth:`run` in a task named after the symbol; no-op when already started."""
        if self._stop_requested:
            raise LifecycleError(f"engine {self.symbol} was stopped; engines are not restartable")
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"engine:{self.symbol}")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop the run loop, cancelling a blocked ``_get_md``; idempotent and bounded.

        The flag covers both ``run()`` awaited directly and a cancellation swallowed by
        ``wait_for``; the cancel makes the stop prompt instead of waiting for ``md_timeout``.
        Safe to call from inside ``on_market_data`` (it then only sets the flag).
        """
        self._stop_requested = True
        task = self._task
        if task is None or task.done() or task is asyncio.current_task():
            return
        await cancel_bounded(task, grace_s, f"engine {self.symbol}")
