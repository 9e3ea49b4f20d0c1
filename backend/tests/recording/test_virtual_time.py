"""The replay's clock: a wait, however short, moves it."""

from __future__ import annotations

import asyncio

from backend.src.recording.virtual_time import VirtualClock, VirtualTimeLoop


def test_a_sub_nanosecond_wait_still_reaches_its_deadline() -> None:
    """``RestClient.retry`` waits out a shared 429 pause this way; a clock that rounded such a
    wait to no move at all spun for ever (found as a hung replay)."""

    async def wait_out(pause: float) -> int:
        loop = asyncio.get_running_loop()
        deadline, turns = loop.time() + pause, 0
        while (left := deadline - loop.time()) > 0 and turns < 1000:
            await asyncio.sleep(left)
            turns += 1
        return turns

    clock = VirtualClock(1_800_000_000_000_000_000)
    for pause in (4e-10, 5e-10, 1.5e-9, 0.25):
        with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock)) as runner:
            assert runner.run(wait_out(pause)) <= 2, pause
