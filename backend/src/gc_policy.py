"""The garbage collector's settings for a long-running feeder process, set by the application.

Why: a feeder builds most of what it will ever hold during its bootstrap (ccxt's market
tables, one state, ring and set of tasks per symbol): about 600,000 tracked objects at 2000
symbols. CPython's full collection walks every one of them, and at that size it ran about
20 times a minute for 0.4–0.5 s each: 15–25 % of the wall time, and every event-loop stall
beyond 100 ms (``docs/BENCHMARKS.md``, "Scaling"). :func:`settle` collects once, moves the
survivors into the permanent generation (``gc.freeze``), which no collection walks again, and
sets :data:`THRESHOLDS` for what comes after.

Why only applications call it: the collector is process-wide. A library that changed it on
import or on start would change its host's behaviour behind its back (a test runner, an
application with its own policy). The entry points (``backend/cli.py`` ``run``, the bus
``feed`` command, the scaling benchmark) pass :class:`AfterBootstrap` as the feeder's
``on_progress``; nothing under ``backend/src`` calls it (a test checks).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

#: Collector thresholds once the bootstrap heap is frozen: (young, middle, full). Measured at
#: 2000 symbols (``docs/BENCHMARKS.md``): each collection walks the live objects made since the
#: last one, about a microsecond each. The young collections that matter run on a clock
#: (:func:`collect_young_every`, ten a second); the full collection, which walks every
#: stream's wait, comes after 20,000 middle ones, about every half hour instead of every few
#: seconds: the streams make next to no cyclic garbage (20 minutes at 2000 symbols without one
#: left none in the unfrozen heap, and 150 objects in the frozen one).
THRESHOLDS = (300, 2, 20_000)
#: Seconds between the young collections the event loop runs itself once settled.
YOUNG_EVERY = 0.1
#: Bootstrapped symbols at the first settle during a bootstrap (then at each doubling).
FIRST_SETTLE = 16


class Progress(Protocol):
    """What :class:`AfterBootstrap` reads of the feeder's ``BootstrapProgress``."""

    total: int
    ready: int

    @property
    def finished(self) -> int: ...


def settle() -> None:
    """Collect, freeze what survives (the bootstrap's long-lived state), set
    :data:`THRESHOLDS` and, on the running event loop, :func:`collect_young_every`; logs what it
    froze and how long the collection paused the process."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        collect_young_every(asyncio.get_running_loop())
    except RuntimeError:  # no loop (a tool settling before it starts one): thresholds only
        log.debug("garbage collector: no event loop, no timed young collections")
    log.info(
        "garbage collector: %d objects frozen after the bootstrap (%.0f ms), thresholds %s",
        gc.get_freeze_count(),
        1000 * (time.perf_counter() - started),
        THRESHOLDS,
    )


class _YoungCollections:
    """The timer of :func:`collect_young_every` on one loop: a callback that reschedules itself
    (no task, so nothing to cancel or await; it ends with its loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, every: float) -> None:
        self.loop = loop
        self.every = every
        loop.call_later(every, self._collect)

    def _collect(self) -> None:
        gc.collect(1)
        self.loop.call_later(self.every, self._collect)


_young: _YoungCollections | None = None


def collect_young_every(loop: asyncio.AbstractEventLoop, every: float = YOUNG_EVERY) -> None:
    """Collect the young and middle generations every ``every`` s on ``loop`` (once per loop).

    Why on a clock: CPython starts a young collection when allocations outnumber
    deallocations by the threshold, and a feeder's streams and engines replace their waits
    (futures, timers, coroutines) as fast as they make them, so that count hardly moves while
    the young generations fill with live waits: at 2000 symbols about 45,000 objects (every
    engine's heartbeat wait, every stream's), walked in 30–60 ms pauses, twice each (young,
    then middle). Collected every ``every`` s, a walk holds only the waits made since the last
    one, and each wait is walked once before it moves to the old generation.
    """
    global _young
    if _young is not None and _young.loop is loop and not loop.is_closed():
        return
    _young = _YoungCollections(loop, every)


class AfterBootstrap:
    """A feeder ``on_progress`` callback that calls ``settle`` once every bootstrap asked for
    has finished, and before that each time the bootstrapped symbols have doubled since the
    last call (from :data:`FIRST_SETTLE` on), after handing the progress on to ``then`` (e.g. a
    progress bar).

    Why during the bootstrap too: the heap grows by about 300 objects per symbol, and each full
    collection walks all of it; frozen at each doubling, the bootstrap's full collections walk
    only what came since, so their work grows with the heap, not with its square. Symbols added
    later (a universe reload, a bus node's new leases) settle again only when they double it."""

    def __init__(
        self,
        then: Callable[[Progress, str], None] | None = None,
        settle: Callable[[], None] = settle,
    ) -> None:
        self._then = then
        self._settle = settle
        #: symbols bootstrapped at the last settle
        self.settled_at = 0
        self._finished_once = False

    def __call__(self, progress: Progress, symbol: str) -> None:
        if self._then is not None:
            self._then(progress, symbol)
        doubled = progress.ready >= max(FIRST_SETTLE, 2 * self.settled_at)
        first_end = not self._finished_once and progress.finished >= progress.total
        self._finished_once = self._finished_once or first_end
        if (doubled or first_end) and progress.ready > self.settled_at:
            self.settled_at = progress.ready
            self._settle()
