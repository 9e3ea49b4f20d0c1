"""Outages on a real nats-server: an engine host's connection is cut; the server restarts."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from nats.js.api import KeyValueConfig

from backend.src.bus.connection import BusClient
from backend.src.bus.lease_bucket import LEASE_BUCKET
from backend.src.bus.node import FeederNode
from backend.src.bus.subjects import MD_STREAM
from backend.src.bus.subscriber import BusSubscriber
from backend.src.engine.manager import EngineManager
from backend.src.errors import BusError
from backend.tests.bus.conftest import NatsServer, TcpProxy
from backend.tests.bus.fakes import FakeFeeder
from backend.tests.bus.test_feeder_nodes import lease_keys
from backend.tests.bus.test_md_bus import assert_stopped_engines_accounting, eventually, of, until
from backend.tests.helpers import Recorder

pytestmark = pytest.mark.asyncio

SYMBOLS = ["BTC/USDT", "ETH/USDT"]


@asynccontextmanager
async def feeding(client: BusClient, ttl: float) -> AsyncIterator[tuple[FeederNode, FakeFeeder]]:
    """A single feeder node publishing SYMBOLS until the block ends."""
    feeder = FakeFeeder()
    node = FeederNode(client, feeder, "A", SYMBOLS, lease_ttl=ttl)
    run = asyncio.create_task(node.run())
    await eventually(lambda: sorted(feeder.symbols) == SYMBOLS)
    try:
        yield node, feeder
    finally:
        await node.close()
        await run


def seen(manager: EngineManager, symbol: str) -> list[dict[str, Any]]:
    return of(symbol, manager.engines[symbol].seen)  # type: ignore[attr-defined]


def assert_exact_delivery(manager: EngineManager, feeder: FakeFeeder, subscriber: BusSubscriber) -> None:
    """Per symbol the (stopped) engine got the feeder's md in order, each at most once; every md
    of the span it missed is counted as skipped, and the engines' own accounting holds."""
    missed = 0
    for symbol in SYMBOLS:
        got, emitted = seen(manager, symbol), of(symbol, feeder.emitted)
        positions = [emitted.index(md) for md in got]  # ValueError if an md was altered
        assert positions == sorted(set(positions)), "md out of order or duplicated"
        missed += positions[-1] - positions[0] + 1 - len(got)
    assert_stopped_engines_accounting(manager)
    assert subscriber.counts["skipped"] == missed
    assert subscriber.counts["decode_errors"] == subscriber.counts["callback_errors"] == 0


async def test_engines_keep_receiving_after_their_connection_is_cut(
    bus_client: Callable[..., BusClient], proxy: TcpProxy
) -> None:
    engines_client = BusClient(proxy.url, name="engines", reconnect_wait=0.1, request_timeout=1.0)
    subscriber = BusSubscriber(engines_client, SYMBOLS)
    manager = EngineManager(SYMBOLS, feeder=subscriber, engine_factory=Recorder, queue_size=10_000)
    async with feeding(bus_client("node"), ttl=1.5) as (_, feeder), manager:
        await eventually(lambda: all(len(seen(manager, s)) >= 20 for s in SYMBOLS))
        before = {s: len(seen(manager, s)) for s in SYMBOLS}
        fetched = subscriber.counts["fetched"]
        proxy.cut()
        await eventually(lambda: engines_client.reconnects >= 1)
        await eventually(
            lambda: subscriber.counts["fetched"] == fetched + len(SYMBOLS)
        )  # last values re-read
        await eventually(lambda: all(len(seen(manager, s)) >= before[s] + 20 for s in SYMBOLS))
        assert engines_client.disconnects == 1
    assert_exact_delivery(manager, feeder, subscriber)
    await engines_client.close()


async def test_feeder_and_engines_survive_a_nats_server_restart(
    nats_server: NatsServer, bus_client: Callable[..., BusClient]
) -> None:
    subscriber = BusSubscriber(bus_client("engines"), SYMBOLS)
    manager = EngineManager(SYMBOLS, feeder=subscriber, engine_factory=Recorder, queue_size=10_000)
    async with feeding(bus_client("node"), ttl=3.0) as (node, feeder), manager:
        await eventually(lambda: all(len(seen(manager, s)) >= 20 for s in SYMBOLS))
        last_ts = max(md["ts"] for s in SYMBOLS for md in seen(manager, s))
        await nats_server.restart()
        await eventually(lambda: all(seen(manager, s)[-1]["ts"] > last_ts + 100 for s in SYMBOLS), 10)
        # The node kept its leases and its feeder never stopped a symbol.
        assert node.leases.owned == SYMBOLS and feeder.removed == []
        assert node.publisher.client.reconnects >= 1 and subscriber.client.reconnects >= 1
    assert_exact_delivery(manager, feeder, subscriber)
    stats = node.publisher.stats()
    assert stats["dropped_outbox_full"] == stats["encode_errors"] == 0


async def test_nodes_and_engines_wait_for_nats_and_stop_cleanly_without_it(
    nats_server: NatsServer, bus_client: Callable[..., BusClient]
) -> None:
    await nats_server.stop()
    loop = asyncio.get_running_loop()
    # Stopped while the server is still away: both return promptly, nothing left running.
    node = FeederNode(bus_client("never"), FakeFeeder(), "A", SYMBOLS, lease_ttl=1.5)
    run = asyncio.create_task(node.run())
    manager = EngineManager(SYMBOLS, feeder=BusSubscriber(nats_server.url, SYMBOLS), stop_timeout=2.0)
    await manager.start()
    await asyncio.sleep(0.3)
    started = loop.time()
    await asyncio.gather(node.close(), manager.stop())
    await run
    assert loop.time() - started < 1.0
    assert manager.stats()["feeder"]["state"] == "stopped"
    # Started before the server: it connects and takes its symbols once the server is up.
    feeder = FakeFeeder()
    late = FeederNode(bus_client("late"), feeder, "B", SYMBOLS, lease_ttl=1.5)
    run = asyncio.create_task(late.run())
    await asyncio.sleep(0.3)
    assert feeder.symbols == []
    await nats_server.start()
    await eventually(lambda: sorted(feeder.symbols) == SYMBOLS)
    await late.close()
    await run


async def test_a_server_restarted_with_an_empty_store_is_set_up_again(
    nats_server: NatsServer, bus_client: Callable[..., BusClient]
) -> None:
    """kill -9 and a new, empty store: the feeder re-creates the md stream and the lease bucket,
    keeps its symbols, and the engines get new md again."""
    subscriber = BusSubscriber(bus_client("engines"), SYMBOLS)
    manager = EngineManager(SYMBOLS, feeder=subscriber, engine_factory=Recorder, queue_size=10_000)
    check = bus_client("check")
    async with feeding(bus_client("node"), ttl=1.5) as (node, feeder), manager:
        await eventually(lambda: all(len(seen(manager, s)) >= 20 for s in SYMBOLS))
        last_ts = max(md["ts"] for s in SYMBOLS for md in seen(manager, s))
        await nats_server.kill()
        shutil.rmtree(nats_server.store / "jetstream")
        await nats_server.start()
        await eventually(lambda: all(seen(manager, s)[-1]["ts"] > last_ts + 100 for s in SYMBOLS), 10)
        await check.connect()
        await until(lambda: lease_keys_are(check, {"node.A", "sym.BTC_USDT", "sym.ETH_USDT"}), 10)
        assert (await check.js.stream_info(MD_STREAM)).state.messages == len(SYMBOLS)
        assert node.leases.owned == SYMBOLS and feeder.removed == []


async def lease_keys_are(client: BusClient, keys: set[str]) -> bool:
    return {k.removeprefix(f"$KV.{LEASE_BUCKET}.") for k in await lease_keys(client)} == keys


async def test_a_lease_bucket_without_ttl_is_a_clear_error(bus_client: Callable[..., BusClient]) -> None:
    maker = bus_client("maker")
    await maker.connect()
    await maker.js.create_key_value(KeyValueConfig(bucket=LEASE_BUCKET, history=1))
    node = FeederNode(bus_client("node"), FakeFeeder(), "A", SYMBOLS, lease_ttl=1.5)
    with pytest.raises(BusError, match=f"lease bucket {LEASE_BUCKET} has no TTL"):
        await asyncio.wait_for(node.run(), 5)
