"""Per-symbol trading engine base: bounded, drop-oldest md and bar inboxes and a run-loop skeleton.

Why drop-oldest: the feeder serves every symbol from one event loop, so an engine that falls
behind must never block it (that would stall every other symbol). For market data the newest
tick supersedes older ones, so when the inbox is full the oldest md is discarded and counted.

Accounting invariant (exact, checked by the tests)::

    received == delivered + dropped_queue_full + queued

where ``delivered`` counts md handed to the strategy by :meth:`Engine._get_md`. Every received
md is enqueued (``enqueued == received``); the dropped ones are evicted later by newer md.
Consume the inbox only through ``_get_md`` or the invariant no longer holds.

Bars: :attr:`Engine.bars` holds the symbol's closed 1 m bars (its history first), and
:meth:`Engine.on_bar` is called once per bar that closes and once per bar a backfill corrected
(``revision``). The feeder only queues them (:meth:`Engine.push_bar`, :meth:`Engine.push_history`:
sync, never blocking, a bounded inbox of its own that drops the oldest when full, counted as
``bars_dropped_queue_full``, with ``bars_received == bars_delivered + bars_dropped_queue_full +
bars_queued``); this engine's own task merges them into :attr:`Engine.bars` and calls
``on_bar``, before it takes its next md. So the history is in place before the first md, and
``on_bar`` never runs concurrently with ``on_market_data``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..errors import LifecycleError, UsageError
from ..log_limits import RateLimitedLog
from ..market_data import Bar, MarketData
from ..tasks import cancel_bounded
from .bar_history import BarHistory

logger = logging.getLogger(__name__)

#: what an engine receives: a plain dict at runtime, keys and types in ``MarketData``
MD = MarketData


class Engine:
    """Base class of a per-symbol engine; strategies override :meth:`on_market_data` (and
    :meth:`on_bar`).

    The feeder calls :meth:`push_md`, :meth:`push_bar` and :meth:`push_history` (sync,
    event-loop thread only); the engine's own task consumes them with :meth:`_get_md` inside
    :meth:`run`. Started once, stopped once.
    """

    def __init__(
        self,
        symbol: str,
        *,
        queue_size: int = 100,
        md_timeout: float = 1.0,
        drop_log_interval_s: float = 10.0,
        max_bars: int = 1500,
        bar_queue_size: int = 3000,
    ) -> None:
        if queue_size < 1 or bar_queue_size < 1:
            raise UsageError(f"queue sizes must be >= 1, got {queue_size} and {bar_queue_size}")
        self.symbol = symbol
        self.md_timeout = md_timeout
        self.last_md: MD | None = None
        self._md_queue: asyncio.Queue[MD] = asyncio.Queue(maxsize=queue_size)
        self._received = 0
        self._delivered = 0
        self._dropped_queue_full = 0
        self._md_timeouts = 0
        #: hook name (``on_market_data``, ``on_bar``) → exceptions it raised
        self._hook_errors: Counter[str] = Counter()
        self._stop_requested = False
        self._task: asyncio.Task[None] | None = None
        self._drop_log = RateLimitedLog(logger, drop_log_interval_s)
        self._error_log = RateLimitedLog(logger, drop_log_interval_s, level=logging.ERROR)
        #: the closed 1 m bars, oldest first (at most ``max_bars``): the history, then every bar
        #: that closed, corrected bars replaced by the exchange's version
        self.bars = BarHistory(symbol, max_bars)
        #: bars pushed and not yet merged, each with whether it is news (see ``_take_bars``); at
        #: most ``bar_queue_size`` (by default a full history and a day of bars besides)
        self._bar_inbox: deque[tuple[Bar, bool]] = deque()
        self._bar_queue_size = bar_queue_size
        self._bars_received = 0
        self._bars_delivered = 0
        self._bars_dropped_queue_full = 0
        self._bar_revisions = 0
        #: True once a bar closed live: history pushed from then on is news too (bars that
        #: closed while a stream restarted or another feeder took over)
        self._bars_live = False
        #: length of the first md wait, when not ``md_timeout`` (see :meth:`stagger_heartbeat`)
        self._first_wait: float | None = None
        #: the md wait of ``_get_md`` while it waits, so a pushed bar can cut it short
        self._md_wait: asyncio.Timeout | None = None
        self._bar_drop_log = RateLimitedLog(logger, drop_log_interval_s)

    def stagger_heartbeat(self, first: float) -> None:
        """Make the first empty md come after ``first`` s without md (at most ``md_timeout``);
        the later ones come ``md_timeout`` apart as always.

        Why: engines started in the same instant that get no md (quiet markets) would wake in
        the same loop iteration every ``md_timeout`` for as long as they run: 2000 of them are
        a burst of tens of ms each second, which every other symbol's md waits behind.
        :class:`EngineManager` spreads its engines' first heartbeats over ``md_timeout``.
        """
        self._first_wait = max(0.0, min(first, self.md_timeout))

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

    def push_bar(self, bar: Bar) -> None:
        """Queue a bar that just closed, or a revision of one; never blocks (drop-oldest)."""
        self._push_bar(bar, news=True)

    def push_history(self, bars: Iterable[Bar]) -> None:
        """Queue bars this engine did not see close (oldest first): merged into :attr:`bars`
        without ``on_bar`` while no bar has closed live yet; afterwards they are news like any
        pushed bar, and only the new or changed ones reach ``on_bar``."""
        for bar in bars:
            self._push_bar(bar, news=False)

    def _push_bar(self, bar: Bar, *, news: bool) -> None:
        self._bars_received += 1
        inbox = self._bar_inbox
        if len(inbox) >= self._bar_queue_size:
            inbox.popleft()
            self._bars_dropped_queue_full += 1
            self._bar_drop_log.event(
                "engine %s: bar queue full (%d), dropped the oldest bar; %d dropped so far",
                self.symbol,
                self._bar_queue_size,
                self._bars_dropped_queue_full,
            )
        inbox.append((bar, news))
        wait = self._md_wait
        if wait is not None and not wait.expired():
            # the engine waits for md: end the wait now (once), so the bar does not wait for
            # ``md_timeout``; ``_get_md`` tells this from a real timeout by the inbox
            self._md_wait = None
            wait.reschedule(asyncio.get_running_loop().time())

    async def _take_bars(self) -> None:
        """Merge every queued bar into :attr:`bars`, calling :meth:`on_bar` for each new or
        corrected one; runs in the engine's task, between two md."""
        inbox = self._bar_inbox
        while inbox:
            pushed, news = inbox.popleft()
            self._bars_delivered += 1
            notify = news or self._bars_live
            self._bars_live = self._bars_live or news
            bar = self.bars.merge(pushed)
            if bar is None or not notify:
                continue
            self._bar_revisions += bar["revision"]
            await self._call(self.on_bar, bar)

    async def _get_md(self) -> dict[str, Any]:
        """Next md, or an empty md after ``md_timeout`` s so strategies still get a heartbeat.
        Queued bars go first (:meth:`_take_bars`), also when one arrives during the wait.

        A fresh empty dict is returned each time so a strategy mutating it cannot corrupt the
        next one. A cancelled ``Queue.get()`` (timeout or stop) never removes an item, and the
        get runs in this task (``asyncio.timeout``, not ``wait_for``, which on 3.11 runs it in a
        task of its own that holds the md for a loop iteration before we count it), so
        ``received == delivered + dropped + queued`` holds at every moment, not only at rest.

        A queued md is taken without any timer: that would cost one per md, and an engine
        could fall behind a busy feed (measured in ``benchmarks/bench_md_path.py``). The wait
        is only for an empty inbox.
        """
        if self._bar_inbox:
            await self._take_bars()
        if not self._md_queue.empty():
            self._delivered += 1
            return self._md_queue.get_nowait()
        wait, self._first_wait = (self.md_timeout if self._first_wait is None else self._first_wait), None
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            try:
                async with asyncio.timeout_at(deadline) as self._md_wait:
                    md = await self._md_queue.get()
            except TimeoutError:
                if not self._bar_inbox:
                    self._md_timeouts += 1
                    return {"price": None, "spread": None, "vol": 0.0, "texts": []}
                await self._take_bars()  # a bar cut the wait short; wait on until the deadline
                continue
            finally:
                self._md_wait = None
            self._delivered += 1
            return md

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
            "on_md_errors": self._hook_errors["on_market_data"],
            "running": self.running,
            "bars": len(self.bars),
            "bars_received": self._bars_received,
            "bars_delivered": self._bars_delivered,
            "bars_dropped_queue_full": self._bars_dropped_queue_full,
            "bars_queued": len(self._bar_inbox),
            "bar_revisions": self._bar_revisions,
            "on_bar_errors": self._hook_errors["on_bar"],
        }

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the task created by :meth:`start` is alive."""
        return self._task is not None and not self._task.done()

    async def on_market_data(self, md: MD) -> None:
        """Strategy hook, called for every md (and every timeout heartbeat). Default: keep it."""
        self.last_md = md

    async def on_bar(self, bar: Bar) -> None:
        """Strategy hook, called once per closed 1 m bar, and again with ``bar["revision"]``
        True when the exchange's bar replaced it; :attr:`bars` already holds it. Default: nothing."""

    async def run(self) -> None:
        """Consume md until :meth:`stop`.

        A strategy exception is logged (rate-limited) and counted rather than fatal: one bad
        tick must not silently stop trading the symbol while the feeder keeps feeding it.
        """
        while not self._stop_requested:
            await self._call(self.on_market_data, await self._get_md())

    async def _call(self, hook: Callable[[Any], Awaitable[None]], arg: Any) -> None:
        """Run a strategy hook; what it raises is logged (rate-limited) and counted per hook."""
        try:
            await hook(arg)
        except Exception:
            name = hook.__name__
            self._hook_errors[name] += 1
            self._error_log.event(
                "engine %s: %s failed (%d errors so far)",
                self.symbol,
                name,
                self._hook_errors[name],
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
