"""md over a real nats-server: exact round trip, late-joining engines, the EngineManager path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from backend.src.bus.codec import CODEC_HEADER, SEQ_HEADER, SOURCE_HEADER
from backend.src.bus.connection import BusClient
from backend.src.bus.node import FeederNode
from backend.src.bus.publisher import BusPublisher
from backend.src.bus.subjects import MD_STREAM, md_subject
from backend.src.bus.subscriber import BusSubscriber
from backend.src.engine.manager import EngineManager
from backend.tests.bus.fakes import FakeFeeder
from backend.tests.helpers import Recorder, assert_accounting

pytestmark = pytest.mark.asyncio

BTC, ETH = "BTC/USDT", "ETH/USDT"


async def eventually(cond: Callable[[], bool], limit_s: float = 5.0) -> None:
    async with asyncio.timeout(limit_s):
        while not cond():  # noqa: ASYNC110 - polling observable state is the point here
            await asyncio.sleep(0.01)


async def until(check: Callable[[], Awaitable[bool]], limit_s: float = 5.0) -> None:
    """``eventually`` for a condition that must ask the server."""
    async with asyncio.timeout(limit_s):
        while not await check():  # noqa: ASYNC110 - polling the server is the point here
            await asyncio.sleep(0.05)


def assert_stopped_engines_accounting(manager: EngineManager) -> None:
    """``received == delivered + dropped + queued``, checked once the engines have stopped: while
    an engine waits on an empty inbox, ``asyncio.wait_for`` (Python 3.11) runs ``Queue.get`` in
    its own task, which takes an md a loop iteration or two before the engine counts it."""
    for engine in manager.engines.values():
        assert not engine.running
        assert_accounting(engine)


def of(symbol: str, mds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in mds if m.get("symbol") == symbol]


async def test_md_round_trip_is_exact_and_in_order(bus_client: Callable[..., BusClient]) -> None:
    publisher = BusPublisher(bus_client("pub"), source="feed-a")
    subscriber = BusSubscriber(bus_client("sub"), [BTC, ETH])
    got: list[dict[str, Any]] = []
    run = asyncio.create_task(subscriber.run(got.append))
    await publisher.start()
    await asyncio.wait_for(subscriber.ready.wait(), 5)
    fake = FakeFeeder()
    sent = [fake.make_md(s) for _ in range(150) for s in (BTC, ETH)]
    for md in sent:
        publisher.on_md(md)
    await eventually(lambda: len(got) == len(sent))
    for symbol in (BTC, ETH):
        assert of(symbol, got) == of(symbol, sent)  # same dicts, same order, nothing lost
    assert any(m["texts"] for m in got) and any(m["funding"] is None for m in got)
    assert publisher.stats() | {"connection": None} == {
        "source": publisher.session,
        "published": 300,
        "dropped_outbox_full": 0,
        "encode_errors": 0,
        "publish_errors": 0,
        "queued": 0,
        "bars_published": 0,
        "bars_dropped_outbox_full": 0,
        "bars_queued": 0,
        "histories_queued": 0,
        "histories_replaced": 0,
        "connection": None,
    }
    stats = subscriber.stats()
    assert (stats["received"], stats["fetched"], stats["decode_errors"]) == (300, 0, 0)
    assert (stats["duplicates"], stats["skipped"]) == (0, 0)
    # On the server: the last md of each symbol, with the versioned headers.
    last = await publisher.client.js.get_last_msg(MD_STREAM, md_subject(ETH), direct=True)
    assert last.headers is not None and last.headers[CODEC_HEADER] == "md/1"
    assert (last.headers[SOURCE_HEADER], last.headers[SEQ_HEADER]) == (publisher.session, "150")
    assert publisher.session.startswith("feed-a/")
    await subscriber.close()
    await run
    await publisher.close()


async def test_a_late_engine_first_gets_the_latest_md_of_each_symbol(
    bus_client: Callable[..., BusClient],
) -> None:
    publisher = BusPublisher(bus_client("pub"), source="feed-a")
    await publisher.start()
    fake = FakeFeeder()
    sent = [fake.make_md(s) for _ in range(5) for s in (BTC, ETH)]
    for md in sent:
        publisher.on_md(md)
    await publisher.close()  # the feeder is gone before the engines start

    manager = EngineManager(
        [BTC, ETH], feeder=BusSubscriber(bus_client("engines"), [BTC, ETH]), engine_factory=Recorder
    )
    async with manager:
        engines = manager.engines
        await eventually(lambda: all(of(s, engines[s].seen) for s in (BTC, ETH)))  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)  # and nothing older follows
        for symbol in (BTC, ETH):
            assert of(symbol, engines[symbol].seen) == [of(symbol, sent)[-1]]  # type: ignore[attr-defined]
    assert_stopped_engines_accounting(manager)


async def test_engines_on_the_bus_get_the_same_md_as_in_process(bus_client: Callable[..., BusClient]) -> None:
    feeder = FakeFeeder(interval=0.01)
    node = FeederNode(bus_client("node"), feeder, "feed-a", [BTC, ETH], lease_ttl=1.5)
    node_run = asyncio.create_task(node.run())
    subscriber = BusSubscriber(bus_client("engines"), [BTC, ETH])
    manager = EngineManager([BTC, ETH], feeder=subscriber, engine_factory=Recorder, queue_size=10_000)
    async with manager:
        engines = manager.engines
        await eventually(lambda: all(len(of(s, engines[s].seen)) >= 50 for s in (BTC, ETH)))  # type: ignore[attr-defined]
        await node.close()
        await node_run
        await eventually(
            lambda: all(of(s, engines[s].seen)[-1:] == of(s, feeder.emitted)[-1:] for s in (BTC, ETH))  # type: ignore[attr-defined]
        )
        for symbol in (BTC, ETH):
            seen = of(symbol, engines[symbol].seen)  # type: ignore[attr-defined]
            emitted = of(symbol, feeder.emitted)
            start = emitted.index(seen[0])  # joined mid-stream: from there on, every md in order
            assert seen == emitted[start:]
            assert engines[symbol].md_stats["received"] == len(seen)
        assert (subscriber.counts["skipped"], subscriber.counts["duplicates"]) == (0, 0)
        assert manager.stats()["unrouted"] == 0
    assert_stopped_engines_accounting(manager)


@pytest.mark.asyncio
async def test_an_engine_host_started_before_any_feeder_waits_without_errors(
    bus_client: Callable[..., BusClient], caplog: pytest.LogCaptureFixture
) -> None:
    """No stream yet is the normal order when engine hosts start first: a warning while it
    waits, no ERROR line (an operator's alerting keys on those), and it is counted."""
    subscriber = BusSubscriber(bus_client("engines"), [BTC], retry_s=0.05)
    with caplog.at_level(logging.WARNING):
        task = asyncio.create_task(subscriber.run(lambda md: None))
        await eventually(lambda: subscriber.counts["setup_errors"] >= 2)
        await subscriber.close()
        await task
    waits = [r for r in caplog.records if "does not exist" in r.getMessage()]
    assert waits and all(r.levelno == logging.WARNING for r in waits)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
