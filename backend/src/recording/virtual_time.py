"""Virtual time for a replay: the recording's clock, for the event loop and for ``time``.

Why: the md path reads the local clock in many places — ccxt's timestamps, the exchange clock
(local wall time + the offset measured from REST server-time samples) that validation's time
window and the backfill use, the stats TTL, the feed monitor, connection ages, backoffs — and
runs timers (watchdogs, quiet-market probes, sweeps, sleeps). For a replay to meet the same
instants as the live session, all of them must read one clock that follows the recording.

* :class:`VirtualClock` is that clock: wall time in ns since the epoch, starting at the
  recording's first record, moved forward only by the loop.
* :class:`VirtualTimeLoop` is an asyncio loop whose ``time()`` is the clock's, and which, when
  nothing is ready to run, moves the clock to its next timer at once (``speed=None``) or after
  ``1/speed`` of the wait in real time, instead of sleeping (as ``looptime`` does for tests).
* :func:`patched_time` makes ``time.time``/``time_ns``/``monotonic``/``perf_counter`` read the
  clock while a replay runs: the one injection point for every local-clock read, the library's
  and ccxt's, without threading a clock object through each of them. It is process-wide:
  nothing else should run in the process during a replay (references taken before it, such as
  a default argument ``clock=time.monotonic``, keep the real clock; the replay passes its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import selectors
import time
from collections.abc import Callable, Iterator
from contextvars import Context
from typing import Any

#: the loop time (and ``time.monotonic()``) of a replay's first instant: far from zero, as a
#: live process's monotonic clock is, so no "0 means never" check is fooled.
MONOTONIC_BASE = 1000.0


class VirtualClock:
    """The replay's clock (see the module doc); only the loop moves it."""

    def __init__(self, origin_ns: int) -> None:
        self.origin_ns = origin_ns
        self.now_ns = origin_ns

    def loop_time(self) -> float:
        return (self.now_ns - self.origin_ns) / 1e9 + MONOTONIC_BASE

    def loop_time_of(self, t_ns: int) -> float:
        """The loop time at which a record of wall time ``t_ns`` happened."""
        return (t_ns - self.origin_ns) / 1e9 + MONOTONIC_BASE

    def advance(self, seconds: float) -> None:
        """Move on by ``seconds``, at least 1 ns when positive: a wait shorter than half a ns,
        rounded to no move at all, would fire its timer (asyncio treats a timer within the
        clock's resolution as due) without the clock ever reaching a deadline computed from it,
        and a loop like ``while deadline - time() > 0: sleep(deadline - time())`` would spin."""
        if seconds > 0:
            self.now_ns += max(1, round(seconds * 1e9))

    def time(self) -> float:
        return self.now_ns / 1e9

    def time_ns(self) -> int:
        return self.now_ns

    def monotonic_ns(self) -> int:
        return self.now_ns - self.origin_ns + int(MONOTONIC_BASE * 1e9)


class _VirtualSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    """Polls real I/O without blocking; a wait for a timer moves the clock instead."""

    def __init__(self, clock: VirtualClock, speed: float | None) -> None:
        super().__init__()
        self._clock = clock
        self._speed = speed

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None or timeout <= 0:  # work is ready, or no timer at all: real I/O only
            return super().select(timeout)
        ready = super().select(0 if self._speed is None else timeout / self._speed)
        if not ready:
            self._clock.advance(timeout)
        return ready


class _FifoTimer(asyncio.TimerHandle):
    """A timer that fires after the timers due at the same instant scheduled before it."""

    __slots__ = ("_seq",)

    def __init__(self, seq: int, *args: Any) -> None:
        super().__init__(*args)
        self._seq = seq

    def __lt__(self, other: Any) -> bool:
        return (self._when, self._seq) < (other._when, other._seq)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a :class:`VirtualClock` (``speed`` None: as fast as it computes).

    Timers due at the same instant fire in the order they were scheduled. Why: live, two
    sleeps of the same length started microseconds apart end in that order; on a clock that
    computation does not move they start at the same instant, and asyncio's heap would order
    them arbitrarily.
    """

    def __init__(self, clock: VirtualClock, speed: float | None = None) -> None:
        super().__init__(_VirtualSelector(clock, speed))
        self.clock = clock
        self._timer_seq = itertools.count()

    def time(self) -> float:
        return self.clock.loop_time()

    def call_at(
        self, when: float, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.TimerHandle:
        """asyncio's ``call_at``, with :class:`_FifoTimer` (its heap is asyncio's own)."""
        self._check_closed()  # type: ignore[attr-defined]
        timer = _FifoTimer(next(self._timer_seq), when, callback, args, self, context)
        heapq.heappush(self._scheduled, timer)  # type: ignore[attr-defined]
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer


async def sleep_until(t_ns: int) -> None:
    """Wait for the instant ``t_ns`` (wall ns) of the running virtual loop's clock; return at
    once, without yielding, when it has passed (data that was already there)."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    delay = loop.clock.loop_time_of(t_ns) - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


_PATCHED = ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns")


@contextlib.contextmanager
def patched_time(clock: VirtualClock) -> Iterator[None]:
    """``time``'s clocks read ``clock`` inside the block (see the module doc)."""
    real = {name: getattr(time, name) for name in _PATCHED}
    virtual = {
        "time": clock.time,
        "time_ns": clock.time_ns,
        "monotonic": clock.loop_time,
        "monotonic_ns": clock.monotonic_ns,
        "perf_counter": clock.loop_time,
        "perf_counter_ns": clock.monotonic_ns,
    }
    for name, function in virtual.items():
        setattr(time, name, function)
    try:
        yield
    finally:
        for name, function in real.items():
            setattr(time, name, function)
