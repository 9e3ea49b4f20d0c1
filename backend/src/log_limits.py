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
    """Logs the first event of each message at once, then at most one line per ``interval_s``
    per message.

    Why: a slow engine drops thousands of md per second; one line per drop would drown the log
    and cost more than the drop itself. Suppressed events are counted into the next line of
    the same message. Each message (its format string) is limited on its own, so one frequent
    failure never hides another kind behind "similar" (a bar read failing among a burst of md
    read timeouts); format strings are constants of the code, so their number is bounded.
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
        #: format string → [time of its last line, events suppressed since]
        self._state: dict[str, list[Any]] = {}

    def event(self, msg: str, *args: Any, **kwargs: Any) -> bool:
        """Record one event; returns True when it was written to the log."""
        now = self._clock()
        state = self._state.get(msg)
        if state is None:
            state = self._state[msg] = [None, 0]
        last, suppressed = state
        if last is not None and now - last < self._interval_s:
            state[1] = suppressed + 1
            return False
        line = msg
        if suppressed and last is not None:
            line = f"{msg} (+%d similar in the last %.0fs)"
            args = (*args, suppressed, now - last)
        state[0], state[1] = now, 0
        self._log.log(self._level, line, *args, **kwargs)
        return True
