"""Engine inbox: drop-oldest without blocking, exact accounting, timeout heartbeat, lifecycle."""

from __future__ import annotations

import asyncio
import logging
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.src.engine.bar_history import BarHistory
from backend.src.engine.engine import MD, Engine
from backend.src.log_limits import RateLimitedLog
from backend.src.market_data import Bar, make_bar
from backend.tests.helpers import BarRecorder, Recorder, assert_accounting, md, pending_tasks, wait_until

EMPTY_MD = {"price": None, "spread": None, "vol": 0.0, "texts": []}


def test_default_queue_is_bounded_at_100() -> None:
    assert Engine("BTC/USDT")._md_queue.maxsize == 100
    with pytest.raises(ValueError):
        Engine("BTC/USDT", queue_size=0)


@pytest.mark.asyncio
async def test_full_queue_drops_oldest_and_counts() -> None:
    engine = Engine("BTC/USDT", queue_size=3, md_timeout=0.01)
    for i in range(5):
        engine.push_md(md(i))
    assert engine.dropped == 2
    got = [(await engine._get_md())["ts"] for _ in range(3)]
    assert got == [2, 3, 4]
    assert engine.md_stats == {
        "received": 5,
        "enqueued": 5,
        "delivered": 3,
        "dropped_queue_full": 2,
        "queued": 0,
        "md_timeouts": 0,
        "on_md_errors": 0,
        "running": False,
        "bars": 0,
        "bars_received": 0,
        "bars_delivered": 0,
        "bars_dropped_queue_full": 0,
        "bars_queued": 0,
        "bar_revisions": 0,
        "on_bar_errors": 0,
    }


# Each op: None = one _get_md, int n = push n md in a row.
ops_strategy = st.lists(st.one_of(st.none(), st.integers(1, 12)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(queue_size=st.integers(1, 6), ops=ops_strategy)
def test_accounting_holds_for_any_push_get_sequence(queue_size: int, ops: list[int | None]) -> None:
    async def scenario() -> None:
        engine = Engine("BTC/USDT", queue_size=queue_size, md_timeout=0.001)
        pushed: list[int] = []
        got: list[int] = []
        for op in ops:
            if op is None:
                m = await engine._get_md()
                if m.get("ts") is not None:
                    got.append(m["ts"])
            else:
                for _ in range(op):
                    pushed.append(len(pushed))
                    engine.push_md(md(pushed[-1]))
            assert_accounting(engine)
        # What is delivered is always in push order, and the queue holds the newest md.
        assert got == sorted(got)
        remaining = [engine._md_queue.get_nowait()["ts"] for _ in range(engine._md_queue.qsize())]
        assert remaining == pushed[len(pushed) - len(remaining) :]
        assert engine.md_stats["delivered"] == len(got)

    asyncio.run(scenario())


@pytest.mark.asyncio
async def test_get_md_timeout_returns_exact_empty_md() -> None:
    engine = Engine("BTC/USDT", md_timeout=0.02)
    first = await engine._get_md()
    assert first == EMPTY_MD
    first["texts"].append("mutated")
    assert await engine._get_md() == EMPTY_MD
    assert engine.md_stats["md_timeouts"] == 2
    assert engine.md_stats["delivered"] == 0


@pytest.mark.asyncio
async def test_md_arriving_while_waiting_is_delivered() -> None:
    engine = Engine("BTC/USDT", md_timeout=1.0)
    getter = asyncio.create_task(engine._get_md())
    await asyncio.sleep(0)
    engine.push_md(md(7))
    assert (await getter)["ts"] == 7
    assert_accounting(engine)


@pytest.mark.asyncio
async def test_drop_logging_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    engine = Engine("BTC/USDT", queue_size=1)
    with caplog.at_level(logging.WARNING, logger="backend.src.engine.engine"):
        for i in range(1000):
            engine.push_md(md(i))
    assert engine.dropped == 999
    drops = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(drops) == 1


def test_rate_limited_log_reports_suppressed_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("test.ratelimit"), 10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.ratelimit"):
        written = [log.event("drop %d", i) for i in range(5)]
        now[0] = 10.0
        written.append(log.event("drop %d", 5))
    assert written == [True, False, False, False, False, True]
    assert [r.getMessage() for r in caplog.records] == [
        "drop 0",
        "drop 5 (+4 similar in the last 10s)",
    ]


def test_rate_limited_log_limits_each_message_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    """A burst of one failure must not hide the first line of another kind."""
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("test.ratelimit"), 10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.ratelimit"):
        written = [log.event("md read failed %d", i) for i in range(3)]
        written.append(log.event("bar read failed %d", 7))
        now[0] = 11.0
        written += [log.event("bar read failed %d", 8), log.event("md read failed %d", 9)]
    assert written == [True, False, False, True, True, True]
    assert [r.getMessage() for r in caplog.records] == [
        "md read failed 0",
        "bar read failed 7",
        "bar read failed 8",
        "md read failed 9 (+2 similar in the last 11s)",
    ]


@pytest.mark.asyncio
async def test_run_loop_delivers_in_order_and_stops_cleanly() -> None:
    engine = Recorder("BTC/USDT", md_timeout=0.05)
    await engine.start()
    await engine.start()  # idempotent
    for i in range(3):
        engine.push_md(md(i))
    await wait_until(lambda: len(engine.seen) == 3)
    assert [m["ts"] for m in engine.seen] == [0, 1, 2]
    assert engine.last_md == md(2)
    assert engine.running
    await engine.stop()
    await engine.stop()  # idempotent
    assert not engine.running
    assert pending_tasks() == []
    with pytest.raises(RuntimeError):
        await engine.start()


@pytest.mark.asyncio
async def test_stop_interrupts_a_long_md_wait() -> None:
    engine = Engine("BTC/USDT", md_timeout=30.0)
    await engine.start()
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await engine.stop()
    assert loop.time() - t0 < 0.5
    assert pending_tasks() == []


@pytest.mark.asyncio
async def test_strategy_errors_are_counted_not_fatal() -> None:
    class Flaky(Recorder):
        async def on_market_data(self, md: MD) -> None:
            await super().on_market_data(md)
            if md["ts"] % 2:
                raise ValueError("bad tick")

    engine = Flaky("BTC/USDT", md_timeout=0.05)
    await engine.start()
    for i in range(4):
        engine.push_md(md(i))
    await wait_until(lambda: len(engine.seen) == 4)
    assert engine.running
    assert engine.md_stats["on_md_errors"] == 2
    await engine.stop()


@pytest.mark.asyncio
async def test_stop_from_inside_the_strategy() -> None:
    class StopsItself(Engine):
        async def on_market_data(self, md: MD) -> None:
            await self.stop()

    engine = StopsItself("BTC/USDT", md_timeout=0.01)
    await engine.start()
    engine.push_md(md(1))
    assert engine._task is not None
    await asyncio.wait_for(engine._task, 1.0)
    assert engine.md_stats["delivered"] == 1
    await engine.stop()
    assert pending_tasks() == []


@pytest.mark.asyncio
async def test_timeout_heartbeat_reaches_the_strategy() -> None:
    engine = Recorder("BTC/USDT", md_timeout=0.01)
    await engine.start()
    await wait_until(lambda: bool(engine.seen))
    await engine.stop()
    assert engine.seen[0] == EMPTY_MD


@pytest.mark.asyncio
async def test_accounting_holds_at_every_loop_step_while_the_engine_waits() -> None:
    """An md handed to a waiting engine is never in limbo (taken from the inbox but not yet
    counted as delivered): a monitor reading the counters at any moment sees them add up."""
    engine = Engine("BTC/USDT", md_timeout=5.0)
    getter = asyncio.create_task(engine._get_md())
    await asyncio.sleep(0)  # the engine now waits on an empty inbox
    engine.push_md(md(1))
    for _ in range(5):
        assert_accounting(engine)
        await asyncio.sleep(0)
    assert (await getter)["ts"] == 1 and engine.md_stats["delivered"] == 1


# ---- bars ------------------------------------------------------------------------------

T0 = 1_767_225_600_000
MIN = 60_000


def bar(i: int, close: float = 100.0, *, symbol: str = "BTC/USDT", revision: bool = False) -> Bar:
    return make_bar(symbol, [T0 + i * MIN, 100.0, 101.0, 99.0, close, 2.0], False, revision)


def assert_bar_accounting(engine: Engine) -> None:
    s = engine.md_stats
    assert s["bars_received"] == s["bars_delivered"] + s["bars_dropped_queue_full"] + s["bars_queued"]


@pytest.mark.asyncio
async def test_history_is_in_place_before_the_first_md_and_is_no_news() -> None:
    engine = BarRecorder("BTC/USDT", md_timeout=5.0)
    engine.push_history([bar(i) for i in range(1500)])
    engine.push_md(md(1))
    await engine.start()
    await wait_until(lambda: len(engine.seen) == 1)
    assert engine.bars_at_first_md == 1500 and engine.got == []
    assert engine.bars[0] == bar(0) and engine.bars[-1] == bar(1499)
    assert engine.bars[-2:] == [bar(1498), bar(1499)]
    engine.bars[-1]["close"] = -1.0  # a strategy editing a bar it was given changes nothing
    assert engine.bars[-1]["close"] == 100.0
    await engine.stop()
    assert_bar_accounting(engine)


@pytest.mark.asyncio
async def test_every_closed_bar_once_and_a_revision_replaces_its_minute() -> None:
    engine = BarRecorder("BTC/USDT", md_timeout=5.0, max_bars=3)
    engine.push_history([bar(0), bar(1)])
    await engine.start()
    engine.push_bar(bar(2))
    engine.push_bar(bar(2))  # the same bar again (the bus delivers twice): no news
    engine.push_bar(bar(3))  # the history is bounded: the oldest bar leaves
    engine.push_bar(bar(2, close=100.5, revision=True))  # the exchange's version of minute 2
    engine.push_bar(bar(2, close=100.5, revision=True))  # once only
    engine.push_bar(bar(0, close=1.0, revision=True))  # older than a full history: ignored
    await wait_until(lambda: engine.md_stats["bars_queued"] == 0)
    assert [(b["ts"], b["close"], b["revision"]) for b in engine.got] == [
        (T0 + 2 * MIN, 100.0, False),
        (T0 + 3 * MIN, 100.0, False),
        (T0 + 2 * MIN, 100.5, True),
    ]
    assert [(b["ts"], b["close"]) for b in engine.bars] == [
        (T0 + MIN, 100.0),
        (T0 + 2 * MIN, 100.5),
        (T0 + 3 * MIN, 100.0),
    ]
    assert engine.md_stats["bar_revisions"] == 1 and engine.md_stats["bars"] == 3
    await engine.stop()
    assert_bar_accounting(engine)


@pytest.mark.asyncio
async def test_history_after_a_live_bar_is_news() -> None:
    """A stream that restarts (or another feeder taking the symbol over) sends its history
    again: what closed meanwhile and what it corrected reach ``on_bar``, repeats do not."""
    engine = BarRecorder("BTC/USDT", md_timeout=5.0)
    engine.push_history([bar(0), bar(1)])
    engine.push_bar(bar(2))
    await engine.start()
    engine.push_history([bar(1), bar(2, close=99.5), bar(3), bar(4)])
    await wait_until(lambda: len(engine.got) == 4)
    assert [(b["ts"] - T0) // MIN for b in engine.got] == [2, 2, 3, 4]
    assert [b["revision"] for b in engine.got] == [False, True, False, False]
    await engine.stop()


@pytest.mark.asyncio
async def test_a_closed_bar_does_not_wait_for_the_md_timeout() -> None:
    engine = BarRecorder("BTC/USDT", md_timeout=30.0)
    await engine.start()
    await asyncio.sleep(0.01)  # the engine waits for md
    loop = asyncio.get_running_loop()
    started = loop.time()
    engine.push_bar(bar(0))
    engine.push_bar(bar(1))
    await wait_until(lambda: len(engine.got) == 2)
    assert loop.time() - started < 0.5
    engine.push_md(md(7))  # and the md wait goes on
    await wait_until(lambda: len(engine.seen) == 1)
    assert engine.md_stats["md_timeouts"] == 0
    await engine.stop()
    assert pending_tasks() == []


@pytest.mark.asyncio
async def test_a_slow_strategy_fills_the_bar_inbox_drops_are_counted_and_md_add_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class SlowOnBar(BarRecorder):
        async def on_bar(self, bar: Bar) -> None:
            await super().on_bar(bar)
            if bar["ts"] == T0 + 49 * MIN:  # the newest bar is never the one dropped
                raise ValueError("strategy bug")
            await asyncio.sleep(0.05)

    engine = SlowOnBar("BTC/USDT", md_timeout=0.01, bar_queue_size=5)
    await engine.start()
    with caplog.at_level(logging.WARNING, logger="backend.src.engine.engine"):
        for i in range(50):
            engine.push_bar(bar(i))  # the feeder never waits
            engine.push_md(md(i))
            assert_bar_accounting(engine)
            assert_accounting(engine)
        await wait_until(lambda: engine.md_stats["bars_queued"] == 0, 2.0)
    await engine.stop()
    stats = engine.md_stats
    assert stats["bars_dropped_queue_full"] > 0 and stats["bars_received"] == 50
    assert stats["on_bar_errors"] == 1 and engine.running is False
    assert [b["ts"] for b in engine.got] == [b["ts"] for b in engine.bars]  # what was delivered, held
    assert len([r for r in caplog.records if "bar queue full" in r.getMessage()]) == 1  # rate-limited
    assert_bar_accounting(engine)
    assert_accounting(engine)


def test_a_full_history_is_compact() -> None:
    """1500 bars in an engine cost about 100 KB, not the 0.65 MB of 1500 bar dicts."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        history = BarHistory("BTC/USDT")
        for i in range(1500):
            history.merge(bar(i, close=100.0 + i))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(history) == 1500 and history[1499]["close"] == 1599.0
    assert held < 150_000
