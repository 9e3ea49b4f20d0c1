"""The simulator's notion of "now": wall-clock time plus a fault-controlled skew.

Every timestamp the simulator hands out (serverTime, trade times, bar buckets, push
``sendTime``) comes from here, so skewing the clock is visible everywhere at once, exactly
like a real exchange whose clock drifted.
"""

from __future__ import annotations

import time


class SimClock:
    """Wall clock in epoch milliseconds, shifted by ``skew_ms``."""

    def __init__(self, skew_ms: int = 0) -> None:
        self.skew_ms = skew_ms

    def now_ms(self) -> int:
        """Current exchange time in epoch milliseconds."""
        return int(time.time() * 1000) + self.skew_ms
