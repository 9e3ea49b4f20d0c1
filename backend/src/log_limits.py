"""Rate-limited logging for events that can repeat thousands of times a second.

Why a module of its own: the feeder's adapter, the engines and the bus all log per-message
events (drops, rejected values, forged frames); each needs the same "first at once, then a
summary line per interval" behaviour, and none of them should import another layer for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """Logs the first event at once, then at most one line per ``interval_s``.

    Why: a slow engine drops thousands of md per second; one line per drop would drown the log
    and cost more than the drop itself. Suppressed events are counted into the next line.
    """

    def __init__(
        self,
        log: logging.Logger,
        interval_s: float = 10.0,
        *,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._interval_s = interval_s
        self._level = level
        self._clock = clock
        self._last: float | None = None
        self._suppressed = 0

    def event(self, msg: str, *args: Any, **kwargs: Any) -> bool:
        """Record one event; returns True when it was written to the log."""
        now = self._clock()
        if self._last is not None and now - self._last < self._interval_s:
            self._suppressed += 1
            return False
        if self._suppressed and self._last is not None:
            msg = f"{msg} (+%d similar in the last %.0fs)"
            args = (*args, self._suppressed, now - self._last)
        self._last = now
        self._suppressed = 0
        self._log.log(self._level, msg, *args, **kwargs)
        return True
