"""Clock offset to the exchange, estimated from ``/api/v3/time`` round trips.

Why: bar boundaries, "which bar is closed" and md timestamps must follow the exchange's clock.
A local clock a couple of seconds off would otherwise label the still-forming bar as closed,
or drop the last closed one. Each sample assumes the server stamped its time at the midpoint of
the round trip (NTP's assumption); the estimate is the median of recent samples, which ignores
the occasional sample distorted by a slow, asymmetric round trip.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class ClockSync:
    """Median of the last ``window`` offset samples (exchange − local, in ms)."""

    window: int = 7
    clock_ms: Callable[[], float] = field(default=lambda: time.time() * 1000.0)
    _samples: deque[float] = field(init=False)
    _rtts: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self._samples = deque(maxlen=self.window)
        self._rtts = deque(maxlen=self.window)
        self._offset = 0.0

    def add_sample(self, sent_ms: float, server_ms: float, received_ms: float) -> float:
        """Record one round trip; returns that sample's offset."""
        offset = server_ms - (sent_ms + received_ms) / 2.0
        self._samples.append(offset)
        self._rtts.append(received_ms - sent_ms)
        # the median once per sample, not per read: ``now_ms`` runs for every record
        self._offset = statistics.median(self._samples)
        return offset

    @property
    def synced(self) -> bool:
        return bool(self._samples)

    @property
    def offset_ms(self) -> float:
        """Best estimate of exchange time − local time; 0 before the first sample."""
        return self._offset

    @property
    def rtt_ms(self) -> float | None:
        return statistics.median(self._rtts) if self._rtts else None

    def now_ms(self) -> int:
        """The exchange's current time as this process best knows it."""
        return int(self.clock_ms() + self._offset)
