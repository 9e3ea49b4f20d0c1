"""Exponential backoff with full jitter, and the one retry step that uses it.

Why full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): after a venue-wide
outage every client reconnects at once; drawing each delay uniformly from ``[0, ceiling]``
spreads them out. The ceiling doubles per consecutive failure from ``base`` up to ``cap``.
``cap`` is kept low (6 s by default) because the Epic's KPI is recovery within 10 s of the
exchange becoming reachable again: a 30 s cap (ccxt's own dial backoff) would break it.

Generic (REST calls, streams, bootstraps, text sources all retry with it); which errors are
worth a retry is the caller's knowledge (``adapters.transient`` for ccxt's).

The state is pure (clock and random source injected) so the policy is unit-testable without
sleeping; :func:`log_and_sleep` is the only I/O.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

#: One random source for every backoff: a ``Random`` per stream costs ~5 KB, 10 MB at 2000
#: symbols, and jitter needs no independent streams.
_JITTER = random.Random()


class Uniform(Protocol):
    """A random source: ``random.Random``, or a stream's own ``jitter.Jitter``."""

    def uniform(self, a: float, b: float) -> float: ...


@dataclass
class Backoff:
    """Full-jitter exponential backoff whose attempt counter resets after a healthy period.

    ``next_delay()`` is called once per failure; ``success()`` once per good result. The counter
    resets only when the last failure is at least ``reset_after`` seconds old, so a connection
    that flaps (connects, delivers one message, drops) keeps backing off instead of hammering.
    """

    base: float = 1.0
    cap: float = 6.0
    reset_after: float = 30.0
    rng: Uniform = field(default_factory=lambda: _JITTER)
    clock: Callable[[], float] = time.monotonic
    attempts: int = 0
    _last_failure: float | None = None

    def ceiling(self) -> float:
        """Upper bound of the next delay: ``min(cap, base * 2**attempts)``."""
        return min(self.cap, self.base * (2 ** min(self.attempts, 30)))

    def next_delay(self, floor: float = 0.0) -> float:
        """Record a failure and return how long to wait before retrying.

        ``floor`` is a server-imposed minimum (``Retry-After``); it overrides the cap because
        ignoring it escalates MEXC's IP bans (2 min up to 3 days).
        """
        delay = self.rng.uniform(0.0, self.ceiling())
        self.attempts += 1
        self._last_failure = self.clock()
        return max(delay, floor)

    def success(self) -> None:
        """Record a good result; forget past failures once they are ``reset_after`` old."""
        if self._last_failure is None:
            return
        if self.clock() - self._last_failure >= self.reset_after:
            self.attempts = 0
            self._last_failure = None


async def log_and_sleep(
    backoff: Backoff, logger: logging.Logger, what: str, exc: BaseException, floor: float = 0.0
) -> float:
    """Record a failure of ``what``, log it with the coming delay, and wait that delay.

    The one retry step shared by REST calls, streams and the feeder's bootstrap, so every
    retry is logged the same way; returns the delay slept.
    """
    delay = backoff.next_delay(floor)
    logger.warning("%s: %s: %s — retry %d in %.2fs", what, type(exc).__name__, exc, backoff.attempts, delay)
    await asyncio.sleep(delay)
    return delay
