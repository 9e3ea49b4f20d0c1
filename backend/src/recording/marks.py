"""``ReplayPacer``: a replay takes each timer-driven step where the live session took it.

A recorded ``mark`` says: step ``name`` changed state at instant ``t``, after ``seq`` stream
results had been handed on (``pacing``). The replay's step waits until its stream results
have reached ``seq`` and its clock ``t``; the stream result after them waits until the step
has been taken. So the md before and after the step are the same md as live.

A step the replay never takes (a divergence, or a recording cut short) must not hold the
streams for ever: a held result goes on once the clock has passed the mark's instant by
:data:`EXPIRE_S` without the step; nor may results that never come hold a step: it goes on
at the same deadline. A step without a recorded mark goes on at once. Each of these is
counted (``unmatched_marks``).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..pacing import Pacer
from .virtual_time import VirtualTimeLoop, sleep_until

if TYPE_CHECKING:
    from .transport import TransportStats

#: seconds of virtual time a held stream result waits past a mark's instant for its step
EXPIRE_S = 1.0
#: a recorded mark this much (ns) before the replay's step is one the replay did not take
#: (its steps come at or before their live instants, clock rounding aside): skipped.
SLACK_NS = 1_000_000


@dataclass(eq=False)
class _Mark:
    t: int
    seq: int
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ReplayPacer(Pacer):
    """The recorded marks of a replay, met by its steps and held to by its streams."""

    def __init__(self, yielded: Callable[[], int], stats: TransportStats) -> None:
        self._yielded = yielded
        self._stats = stats
        self._by_name: dict[str, collections.deque[_Mark]] = {}
        #: marks not taken yet, in recorded order (their ``seq`` never decreases)
        self._pending: collections.deque[_Mark] = collections.deque()
        #: woken when stream results go on (a step waits for its ``seq``)
        self._moved = asyncio.Event()

    def add(self, name: str, t: int, seq: int) -> None:
        """A recorded mark, handed in by the transport's pump (ahead of the replay's clock)."""
        mark = _Mark(t, seq)
        self._by_name.setdefault(name, collections.deque()).append(mark)
        self._pending.append(mark)

    async def mark(self, name: str) -> None:
        queue = self._by_name.get(name)
        loop = _virtual_loop()
        while queue and (queue[0].t < loop.clock.now_ns - SLACK_NS or queue[0].done.done()):
            self._settle(queue.popleft(), met=False)
        if not queue:
            self._stats.unmatched_marks += 1
            return
        mark = queue.popleft()
        deadline = loop.clock.loop_time_of(mark.t) + EXPIRE_S
        while self._yielded() < mark.seq and not mark.done.done():
            self._moved = moved = asyncio.Event() if self._moved.is_set() else self._moved
            try:
                async with asyncio.timeout_at(deadline):  # results that never come: go on
                    await moved.wait()
            except TimeoutError:
                self._settle(mark, met=False)
        await sleep_until(mark.t)
        self._settle(mark, met=True)

    def holds(self, yielded: int) -> bool:
        pending = self._pending
        while pending and pending[0].done.done():
            pending.popleft()
        if not self._moved.is_set():
            self._moved.set()  # a step waiting for its seq looks again
        return bool(pending) and pending[0].seq <= yielded

    async def release(self, yielded: int) -> None:
        loop = _virtual_loop()
        while self.holds(yielded):
            mark = self._pending[0]
            expiry = loop.call_at(loop.clock.loop_time_of(mark.t) + EXPIRE_S, self._settle, mark, False)
            try:
                await asyncio.shield(mark.done)
            finally:
                expiry.cancel()

    def _settle(self, mark: _Mark, met: bool) -> None:
        if mark.done.done():
            return
        if met:
            self._stats.marks += 1
        else:
            self._stats.unmatched_marks += 1
        mark.done.set_result(None)


def _virtual_loop() -> VirtualTimeLoop:
    """The replay's loop (``ReplayFeeder.run`` refuses any other): its clock dates the marks."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    return loop
