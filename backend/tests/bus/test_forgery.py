"""Forged md on a real nats-server: the subject decides the symbol, impossible values and
hijacked sequence numbers never reach an engine; every rejection is counted by reason."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from backend.src.bus.codec import CODEC_VERSION, encode_md, md_headers
from backend.src.bus.connection import BusClient
from backend.src.bus.publisher import BusPublisher
from backend.src.bus.subjects import md_subject
from backend.src.bus.subscriber import MAX_SEQ_JUMP, BusSubscriber
from backend.src.validation import MAX_FUTURE_MS, check_md
from backend.tests.bus.fakes import FakeFeeder
from backend.tests.bus.test_md_bus import eventually, of

BTC, ETH = "BTC/USDT", "ETH/USDT"
NOW_MS = 1_800_000_000_000

GOOD = FakeFeeder().make_md(BTC) | {"funding": 0.0001, "oi": 12.5}


def test_check_md_accepts_what_a_feeder_builds() -> None:
    fake = FakeFeeder()
    for _ in range(30):
        assert check_md(fake.make_md(BTC), NOW_MS) is None
    assert check_md(GOOD, NOW_MS) is None
    # Before the first trade or book: absent figures are fine.
    assert check_md(GOOD | {"price": None, "bid": None, "ask": None, "spread": None}, NOW_MS) is None
    assert check_md(GOOD | {"ts": NOW_MS + MAX_FUTURE_MS, "price": 3}, NOW_MS) is None
    assert check_md(GOOD | {"ts": 1, "funding": -0.05}, NOW_MS) is None  # old md are legitimate


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"price": "abc", "bid": -5}, "bad_price"),
        ({"price": 0.0}, "bad_price"),
        ({"price": math.inf}, "bad_price"),
        ({"bid": math.nan}, "bad_price"),
        ({"ask": True}, "bad_price"),
        ({"bid": 101.0, "ask": 100.0}, "crossed_book"),
        ({"bid": 100.0, "ask": 100.0}, "crossed_book"),
        ({"spread": -0.5}, "bad_price"),
        ({"vol": -1.0}, "bad_size"),
        ({"ts": NOW_MS + MAX_FUTURE_MS + 1}, "future_ts"),
        ({"ts": "soon"}, "not_number"),
        ({"funding": 0.06}, "bad_funding"),
        ({"funding": "x"}, "bad_funding"),
        ({"oi": -1.0}, "bad_open_interest"),
        ({"symbol": None}, "bad_md"),
        ({"texts": "not a list"}, "bad_md"),
    ],
)
def test_check_md_rejects_impossible_values(change: dict[str, Any], reason: str) -> None:
    assert check_md(GOOD | change, NOW_MS) == reason


def check_md_cost_ns() -> float:
    """Cost of the value rules per md (the engine host runs them on every md)."""
    mds = [FakeFeeder().make_md(BTC) for _ in range(1000)]
    now = time.time() * 1000
    started = time.perf_counter()
    for _ in range(20):
        for md in mds:
            check_md(md, now)
    return (time.perf_counter() - started) / 20_000 * 1e9


def test_check_md_is_cheap() -> None:
    assert check_md_cost_ns() < 20_000  # measured ≈ 0.3–2 µs; bound loose for a shared CI core


async def subscribed(bus_client: Callable[..., BusClient]) -> tuple[BusSubscriber, list, asyncio.Task]:
    """A feeder's publisher (which makes the stream) and an engine host subscriber on BTC and ETH."""
    publisher = BusPublisher(bus_client("stream-maker"), source="maker")
    await publisher.start()
    subscriber = BusSubscriber(bus_client("engines"), [BTC, ETH])
    got: list[dict[str, Any]] = []
    run = asyncio.create_task(subscriber.run(got.append))
    await asyncio.wait_for(subscriber.ready.wait(), 10)
    await publisher.close()
    return subscriber, got, run


@pytest.mark.asyncio
async def test_forged_and_impossible_md_are_rejected_by_reason(bus_client: Callable[..., BusClient]) -> None:
    subscriber, got, run = await subscribed(bus_client)
    attacker = bus_client("attacker")
    await attacker.connect()
    fake = FakeFeeder()
    real = fake.make_md(ETH)
    now = time.time() * 1000

    async def forge(subject_symbol: str, md: dict[str, Any], seq: int, raw: bytes | None = None) -> None:
        payload = raw if raw is not None else orjson.dumps(md)
        await attacker.nc.publish(md_subject(subject_symbol), payload, headers=md_headers("evil/1", seq))

    await forge(ETH, real | {"symbol": BTC}, 1)  # routed by subject: must not reach BTC's engine
    await forge(BTC, {"symbol": BTC, "price": "abc", "bid": -5}, 2)
    await forge(BTC, fake.make_md(BTC) | {"bid": 2.0, "ask": 1.0}, 3)
    await forge(BTC, fake.make_md(BTC) | {"ts": now + 3_600_000}, 4)
    await forge(BTC, {}, 5, raw=b'{"symbol": "BTC/USDT", "price": NaN}')
    await attacker.nc.publish(
        md_subject(BTC), encode_md(fake.make_md(BTC)), headers={"Levibot-Codec": CODEC_VERSION}
    )
    await attacker.nc.flush()
    await eventually(lambda: sum(subscriber.rejected.values()) + subscriber.counts["decode_errors"] == 6)
    await asyncio.sleep(0.1)
    assert got == []
    assert subscriber.rejected == {
        "symbol_mismatch": 1,
        "bad_price": 1,
        "crossed_book": 1,
        "future_ts": 1,
        "no_sequence": 1,
    }
    assert subscriber.counts["decode_errors"] == 1  # NaN is not JSON
    assert subscriber.stats()["rejected"] == subscriber.rejected
    await subscriber.close()
    await run


@pytest.mark.asyncio
async def test_a_forged_sequence_jump_cannot_hijack_the_real_feed(
    bus_client: Callable[..., BusClient],
) -> None:
    subscriber, got, run = await subscribed(bus_client)
    publisher = BusPublisher(bus_client("feeder"), source="feed-a")
    await publisher.start()
    attacker = bus_client("attacker")
    await attacker.connect()
    fake = FakeFeeder()
    sent = [fake.make_md(BTC) for _ in range(10)]
    for md in sent[:5]:
        publisher.on_md(md)
    await eventually(lambda: len(got) == 5)
    # The attacker copies the real session and claims sequence 10**15 (and 10**15 + 5 later:
    # not a continuation, so not a confirmation either).
    forged = fake.make_md(BTC) | {"price": 1.0, "bid": 0.99, "ask": 1.01, "spread": 0.02}
    for seq in (10**15, 10**15 + MAX_SEQ_JUMP + 5):
        await attacker.nc.publish(
            md_subject(BTC), encode_md(forged), headers=md_headers(publisher.session, seq)
        )
    await attacker.nc.flush()
    await eventually(lambda: subscriber.rejected.get("seq_jump") == 2)
    # A session of its own is new to the subscriber: only the server's permissions can keep it
    # out. It must not reset the real session's state: a replay of a real md stays a duplicate.
    await attacker.nc.publish(md_subject(BTC), encode_md(forged), headers=md_headers("evil/1", 1))
    await attacker.nc.publish(md_subject(BTC), encode_md(sent[2]), headers=md_headers(publisher.session, 3))
    await attacker.nc.flush()
    await eventually(lambda: subscriber.counts["duplicates"] == 1)
    for md in sent[5:]:
        publisher.on_md(md)
    await eventually(lambda: len(got) == 11)
    assert of(BTC, got) == [*sent[:5], forged, *sent[5:]]  # every real md once, in order
    assert (subscriber.counts["skipped"], subscriber.counts["seq_jumps"]) == (0, 0)
    await publisher.close()
    await subscriber.close()
    await run


@pytest.mark.asyncio
async def test_a_large_real_gap_is_accepted_once_confirmed(bus_client: Callable[..., BusClient]) -> None:
    """A real jump (hours of md missed) costs one md: the next md of the jumped-to sequence confirms it."""
    subscriber, got, run = await subscribed(bus_client)
    feeder = bus_client("feeder")
    await feeder.connect()
    fake = FakeFeeder()
    sent = [fake.make_md(BTC) for _ in range(4)]
    for md, seq in zip(sent, (1, 2, 2 + MAX_SEQ_JUMP + 1, 2 + MAX_SEQ_JUMP + 2), strict=True):
        await feeder.nc.publish(md_subject(BTC), encode_md(md), headers=md_headers("feed-a/1", seq))
    await feeder.nc.flush()
    await eventually(lambda: len(got) == 3)
    assert of(BTC, got) == [sent[0], sent[1], sent[3]]
    assert (subscriber.rejected, subscriber.counts["seq_jumps"], subscriber.counts["skipped"]) == (
        {"seq_jump": 1},
        1,
        0,
    )
    await subscriber.close()
    await run
