"""``TimerWheel`` timeouts behave as ``asyncio.timeout``'s, on one timer, up to two ticks late."""

from __future__ import annotations

import asyncio

import pytest

from backend.src.timer_wheel import TimerWheel

TICK = 0.02


@pytest.mark.asyncio
async def test_a_wait_cut_short_leaves_nothing_pending_and_a_silent_one_times_out() -> None:
    wheel, loop = TimerWheel(TICK), asyncio.get_running_loop()
    async with wheel.timeout(10 * TICK):
        await asyncio.sleep(TICK)
    assert len(wheel) == 0
    started = loop.time()
    with pytest.raises(TimeoutError):
        async with wheel.timeout(5 * TICK):
            await asyncio.sleep(10)
    assert 5 * TICK <= loop.time() - started < 8 * TICK  # never early, at most two ticks late
    async with wheel.timeout(None):  # no deadline
        await asyncio.sleep(2 * TICK)


@pytest.mark.asyncio
async def test_many_waits_share_the_wheel_and_each_expires_on_its_own() -> None:
    wheel = TimerWheel(TICK)

    async def wait(delay: float, work: float) -> str:
        try:
            async with wheel.timeout(delay):
                await asyncio.sleep(work)
        except TimeoutError:
            return "timeout"
        return "done"

    results = await asyncio.gather(*(wait(3 * TICK, TICK if i % 2 else 1.0) for i in range(200)))
    assert results == ["timeout", "done"] * 100 and len(wheel) == 0


@pytest.mark.asyncio
async def test_a_cancel_from_elsewhere_stays_a_cancel() -> None:
    wheel = TimerWheel(TICK)

    async def waiter() -> None:
        async with wheel.timeout(100 * TICK):
            await asyncio.sleep(10)

    task = asyncio.ensure_future(waiter())
    await asyncio.sleep(TICK)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(wheel) == 0
