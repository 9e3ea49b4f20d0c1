"""The real feeder on the loopback MEXC simulator, over a real nats-server (md and bars); the
CLI commands; and the embedded default path, which must not import ``nats``."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.bus.connection import BusClient, ensure_bar_stream, ensure_md_stream
from backend.src.bus.node import FeederNode
from backend.src.bus.subscriber import BusSubscriber
from backend.src.data.market_feeder import MarketFeeder
from backend.src.engine.manager import EngineManager
from backend.src.sim.server import MexcSimulator
from backend.tests.bus.conftest import NatsServer
from backend.tests.bus.test_feeder_nodes import REPO, lease_keys, sources
from backend.tests.bus.test_md_bus import assert_stopped_engines_accounting, eventually, of, until
from backend.tests.helpers import BarRecorder, Recorder, held, ring

BTC, ETH = "BTC/USDT", "ETH/USDT"


def test_the_default_path_does_not_import_nats() -> None:
    code = (
        "import sys\n"
        "import backend.cli, backend.src.engine.manager, backend.src.data.market_feeder\n"
        "import backend.src.bus, backend.src.bus.cli, backend.src.bus.codec, backend.src.bus.subjects\n"
        "print(sorted(m for m in sys.modules if m == 'nats' or m.startswith('nats.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.asyncio
async def test_real_feeder_md_reach_engines_over_the_bus_unchanged(
    sim: MexcSimulator, bus_client: Callable[..., BusClient]
) -> None:
    feeder = MarketFeeder([], adapter=MexcAdapter([], rate_limit=False, urls=sim.urls), dynamic=True)
    node = FeederNode(bus_client("node"), feeder, "A", [BTC, ETH, "NOPE/USDT"], lease_ttl=2.0)
    in_process: list[dict[str, Any]] = []
    publish = node.publisher.on_md

    def tee(md: dict[str, Any]) -> None:  # what engines in this process would have been given
        in_process.append(md)
        publish(md)

    node.publisher.on_md = tee  # type: ignore[method-assign]
    setup = bus_client("setup")  # engine hosts only look the streams up: made here, as a feeder would
    await setup.connect()
    await ensure_md_stream(setup.js)
    await ensure_bar_stream(setup.js)
    subscriber = BusSubscriber(bus_client("engines"), [BTC, ETH])
    manager = EngineManager([BTC, ETH], feeder=subscriber, engine_factory=Recorder, queue_size=10_000)
    async with manager:
        await asyncio.wait_for(subscriber.ready.wait(), 5)
        run = asyncio.create_task(node.run())
        engines = manager.engines
        await eventually(lambda: all(len(of(s, engines[s].seen)) >= 20 for s in (BTC, ETH)), 20)  # type: ignore[attr-defined]
        closing = asyncio.get_running_loop().time()
        await node.close()
        await run
        assert asyncio.get_running_loop().time() - closing < 3.0  # the dynamic feeder's run() ends on close()
        await eventually(
            lambda: all(of(s, engines[s].seen)[-1:] == of(s, in_process)[-1:] for s in (BTC, ETH))  # type: ignore[attr-defined]
        )
        for symbol in (BTC, ETH):
            assert of(symbol, engines[symbol].seen) == of(symbol, in_process)  # type: ignore[attr-defined]
    assert_stopped_engines_accounting(manager)
    assert "NOPE/USDT" in feeder.failed  # leased, but MEXC does not list it: logged, not streamed
    assert subscriber.counts["skipped"] == subscriber.counts["duplicates"] == 0
    assert node.publisher.stats()["encode_errors"] == 0


@pytest.mark.asyncio
async def test_feed_and_engines_commands(
    nats_server: NatsServer, bus_client: Callable[..., BusClient]
) -> None:
    def command(*args: str, level: str = "WARNING") -> list[str]:
        return [sys.executable, "-m", "backend.src.bus", "--log-level", level, *args]

    feed = await asyncio.create_subprocess_exec(
        *command(
            "feed", "--nats", nats_server.url, "--node-id", "cli", "--sim", "--lease-ttl", "2", BTC, ETH
        ),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    engines = await asyncio.create_subprocess_exec(
        *command("engines", "--nats", nats_server.url, BTC, ETH, level="INFO"),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        check = bus_client("check")
        await check.connect()

        async def publishing() -> bool:  # both processes up, the feed publishing
            return set((await sources(check, [BTC, ETH])).items()) == {(BTC, "cli"), (ETH, "cli")}

        async def delivering() -> None:  # the host waits for the streams, then reads histories
            assert engines.stderr is not None
            while b"delivering" not in await engines.stderr.readline():
                pass

        await until(publishing, 30)
        await asyncio.wait_for(delivering(), 30)
        await asyncio.sleep(0.5)
        engines.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(engines.communicate(), 15)
        assert engines.returncode == 0
        report = json.loads(out)
        for symbol in (BTC, ETH):
            assert report["engines"][symbol]["received"] > 0
        assert report["bus"]["decode_errors"] == 0
        feed.send_signal(signal.SIGTERM)  # a clean stop hands the leases back at once
        out, _ = await asyncio.wait_for(feed.communicate(), 15)
        assert feed.returncode == 0
        stats = json.loads(out)
        assert stats["leases"]["owned"] == [] and stats["publisher"]["published"] > 0
        assert await lease_keys(check) == []
    finally:
        for proc in (feed, engines):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.mark.asyncio
async def test_an_engine_host_started_later_gets_the_history_and_every_closed_bar(
    sim: MexcSimulator, bus_client: Callable[..., BusClient]
) -> None:
    """The real feeder publishes each symbol's 1500 bars when it bootstraps; an engine host
    started after that holds them before its first md, then gets each bar as it closes: the
    same bars as the feeder's, minute for minute."""
    # The exchange's clock 70 s behind this host's: a minute can pass on the exchange without
    # its bars (or md) being from the future for the engine host, which checks them by its own.
    sim.faults.skew_clock(sim.clock.skew_ms - 70_000)
    adapter = MexcAdapter([], rate_limit=False, urls=sim.urls)
    feeder = MarketFeeder([], adapter=adapter, dynamic=True)
    node = FeederNode(bus_client("node"), feeder, "A", [BTC, ETH], lease_ttl=2.0)
    run = asyncio.create_task(node.run())
    await eventually(lambda: node.publisher.bars_published >= 3000, 20)  # both histories are out
    subscriber = BusSubscriber(bus_client("engines"), [BTC, ETH])
    manager = EngineManager([BTC, ETH], feeder=subscriber, engine_factory=BarRecorder)
    async with manager:
        engines: dict[str, Any] = dict(manager.engines)
        await eventually(lambda: all(e.bars_at_first_md is not None for e in engines.values()), 10)
        assert [e.bars_at_first_md for e in engines.values()] == [1500, 1500]
        sim.faults.skew_clock(sim.clock.skew_ms + 60_000 - sim.clock.now_ms() % 60_000 + 500)
        await adapter.fetch_time(samples=7)  # the exchange's clock is in the next minute
        await eventually(lambda: all(e.got for e in engines.values()), 10)
        # the same bars as the feeder's (a revision of the bootstrap's minute may be on its way)
        await eventually(lambda: all(held(e) == ring(feeder.states[s]) for s, e in engines.items()), 5)
        for engine in engines.values():
            closed = [b["ts"] for b in engine.got if not b["revision"]]
            assert closed == [b["ts"] for b in engine.bars][-len(closed) :]  # each once, in order
        await node.close()
        await run
    assert subscriber.bar_rejected == {} and subscriber.bar_counts["decode_errors"] == 0
    assert subscriber.rejected == {}  # md too: nothing from the future
    assert node.publisher.stats()["bars_dropped_outbox_full"] == 0
