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

import gc
import logging
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

#: Collector thresholds once the bootstrap heap is frozen: (young, middle, full). Measured at
#: 2000 symbols (``docs/BENCHMARKS.md``): each collection walks the live objects made since the
#: last one (the streams' waits come and go, so the young generations fill with live objects
#: while CPython's allocation count hardly moves), about a microsecond each. Young and middle
#: collections more often than CPython's (700, 10) keep each walk short; the full collection,
#: which walks every stream's wait, runs about every half hour instead of every few seconds:
#: the streams make next to no cyclic garbage (20 minutes at 2000 symbols without one left
#: none in the unfrozen heap, and 150 objects in the frozen one).
THRESHOLDS = (300, 2, 10_000)
#: Bootstrapped symbols at the first settle during a bootstrap (then at each doubling).
FIRST_SETTLE = 16


class Progress(Protocol):
    """What :class:`AfterBootstrap` reads of the feeder's ``BootstrapProgress``."""

    total: int
    ready: int

    @property
    def finished(self) -> int: ...


def settle() -> None:
    """Collect, freeze what survives (the bootstrap's long-lived state) and set
    :data:`THRESHOLDS`; logs what it froze and how long the collection paused the process."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    log.info(
        "garbage collector: %d objects frozen after the bootstrap (%.0f ms), thresholds %s",
        gc.get_freeze_count(),
        1000 * (time.perf_counter() - started),
        THRESHOLDS,
    )


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
