"""Feeder nodes sharing a universe through leases on a real nats-server: split, handover, takeover."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError

from backend.src.bus.codec import SOURCE_HEADER
from backend.src.bus.connection import BusClient
from backend.src.bus.lease_bucket import LEASE_BUCKET
from backend.src.bus.node import FeederNode
from backend.src.bus.subjects import MD_STREAM, md_subject
from backend.src.bus.subscriber import BusSubscriber
from backend.src.engine.manager import EngineManager
from backend.tests.bus.conftest import NatsServer
from backend.tests.bus.fakes import FakeFeeder
from backend.tests.bus.test_md_bus import assert_stopped_engines_accounting, eventually, of, until
from backend.tests.helpers import Recorder

pytestmark = pytest.mark.asyncio
log = logging.getLogger(__name__)

UNIVERSE = ["BTC/USDT", "ETH/USDT", "DOGE/USDT", "SOL/USDT", "XRP/USDT", "ADA/USDT"]
TTL = 1.5
REPO = Path(__file__).resolve().parents[3]


async def sources(client: BusClient, symbols: list[str] = UNIVERSE) -> dict[str, str]:
    """symbol → node id that published the stream's last md of it (symbols without md left out)."""
    await client.connect()
    out = {}
    for symbol in symbols:
        try:
            msg = await client.js.get_last_msg(MD_STREAM, md_subject(symbol))
        except NotFoundError:
            continue
        out[symbol] = (msg.headers or {})[SOURCE_HEADER].split("/")[0]
    return out


async def start_node_process(
    server: NatsServer, node_id: str, ttl: float, symbols: list[str]
) -> asyncio.subprocess.Process:
    """A feeder node (fake feeder) in its own process, so it can be SIGKILLed."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backend.tests.bus.node_proc",
        server.url,
        node_id,
        str(ttl),
        *symbols,
        cwd=REPO,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def test_two_feeders_split_the_universe_without_overlap_or_holes(
    bus_client: Callable[..., BusClient],
) -> None:
    loop = asyncio.get_running_loop()
    fa, fb = FakeFeeder(), FakeFeeder()
    a = FeederNode(bus_client("a"), fa, "A", UNIVERSE, lease_ttl=TTL)
    b = FeederNode(bus_client("b"), fb, "B", UNIVERSE, lease_ttl=TTL)
    overlaps: list[set[str]] = []

    async def watch_overlap() -> None:
        while True:
            if common := set(fa.symbols) & set(fb.symbols):
                overlaps.append(common)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch_overlap())
    runs = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    await eventually(lambda: len(fa.symbols) == len(fb.symbols) == 3, 10)
    assert sorted(fa.symbols + fb.symbols) == sorted(UNIVERSE)  # no hole
    assert set(fa.symbols) == set(a.leases.owned) and set(fb.symbols) == set(b.leases.owned)
    assert a.leases.live_nodes == b.leases.live_nodes == 2
    await asyncio.sleep(0.3)  # each symbol published by its owner
    owners = await sources(bus_client("check"))
    assert owners == {s: "A" if s in fa.symbols else "B" for s in UNIVERSE}

    # A node that leaves cleanly frees its leases at once: the other takes over within a tick.
    started = loop.time()
    await b.close()
    await runs[1]
    await eventually(lambda: sorted(fa.symbols) == sorted(UNIVERSE), 5)
    handover_s = loop.time() - started
    log.info("graceful handover of 3 symbols took %.2fs (ttl %.1fs)", handover_s, TTL)
    assert handover_s < TTL, f"handover took {handover_s:.2f}s"
    assert b.leases.owned == [] and fb.symbols == []
    watcher.cancel()
    assert overlaps == []  # at no sample did both feeders stream one symbol
    await a.close()
    await runs[0]
    assert a.publisher.stats()["publish_errors"] == 0


async def test_nodes_started_together_never_claim_more_than_their_share(
    bus_client: Callable[..., BusClient],
) -> None:
    """Three nodes started within a tick of each other (0.1 s apart, the tick is 0.5 s): none
    ever streams more than its share of the final split (a node that claimed at its first scan,
    before the others' heartbeats, took the whole universe and released most of it a tick
    later), and none releases any."""
    feeders = [FakeFeeder() for _ in range(3)]
    nodes = [
        FeederNode(bus_client(f"n{i}"), f, f"N{i}", UNIVERSE, lease_ttl=TTL) for i, f in enumerate(feeders)
    ]
    most = [0, 0, 0]

    async def watch() -> None:
        while True:
            most[:] = [max(m, len(f.symbols)) for m, f in zip(most, feeders, strict=True)]
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    runs = []
    for node in nodes:
        runs.append(asyncio.create_task(node.run()))
        await asyncio.sleep(0.1)
    await eventually(lambda: sorted(s for f in feeders for s in f.symbols) == sorted(UNIVERSE), 10)
    await asyncio.sleep(TTL)  # a tick or two more: an over-claim would show as a release
    watcher.cancel()
    assert most == [2, 2, 2]
    assert [node.leases.counts["released"] for node in nodes] == [0, 0, 0]
    for node in nodes:
        await node.close()
    await asyncio.gather(*runs)


async def test_a_killed_feeders_symbols_are_taken_over(
    nats_server: NatsServer, bus_client: Callable[..., BusClient]
) -> None:
    loop = asyncio.get_running_loop()
    node_b = await start_node_process(nats_server, "B", TTL, UNIVERSE)
    try:
        fa = FakeFeeder()
        a = FeederNode(bus_client("a"), fa, "A", UNIVERSE, lease_ttl=TTL)
        run_a = asyncio.create_task(a.run())
        manager = EngineManager(
            UNIVERSE, feeder=BusSubscriber(bus_client("engines"), UNIVERSE), engine_factory=Recorder
        )
        async with manager:
            await eventually(lambda: len(fa.symbols) == 3 and a.leases.live_nodes == 2, 20)
            b_symbols = sorted(set(UNIVERSE) - set(fa.symbols))
            check = bus_client("check")

            async def b_publishes_the_rest() -> bool:  # B claims what A released at its next tick
                return sorted(s for s, o in (await sources(check)).items() if o == "B") == b_symbols

            await until(b_publishes_the_rest)

            node_b.kill()  # no lease released: they must expire
            await node_b.wait()
            killed_at = loop.time()
            seen_at_kill = {s: len(of(s, manager.engines[s].seen)) for s in b_symbols}  # type: ignore[attr-defined]
            await eventually(lambda: sorted(fa.symbols) == sorted(UNIVERSE), 10)
            takeover_s = loop.time() - killed_at
            log.info("takeover of a killed node's 3 symbols took %.2fs (ttl %.1fs)", takeover_s, TTL)
            # Engines get B's symbols again, now from A.
            await eventually(
                lambda: all(len(of(s, manager.engines[s].seen)) > seen_at_kill[s] + 5 for s in b_symbols)  # type: ignore[attr-defined]
            )
            assert set((await sources(check)).values()) == {"A"}
        assert_stopped_engines_accounting(manager)
        # A waited for B's leases to expire (no overlap) and took over well within 10 s.
        assert TTL * 2 / 3 - 0.2 < takeover_s < 10, f"takeover took {takeover_s:.2f}s"
        assert a.leases.owned == sorted(UNIVERSE) and a.leases.live_nodes == 1
        assert a.leases.counts["lost"] == a.leases.counts["expired"] == 0
        await a.close()
        await run_a
    finally:
        if node_b.returncode is None:
            node_b.kill()
            await node_b.wait()


async def test_a_node_restarted_under_the_same_id_adopts_its_unexpired_leases(
    nats_server: NatsServer, bus_client: Callable[..., BusClient]
) -> None:
    symbols = UNIVERSE[:2]
    ttl = 9.0  # the crashed node claims at its second tick (3 s); its leases outlive the restart
    crashed = await start_node_process(nats_server, "A", ttl, symbols)
    check = bus_client("check")
    await check.connect()
    try:

        async def leased() -> bool:
            return len(await lease_keys(check)) == 3  # node.A + 2 symbols

        await until(leased, 20)
    finally:
        crashed.kill()
        await crashed.wait()
    feeder = FakeFeeder()
    node = FeederNode(bus_client("again"), feeder, "A", symbols, lease_ttl=ttl)
    run = asyncio.create_task(node.run())
    await eventually(lambda: sorted(feeder.symbols) == sorted(symbols), 2)  # at its first tick
    assert (node.leases.counts["adopted"], node.leases.counts["claimed"]) == (2, 0)
    await node.close()
    await run
    assert await lease_keys(check) == []  # a clean close leaves no key behind


async def lease_keys(client: BusClient) -> list[str]:
    try:
        info = await client.js.stream_info(f"KV_{LEASE_BUCKET}", subjects_filter=">")
    except NotFoundError:  # no node has created the bucket yet
        return []
    return sorted(info.state.subjects or {})
