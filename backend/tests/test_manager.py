"""EngineManager: routing by symbol, non-blocking feed, failure propagation, bounded clean stop."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

from backend.src.engine.engine import MD, Engine
from backend.src.engine.manager import EngineManager
from backend.tests.helpers import Recorder, assert_accounting, md, pending_tasks, wait_until

BTC, ETH = "BTC/USDT", "ETH/USDT"


class FakeFeeder:
    """Scripted feeder: pushes ``script`` through on_md, then fails or waits until closed."""

    def __init__(
        self,
        symbols: list[str],
        script: list[MD] = (),  # type: ignore[assignment]
        *,
        fail_with: BaseException | None = None,
        end_after_script: bool = False,
        yield_every: int = 1,
        close_hangs: bool = False,
        run_ignores_close: bool = False,
    ) -> None:
        self.symbols = list(symbols)
        self.script = list(script)
        self.fail_with = fail_with
        self.end_after_script = end_after_script
        self.yield_every = yield_every
        self.close_hangs = close_hangs
        self.run_ignores_close = run_ignores_close
        self.close_calls = 0
        self.pushed = 0
        self._closed = asyncio.Event()

    async def run(self, on_md: Callable[[MD], Any]) -> None:
        for i, m in enumerate(self.script, 1):
            result = on_md(m)
            if inspect.isawaitable(result):
                await result
            self.pushed += 1
            if i % self.yield_every == 0:
                await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        if self.run_ignores_close:
            await asyncio.Event().wait()
        if not self.end_after_script:
            await self._closed.wait()

    async def close(self) -> None:
        self.close_calls += 1
        self._closed.set()
        if self.close_hangs:
            await asyncio.Event().wait()


class SlowEngine(Recorder):
    async def on_market_data(self, md: MD) -> None:
        await super().on_market_data(md)
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_routes_by_symbol_and_counts_unrouted() -> None:
    script = [md(1, BTC), md(2, ETH), md(3, "DOGE/USDT"), md(4, BTC), {"no": "symbol"}]
    feeder = FakeFeeder([BTC, ETH], script)
    mgr = EngineManager([BTC, ETH, BTC], feeder, engine_factory=Recorder)
    assert mgr.symbols == [BTC, ETH]
    async with mgr:
        engines: dict[str, Any] = dict(mgr.engines)
        await wait_until(lambda: feeder.pushed == len(script))
        await wait_until(lambda: len(engines[BTC].seen) >= 2 and len(engines[ETH].seen) >= 1)
        assert [m["ts"] for m in engines[BTC].seen[:2]] == [1, 4]
        assert engines[ETH].seen[0]["ts"] == 2
        stats = mgr.stats()
        assert stats["unrouted"] == 2
        assert stats["engines"][BTC]["received"] == 2
        assert stats["feeder"] == {"state": "running", "failed": False, "error": None}
    assert feeder.close_calls == 1
    assert mgr.stats()["feeder"]["state"] == "stopped"
    assert pending_tasks() == []


@pytest.mark.asyncio
async def test_async_on_md_wrapper_in_feeder_is_supported() -> None:
    """The feeder may wrap on_md in a coroutine; routing must still work."""

    class AsyncWrappingFeeder(FakeFeeder):
        async def run(self, on_md: Callable[[MD], Any]) -> None:
            async def async_on_md(m: MD) -> None:
                on_md(m)

            await super().run(async_on_md)

    feeder = AsyncWrappingFeeder([BTC], [md(1, BTC)], end_after_script=True)
    mgr = EngineManager([BTC], feeder, engine_factory=Recorder)
    await mgr.run()
    assert mgr.stats()["engines"][BTC]["received"] == 1
    assert mgr.stats()["feeder"]["state"] == "stopped"


@pytest.mark.asyncio
async def test_slow_engine_never_blocks_the_feeder() -> None:
    script = [md(i, BTC if i % 2 else ETH) for i in range(2000)]
    feeder = FakeFeeder([BTC, ETH], script, yield_every=50)
    mgr = EngineManager([BTC, ETH], feeder, engine_factory=SlowEngine, queue_size=10)
    loop = asyncio.get_running_loop()
    async with mgr:
        t0 = loop.time()
        await wait_until(lambda: feeder.pushed == len(script))
        assert loop.time() - t0 < 0.5  # 2000 md at 20 ms each would take 40 s if blocking
        for engine in mgr.engines.values():
            assert engine.md_stats["received"] == 1000
            assert engine.dropped > 900
            assert_accounting(engine)
    for engine in mgr.engines.values():
        assert_accounting(engine)
    assert pending_tasks() == []


@pytest.mark.asyncio
async def test_feeder_failure_propagates_after_clean_stop() -> None:
    boom = RuntimeError("exchange down")
    feeder = FakeFeeder([BTC], [md(1, BTC)], fail_with=boom)
    mgr = EngineManager([BTC], feeder)
    with pytest.raises(RuntimeError, match="exchange down") as excinfo:
        await mgr.run()
    assert excinfo.value is boom
    assert feeder.close_calls == 1
    assert not any(e.running for e in mgr.engines.values())
    stats = mgr.stats()
    assert stats["feeder"] == {"state": "failed", "failed": True, "error": repr(boom)}
    assert stats["engines"][BTC]["received"] == 1
    await mgr.stop()  # still safe afterwards
    assert pending_tasks() == []


@pytest.mark.asyncio
async def test_stop_after_feeder_already_failed() -> None:
    feeder = FakeFeeder([BTC], fail_with=ConnectionError("socket closed"))
    mgr = EngineManager([BTC], feeder)
    await mgr.start()
    await wait_until(lambda: mgr.stats()["feeder"]["failed"])
    assert mgr.engines[BTC].running  # engines survive a feeder failure until stopped
    await mgr.stop()
    assert feeder.close_calls == 1
    assert not mgr.engines[BTC].running
    assert pending_tasks() == []


@pytest.mark.asyncio
async def test_feeder_ending_normally_makes_run_return() -> None:
    feeder = FakeFeeder([BTC], [md(1, BTC)], end_after_script=True)
    mgr = EngineManager([BTC], feeder)
    await asyncio.wait_for(mgr.run(), 1.0)
    assert mgr.stats()["feeder"]["failed"] is False
    assert pending_tasks() == []


@pytest.mark.asyncio
async def test_stop_twice_and_concurrently_is_safe() -> None:
    feeder = FakeFeeder([BTC, ETH])
    mgr = EngineManager([BTC, ETH], feeder)
    await mgr.start()
    await mgr.start()  # idempotent
    await asyncio.gather(mgr.stop(), mgr.stop())
    await mgr.stop()
    assert feeder.close_calls == 1
    assert pending_tasks() == []
    with pytest.raises(RuntimeError):
        await mgr.start()


@pytest.mark.asyncio
async def test_stop_without_start() -> None:
    mgr = EngineManager([BTC], FakeFeeder([BTC]))
    await mgr.stop()
    assert mgr.stats()["feeder"]["state"] == "stopped"
    assert pending_tasks() == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "hang",
    [{"close_hangs": True}, {"run_ignores_close": True}, {"close_hangs": True, "run_ignores_close": True}],
)
async def test_stop_is_bounded_when_the_feeder_hangs(hang: dict[str, bool]) -> None:
    feeder = FakeFeeder([BTC], **hang)
    mgr = EngineManager([BTC], feeder, stop_timeout=0.1)
    await mgr.start()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await mgr.stop()
    assert loop.time() - t0 < 0.5
    assert pending_tasks() == []


@pytest.mark.asyncio
async def test_cancelled_run_still_cleans_up() -> None:
    feeder = FakeFeeder([BTC])
    mgr = EngineManager([BTC], feeder)
    runner = asyncio.create_task(mgr.run())
    await wait_until(lambda: mgr.stats()["feeder"]["state"] == "running")
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert feeder.close_calls == 1
    assert pending_tasks() == []


@pytest.mark.asyncio
async def test_feeder_factory_is_lazy_and_gets_the_symbols() -> None:
    built: list[FakeFeeder] = []

    def factory(symbols: list[str]) -> FakeFeeder:
        built.append(FakeFeeder(symbols))
        return built[-1]

    mgr = EngineManager([BTC, ETH], feeder_factory=factory)
    assert built == [] and mgr.feeder is None
    async with mgr:
        assert [f.symbols for f in built] == [[BTC, ETH]]
        assert mgr.feeder is built[0]
    assert built[0].close_calls == 1


@pytest.mark.asyncio
async def test_default_factory_imports_market_feeder_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("backend.src.data.market_feeder")
    module.MarketFeeder = FakeFeeder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "backend.src.data.market_feeder", module)
    mgr = EngineManager([BTC])
    async with mgr:
        assert isinstance(mgr.feeder, FakeFeeder)
        assert mgr.feeder.symbols == [BTC]


@pytest.mark.asyncio
async def test_failed_start_leaves_nothing_running() -> None:
    def broken_factory(symbols: list[str]) -> FakeFeeder:
        raise ValueError("no valid symbol")

    mgr = EngineManager([BTC], feeder_factory=broken_factory)
    with pytest.raises(ValueError, match="no valid symbol"):
        async with mgr:
            pass
    assert not mgr.engines[BTC].running
    assert pending_tasks() == []


class Heartbeats(Engine):
    """Records the loop time of every empty md (heartbeat)."""

    def __init__(self, symbol: str, **kwargs: Any) -> None:
        super().__init__(symbol, md_timeout=0.2, **kwargs)
        self.beats: list[float] = []

    async def on_market_data(self, md: MD) -> None:
        if md.get("price") is None and "symbol" not in md:
            self.beats.append(asyncio.get_running_loop().time())


@pytest.mark.asyncio
async def test_idle_engines_heartbeats_are_spread_over_the_timeout() -> None:
    """Engines started together without md do not all wake in one loop iteration: their first
    heartbeats come within md_timeout, spread over it, and each later one md_timeout apart."""
    symbols = [f"S{i}/USDT" for i in range(10)]
    manager = EngineManager(symbols, feeder=FakeFeeder(symbols), engine_factory=Heartbeats)
    started = asyncio.get_running_loop().time()
    await manager.start()
    await asyncio.sleep(0.5)
    engines = [manager.engines[s] for s in symbols]
    await manager.stop()
    assert all(isinstance(e, Heartbeats) and len(e.beats) >= 2 for e in engines)
    firsts = sorted(e.beats[0] - started for e in engines)  # type: ignore[attr-defined]
    assert firsts[-1] <= 0.2 + 0.1 and firsts[-1] - firsts[0] >= 0.15  # spread, none late
    for engine in engines:
        beats = engine.beats  # type: ignore[attr-defined]
        assert all(0.19 <= b - a <= 0.3 for a, b in itertools.pairwise(beats))  # then md_timeout apart
