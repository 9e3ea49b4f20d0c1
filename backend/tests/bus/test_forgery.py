"""Forged md and bars on a real nats-server: the subject decides the symbol, impossible values
and hijacked sequence numbers never reach an engine; every rejection is counted by reason."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from backend.src.bus.codec import (
    BAR_CODEC_VERSION,
    CODEC_VERSION,
    bar_headers,
    encode_bar,
    encode_md,
    md_headers,
)
from backend.src.bus.connection import BusClient
from backend.src.bus.publisher import BusPublisher
from backend.src.bus.subjects import bar_subject, md_subject
from backend.src.bus.subscriber import MAX_SEQ_JUMP, BusSubscriber
from backend.src.engine.manager import EngineManager
from backend.src.market_data import make_bar
from backend.src.validation import MAX_FUTURE_MS, check_bus_bar, check_md
from backend.tests.bus.fakes import FakeFeeder
from backend.tests.bus.test_md_bus import eventually, of
from backend.tests.helpers import BarRecorder

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


CLOSED = 1_767_225_600_000  # a minute long over


def good_bar(symbol: str = BTC, ts: int = CLOSED) -> dict[str, Any]:
    return make_bar(symbol, [ts, 100.0, 101.0, 99.0, 100.5, 2.5], False)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"high": 99.5}, "bad_bar"),  # high below the open
        ({"low": -1.0}, "bad_bar"),
        ({"volume": -2.0}, "bad_bar"),
        ({"close": math.inf}, "bad_bar"),
        ({"open": "100"}, "not_number"),
        ({"ts": CLOSED + 1}, "bad_bar"),  # off the minute grid
        ({"ts": float(CLOSED)}, "bad_bar"),
        ({"synthetic": True}, "bad_bar"),  # "forward-filled", yet it traded
        ({"synthetic": 1}, "bad_bar"),
        ({"revision": None}, "bad_bar"),
        ({"symbol": None}, "bad_bar"),
    ],
)
def test_check_bus_bar_rejects_impossible_bars(change: dict[str, Any], reason: str) -> None:
    assert check_bus_bar(good_bar(), NOW_MS) is None
    assert check_bus_bar(good_bar() | change, NOW_MS) == reason


def test_a_bar_whose_minute_has_not_ended_is_from_the_future() -> None:
    minute = NOW_MS // 60_000 * 60_000
    assert check_bus_bar(good_bar(ts=minute - 60_000), NOW_MS) is None
    assert check_bus_bar(good_bar(ts=minute), NOW_MS + 60_000 - MAX_FUTURE_MS) is None  # clock skew
    assert check_bus_bar(good_bar(ts=minute), NOW_MS) == "future_ts"
    flat = good_bar() | {"open": 100.5, "high": 100.5, "low": 100.5, "volume": 0.0, "synthetic": True}
    assert check_bus_bar(flat, NOW_MS) is None


@pytest.mark.asyncio
async def test_forged_and_impossible_bars_are_rejected_by_reason(
    bus_client: Callable[..., BusClient],
) -> None:
    """An engine host's engines get only possible bars of their own symbol; every forged one
    is counted under its reason and none reaches ``Engine.bars``."""
    publisher = BusPublisher(bus_client("feeder"), source="feed-a")
    await publisher.start()
    publisher.on_history(BTC, [good_bar(ts=CLOSED - 60_000)])
    await eventually(lambda: publisher.bars_published == 1)
    subscriber = BusSubscriber(bus_client("engines"), [BTC, ETH])
    manager = EngineManager([BTC, ETH], feeder=subscriber, engine_factory=BarRecorder)
    async with manager:
        await asyncio.wait_for(subscriber.ready.wait(), 10)
        attacker = bus_client("attacker")
        await attacker.connect()
        now = time.time() * 1000
        forged = [
            (BTC, good_bar(ETH)),  # an ETH bar on BTC's subject: the subject decides
            (ETH, good_bar(BTC)),
            (BTC, good_bar() | {"low": 101.0}),
            (BTC, good_bar(ts=int(now) // 60_000 * 60_000 + 60_000)),  # a minute still to come
            (BTC, good_bar() | {"synthetic": True}),
        ]
        for seq, (symbol, bar) in enumerate(forged, 1):
            await attacker.nc.publish(
                bar_subject(symbol), orjson.dumps(bar), headers=bar_headers("evil/1", seq, history=False)
            )
        await attacker.nc.publish(
            bar_subject(BTC), encode_bar(good_bar()), headers={"Levibot-Codec": BAR_CODEC_VERSION}
        )
        await attacker.nc.publish(
            bar_subject(BTC), b"[1, 2]", headers=bar_headers("evil/1", 9, history=False)
        )
        await attacker.nc.publish(
            bar_subject(BTC), encode_bar(good_bar()), headers=md_headers("evil/1", 10)
        )  # md codec
        await attacker.nc.flush()
        await eventually(
            lambda: sum(subscriber.bar_rejected.values()) + subscriber.bar_counts["decode_errors"] == 8
        )
        publisher.on_bar(good_bar())  # the real feeder's next bar still gets through
        engines: dict[str, Any] = dict(manager.engines)
        await eventually(lambda: len(engines[BTC].got) == 1)
    await publisher.close()
    assert subscriber.bar_rejected == {"symbol_mismatch": 2, "bad_bar": 2, "future_ts": 1, "no_sequence": 1}
    assert subscriber.bar_counts["decode_errors"] == 2
    assert subscriber.stats()["bars"]["rejected"] == subscriber.bar_rejected
    assert engines[BTC].got == [good_bar()] and engines[ETH].got == []
    assert [bar["ts"] for bar in engines[BTC].bars] == [CLOSED - 60_000, CLOSED] and len(
        engines[ETH].bars
    ) == 0
