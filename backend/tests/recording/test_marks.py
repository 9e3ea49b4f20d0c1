"""``ReplayPacer``: steps taken after exactly their recorded stream results, never a hang."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from backend.src.recording.marks import EXPIRE_S, ReplayPacer
from backend.src.recording.transport import TransportStats
from backend.src.recording.virtual_time import VirtualClock, VirtualTimeLoop

T0 = 1_800_000_000_000_000_000
MS = 1_000_000


def on_virtual_time(scenario: Callable[[VirtualClock], Awaitable[Any]]) -> Any:
    clock = VirtualClock(T0)
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock)) as runner:
        return runner.run(scenario(clock))


class Streams:
    """Stream results handed on as the supervisor hands them: held while a step comes first."""

    def __init__(self) -> None:
        self.yielded = 0
        self.log: list[str] = []

    async def push(self, pacer: ReplayPacer, at_ms: int, clock: VirtualClock) -> None:
        await asyncio.sleep((T0 + at_ms * MS - clock.now_ns) / 1e9)
        if pacer.holds(self.yielded):
            await pacer.release(self.yielded)
        self.yielded += 1
        self.log.append(f"r{self.yielded}@{(clock.now_ns - T0) // MS}")


def test_a_step_runs_after_its_results_and_before_the_next_at_its_instant() -> None:
    async def scenario(clock: VirtualClock) -> tuple[list[str], TransportStats]:
        stats, streams = TransportStats(), Streams()
        pacer = ReplayPacer(lambda: streams.yielded, stats)
        pacer.add("sweep", T0 + 30 * MS, 2)  # live: after 2 results, at 30 ms

        async def step() -> None:  # on time in the replay: at 5 ms
            await asyncio.sleep(0.005)
            await pacer.mark("sweep")
            streams.log.append(f"sweep@{(clock.now_ns - T0) // MS}")

        # the 3rd result's frame came at 20 ms, before the live step's instant: it waits
        await asyncio.gather(step(), *(streams.push(pacer, ms, clock) for ms in (1, 10, 20, 40)))
        return streams.log, stats

    log, stats = on_virtual_time(scenario)
    assert log == ["r1@1", "r2@10", "sweep@30", "r3@30", "r4@40"]
    assert (stats.marks, stats.unmatched_marks) == (1, 0)


def test_a_step_due_with_a_frame_waits_for_the_results_recorded_before_it() -> None:
    async def scenario(clock: VirtualClock) -> list[str]:
        streams = Streams()
        pacer = ReplayPacer(lambda: streams.yielded, TransportStats())
        pacer.add("monitor", T0 + 30 * MS, 2)  # live: at 30 ms, after the frame of 30 ms

        async def step() -> None:  # its timer fires first at 30 ms
            await asyncio.sleep(0.030)
            await pacer.mark("monitor")
            streams.log.append(f"monitor@{(clock.now_ns - T0) // MS}")

        await asyncio.gather(step(), *(streams.push(pacer, ms, clock) for ms in (1, 30, 30)))
        return streams.log

    assert on_virtual_time(scenario) == ["r1@1", "r2@30", "monitor@30", "r3@30"]


def test_a_step_the_replay_never_takes_holds_the_streams_only_briefly() -> None:
    async def scenario(clock: VirtualClock) -> tuple[list[str], TransportStats]:
        stats, streams = TransportStats(), Streams()
        pacer = ReplayPacer(lambda: streams.yielded, stats)
        pacer.add("backfill:X", T0 + 30 * MS, 1)
        await asyncio.gather(*(streams.push(pacer, ms, clock) for ms in (1, 10)))
        return streams.log, stats

    log, stats = on_virtual_time(scenario)
    assert log == ["r1@1", f"r2@{30 + int(EXPIRE_S * 1000)}"]
    assert (stats.marks, stats.unmatched_marks) == (0, 1)


def test_a_step_whose_results_never_come_goes_on_at_its_deadline() -> None:
    async def scenario(clock: VirtualClock) -> tuple[int, TransportStats]:
        stats = TransportStats()
        pacer = ReplayPacer(lambda: 0, stats)
        pacer.add("sweep", T0 + 30 * MS, 5)  # live: after 5 results the replay never hands on
        await pacer.mark("sweep")
        return clock.now_ns, stats

    now, stats = on_virtual_time(scenario)
    assert now == T0 + 30 * MS + int(EXPIRE_S * 1e9)
    assert (stats.marks, stats.unmatched_marks) == (0, 1)


def test_a_step_without_a_recorded_mark_goes_on_at_once_and_is_counted() -> None:
    async def scenario(clock: VirtualClock) -> tuple[int, TransportStats]:
        stats = TransportStats()
        pacer = ReplayPacer(lambda: 0, stats)
        pacer.add("sweep", T0 - 50 * MS, 0)  # live took it long before: not this step's
        await asyncio.sleep(0.1)
        await pacer.mark("sweep")
        await pacer.mark("monitor")
        return clock.now_ns, stats

    now, stats = on_virtual_time(scenario)
    assert now == T0 + 100 * MS
    assert (stats.marks, stats.unmatched_marks) == (0, 3)  # the recorded one skipped, two steps
