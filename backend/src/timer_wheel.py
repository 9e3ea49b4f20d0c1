"""``TimerWheel``: many timeouts on one timer, for waits that are nearly always cut short.

Why: every stream of the feeder waits for its next push under a timeout (the stream watchdog,
the quiet-market check), and the push nearly always comes first. With ``asyncio.timeout``
each wait schedules a ``TimerHandle`` (a heap push, a context copy) and builds a ``Timeout``:
at 2000 symbols about 1,500 waits a second, each object of which the young collections then
walk (the census in ``docs/BENCHMARKS.md``, "The universe in one process"). Here a wait is an entry in
the slot of its deadline, rounded up to a tick of ``resolution`` seconds, and one task per
wheel expires the slots that are due. A deadline therefore fires up to two ticks late, never
early.

An expired wait behaves as ``asyncio.timeout``'s: its task is cancelled, and the wait turns
that cancellation into ``TimeoutError`` unless the task was also cancelled from elsewhere
(``Task.uncancel``), so cancelling a waiting task still cancels it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from types import TracebackType


class WheelTimeout:
    """``async with wheel.timeout(delay)``: ``asyncio.timeout(delay)`` on a :class:`TimerWheel`."""

    __slots__ = ("_cancelling", "_delay", "_expired", "_slot", "_task", "_wheel")

    def __init__(self, wheel: TimerWheel, delay: float | None) -> None:
        self._wheel = wheel
        self._delay = delay
        self._task: asyncio.Task | None = None
        self._slot: int | None = None
        self._expired = False
        self._cancelling = 0

    async def __aenter__(self) -> WheelTimeout:
        if self._delay is not None:
            task = asyncio.current_task()
            assert task is not None, "a timeout needs a task"
            self._task, self._cancelling = task, task.cancelling()
            self._slot = self._wheel.add(self, asyncio.get_running_loop().time() + self._delay)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._expired:
            if self._slot is not None:
                self._wheel.remove(self, self._slot)
            return
        assert self._task is not None
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def expire(self) -> None:
        """The deadline has passed: cancel the waiting task (see the module doc)."""
        assert self._task is not None
        self._expired = True
        self._task.cancel()


class TimerWheel:
    """Deadlines in slots of ``resolution`` seconds, expired by one task while any is pending."""

    def __init__(self, resolution: float, before_tick: Callable[[], Awaitable[None]] | None = None) -> None:
        self.resolution = resolution
        #: awaited after each tick's sleep, before its expiries (a replay's ``pacing`` mark)
        self.before_tick = before_tick
        #: slot (deadline / resolution, rounded up) → its pending timeouts, in insertion order
        self._slots: dict[int, dict[WheelTimeout, None]] = {}
        self._ticker: asyncio.Task[None] | None = None

    def timeout(self, delay: float | None) -> WheelTimeout:
        """An ``asyncio.timeout(delay)`` on this wheel (None: no deadline)."""
        return WheelTimeout(self, delay)

    def add(self, entry: WheelTimeout, when: float) -> int:
        """File ``entry`` under the slot of loop time ``when``; returns the slot."""
        slot = math.ceil(when / self.resolution)
        pending = self._slots.get(slot)
        if pending is None:
            pending = self._slots[slot] = {}
        pending[entry] = None
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="timer-wheel")
        return slot

    def remove(self, entry: WheelTimeout, slot: int) -> None:
        """Take back ``entry`` (its wait ended before the deadline)."""
        pending = self._slots.get(slot)
        if pending is not None:
            pending.pop(entry, None)
            if not pending:
                del self._slots[slot]

    def __len__(self) -> int:
        """Timeouts pending."""
        return sum(map(len, self._slots.values()))

    async def _tick(self) -> None:
        """Expire the due slots every tick; end when nothing is pending (``add`` restarts it)."""
        loop = asyncio.get_running_loop()
        while self._slots:
            await asyncio.sleep(self.resolution)
            if self.before_tick is not None:
                await self.before_tick()
            now = math.floor(loop.time() / self.resolution)
            for slot in [s for s in self._slots if s <= now]:
                for entry in self._slots.pop(slot):
                    entry.expire()
