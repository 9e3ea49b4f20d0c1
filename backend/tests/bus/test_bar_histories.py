"""Bar histories over a real nats-server at scale: a feeder node never drops one, md keep
flowing while they wait, and an engine host reads them in batches (one request per batch, not
per bar), falling back to one bar a request on a server without batch direct get."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from backend.src.bus.batch_get import next_batch
from backend.src.bus.codec import bar_headers, encode_bar, encode_md, md_headers
from backend.src.bus.connection import BusClient
from backend.src.bus.publisher import BusPublisher
from backend.src.bus.subjects import BAR_STREAM, bar_subject
from backend.src.bus.subscriber import BAR_BATCH, BusSubscriber
from backend.src.errors import BatchUnsupportedError
from backend.src.market_data import MINUTE_MS, Bar, make_bar
from backend.tests.bus.conftest import TcpProxy
from backend.tests.bus.fakes import FakeFeeder
from backend.tests.bus.test_md_bus import eventually

CLOSED = 1_767_225_600_000  # a minute long over
SYMBOLS = [f"S{i}/USDT" for i in range(6)]


def history(symbol: str, n: int, close: float = 100.0) -> list[Bar]:
    """``n`` closed bars of ``symbol`` up to ``CLOSED``, oldest first."""
    first = CLOSED - (n - 1) * MINUTE_MS
    rows = [[first + i * MINUTE_MS, close, close + 1.0, close - 1.0, close + 0.5, 1.0 + i] for i in range(n)]
    return [make_bar(symbol, row, False) for row in rows]


async def published_order(client: BusClient, publisher: BusPublisher, expect: int) -> list[tuple[str, str]]:
    """Everything ``publisher`` sends once started, as ``(kind, symbol subject)`` in wire order."""
    seen: list[tuple[str, str]] = []

    async def handle(msg: Any) -> None:
        seen.append((msg.subject.split(".", 1)[0], msg.subject))

    await client.connect()
    await client.nc.subscribe("md.>", cb=handle)
    await client.nc.subscribe("bars.>", cb=handle)
    await client.nc.flush()
    await publisher.start()
    await eventually(lambda: len(seen) >= expect, 20)
    return seen


@pytest.mark.asyncio
async def test_histories_beyond_the_bar_outbox_are_all_published_and_md_take_turns(
    bus_client: Callable[..., BusClient],
) -> None:
    """Six histories of 300 bars (1,800 bars) with room for 50 closed bars: every history bar
    reaches the stream, a history given again before it went out replaces the older one, and
    the md queued meanwhile go out between histories, not after all of them."""
    publisher = BusPublisher(bus_client("feeder"), source="feed-a", bar_outbox_size=50)
    for symbol in SYMBOLS:
        publisher.on_history(symbol, history(symbol, 300, close=90.0))
    publisher.on_history(SYMBOLS[0], history(SYMBOLS[0], 300))  # bootstrapped again: replaces
    fake = FakeFeeder()
    for _ in range(5):
        publisher.on_md(fake.make_md("BTC/USDT"))
    assert publisher.stats()["histories_queued"] == 6 and publisher.stats()["bars_queued"] == 1800
    seen = await published_order(bus_client("watch"), publisher, 1805)
    stats = publisher.stats()
    assert (stats["bars_published"], stats["bars_dropped_outbox_full"]) == (1800, 0)
    assert stats["histories_replaced"] == 1
    assert (stats["published"], stats["bars_queued"], stats["histories_queued"]) == (5, 0, 0)
    # in the order they came (the replaced one in its old place), each whole, the md after the first
    subjects = [subject for kind, subject in seen if kind == "bars"]
    assert subjects == [bar_subject(s) for s in SYMBOLS for _ in range(300)]
    first_md = next(i for i, (kind, _) in enumerate(seen) if kind == "md")
    assert first_md == 300
    # the replacing history is the one on the bus
    last = await publisher.client.js.get_last_msg(BAR_STREAM, bar_subject(SYMBOLS[0]))
    assert b"100.5" in last.data
    await publisher.close()


@pytest.mark.asyncio
async def test_a_closed_bar_goes_out_after_its_symbols_waiting_history(
    bus_client: Callable[..., BusClient],
) -> None:
    """A closed bar is published before waiting histories, but never before its own symbol's:
    the history decides what of it the stream lacks from the stream's last bar, which must not
    be a newer live one. md waiting go out after each bar or history: closed bars arriving
    all the time (one a minute per symbol) must not hold them back behind every history."""
    publisher = BusPublisher(bus_client("feeder"), source="feed-a")
    for symbol in SYMBOLS[:3]:
        publisher.on_history(symbol, history(symbol, 40))
    for symbol in (SYMBOLS[2], SYMBOLS[1]):
        publisher.on_bar(make_bar(symbol, [CLOSED + MINUTE_MS, 100.0, 101.0, 99.0, 100.5, 3.0], False))
    fake = FakeFeeder()
    for _ in range(3):
        publisher.on_md(fake.make_md("BTC/USDT"))
    seen = await published_order(bus_client("watch"), publisher, 125)
    subjects = [subject if kind == "bars" else kind for kind, subject in seen]
    assert subjects == (
        [bar_subject(SYMBOLS[2])] * 41  # S2's history, then its closed bar
        + ["md"] * 3
        + [bar_subject(SYMBOLS[1])] * 41
        + [bar_subject(SYMBOLS[0])] * 40
    )
    assert publisher.stats()["bars_published"] == 122
    await publisher.close()


class Histories:
    """A bar listener that keeps what it is told."""

    def __init__(self) -> None:
        self.histories: dict[str, list[Bar]] = {}
        self.bars: list[Bar] = []

    def on_history(self, symbol: str, bars: Any) -> None:
        self.histories.setdefault(symbol, []).extend(bars)

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)


@pytest.mark.asyncio
@pytest.mark.parametrize("batches", [True, False], ids=["batch direct get", "one bar a request"])
async def test_an_engine_host_reads_whole_histories_in_batches(
    bus_client: Callable[..., BusClient], batches: bool
) -> None:
    """1,900 bars of one symbol and 10 of another: every bar in order, in
    ``ceil(1900 / BAR_BATCH)`` requests for the first (one per bar without batches)."""
    publisher = BusPublisher(bus_client("feeder"), source="feed-a")
    await publisher.start()
    long, short = history(SYMBOLS[0], 1900), history(SYMBOLS[1], 10)
    publisher.on_history(SYMBOLS[0], long)
    publisher.on_history(SYMBOLS[1], short)
    await eventually(lambda: publisher.bars_published == 1910, 20)
    subscriber = BusSubscriber(bus_client("engines"), SYMBOLS[:2])
    subscriber._bar_batches = batches  # what an old server makes the subscriber learn
    listener = Histories()
    subscriber.listen_bars(listener)
    run = asyncio.create_task(subscriber.run(lambda md: None))
    await asyncio.wait_for(subscriber.ready.wait(), 60)
    assert listener.histories == {SYMBOLS[0]: long, SYMBOLS[1]: short}
    requests = subscriber.stats()["bars"]["requests"]
    if batches:
        assert requests == -(-1900 // BAR_BATCH) + 1  # S0's batches, S1's one
    else:
        assert requests == 1910 + 2  # one per bar, and one that finds no more per symbol
    assert subscriber.bar_counts["fetched"] == 1910 and not subscriber.bar_rejected
    await subscriber.close()
    await run
    await publisher.close()


@pytest.mark.asyncio
async def test_a_server_without_batches_is_detected_and_read_one_message_a_request(
    bus_client: Callable[..., BusClient],
) -> None:
    """A server before 2.11 answers a batch request like a single direct get: one message,
    no ``Nats-Num-Pending``. Here a responder on the direct get subject answers so."""
    client = bus_client("old-server")
    await client.connect()

    async def old_server(msg: Any) -> None:
        headers = {"Nats-Stream": "OLD", "Nats-Sequence": "7", "Nats-Subject": "bars.x"}
        await client.nc.publish(msg.reply, b"{}", headers=headers)

    await client.nc.subscribe("$JS.API.DIRECT.GET.OLD", cb=old_server)
    await client.nc.flush()
    asker = bus_client("asker")
    await asker.connect()
    with pytest.raises(BatchUnsupportedError, match="no batch direct get"):
        await next_batch(asker.nc, "OLD", "bars.x", 1, 10, 2.0)


def accept(subscriber: BusSubscriber, bar: Bar, seq: int, *, live: bool) -> bool:
    """Whether ``subscriber`` delivers ``bar`` as the ``seq``-th of source ``feed-a/1``."""
    payload, headers = encode_bar(bar), bar_headers("feed-a/1", seq, history=False)
    return subscriber._accept(subscriber._bars, bar["symbol"], payload, headers, live=live) is not None


def test_bars_lost_live_are_delivered_when_the_stream_read_finds_them() -> None:
    """Bars 6-9 were lost while disconnected and bar 10 arrived live first; the stream read
    after the reconnect delivers 6-9 (not as known duplicates: the gap is remembered) and drops
    what had arrived live. A bar whose minute was revised live meanwhile is superseded. md do
    not do this: a lost md is stale by the time it is found."""
    subscriber = BusSubscriber("nats://127.0.0.1:1", [SYMBOLS[0]])
    bars = history(SYMBOLS[0], 12)
    assert all(accept(subscriber, bars[i], i + 1, live=True) for i in range(5))
    assert accept(subscriber, bars[9], 10, live=True)  # 6..9 lost
    revision = bars[7] | {"close": 100.25, "revision": True}
    assert accept(subscriber, revision, 11, live=True)  # a backfill revised minute 8 meanwhile
    assert subscriber.bar_counts["skipped"] == 4
    read = [accept(subscriber, bars[i], i + 1, live=False) for i in range(10)] + [
        accept(subscriber, revision, 11, live=False)
    ]
    assert read == [False] * 5 + [True, True, False, True] + [False, False]
    assert (subscriber.bar_counts["recovered"], subscriber.bar_counts["fetched_known"]) == (3, 8)
    assert not accept(subscriber, bars[6], 7, live=False)  # recovered once only
    assert accept(subscriber, bars[11], 12, live=True)

    # A host whose first bar of a session arrives live as its 5th (the history before it lost
    # to a slow-consumer cut, or sent before the host subscribed): the stream read delivers 1-4.
    late = BusSubscriber("nats://127.0.0.1:1", [SYMBOLS[0]])
    assert accept(late, bars[4], 5, live=True)
    assert [accept(late, bars[i], i + 1, live=False) for i in range(6)] == [True] * 4 + [False, True]
    counts = late.bar_counts
    assert (counts["recovered"], counts["skipped"], counts["fetched_known"]) == (4, 0, 1)

    md = BusSubscriber("nats://127.0.0.1:1", ["BTC/USDT"])
    fake = FakeFeeder()
    mds = [fake.make_md("BTC/USDT") for _ in range(3)]
    flow = md._md
    for seq in (1, 3):
        assert md._accept(flow, "BTC/USDT", encode_md(mds[seq - 1]), md_headers("feed-a/1", seq), live=True)
    assert md._accept(flow, "BTC/USDT", encode_md(mds[1]), md_headers("feed-a/1", 2), live=False) is None
    assert (md.counts["skipped"], md.counts["recovered"], md.counts["fetched_known"]) == (1, 0, 1)


@pytest.mark.asyncio
async def test_an_engine_host_cut_off_while_histories_pour_in_ends_with_every_history_whole(
    bus_client: Callable[..., BusClient], proxy: TcpProxy
) -> None:
    """Three feeders publish 40 histories while the engine host (started first, as at a
    universe's start) is cut off again and again, as NATS does to a slow consumer: the bars
    lost live are read from the stream after each reconnect — ahead of newer live ones too
    (``recovered``) — until every engine-side history is whole."""
    symbols = [f"T{i}/USDT" for i in range(40)]
    engines_client = BusClient(proxy.url, name="engines", reconnect_wait=0.1, request_timeout=1.0)
    subscriber = BusSubscriber(engines_client, symbols)
    listener = Histories()
    subscriber.listen_bars(listener)
    run = asyncio.create_task(subscriber.run(lambda md: None))
    publishers = [BusPublisher(bus_client(f"feeder{i}"), source=f"feed-{i}") for i in range(3)]
    for publisher in publishers:
        await publisher.start()
    for i, symbol in enumerate(symbols):
        publishers[i % 3].on_history(symbol, history(symbol, 1500))
    for _ in range(4):
        await asyncio.sleep(0.2)
        proxy.cut()

    def whole() -> bool:
        return all(len({bar["ts"] for bar in listener.histories.get(s, [])}) == 1500 for s in symbols)

    await eventually(whole, 60)
    assert engines_client.reconnects >= 1
    assert subscriber.bar_counts["fetched"] > 0 and not subscriber.bar_rejected
    await subscriber.close()
    await run
    for publisher in publishers:
        await publisher.close()
