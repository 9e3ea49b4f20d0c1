"""The bar store: round trip, revisions, ranges, one writer per directory, kill -9 safety."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from backend.src.data.bar_store import DB_NAME, BarStore, load_bars
from backend.src.data.bar_writer import BarWriter
from backend.src.errors import StoreLockedError, StoreVersionError

T0 = 1_767_225_600_000
MIN = 60_000


def rows(n: int, start: int = T0, synthetic_every: int = 0) -> list[tuple]:
    out = []
    for i in range(n):
        price = 100.0 + i * 0.5
        syn = bool(synthetic_every) and i % synthetic_every == 0
        out.append((start + i * MIN, price, price + 1, price - 1, price + 0.25, 0.0 if syn else 1.5, syn))
    return out


def queue(writer: BarWriter, n: int, start: int = T0) -> None:
    """Put ``n`` BTC bars, a minute apart from ``start``, in ``writer``'s queue."""
    for row in rows(n, start=start):
        writer.put("BTC/USDT", row)


def test_round_trip_keeps_values_order_and_the_synthetic_flag(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    written = rows(2000, synthetic_every=7)
    store.write("BTC/USDT", reversed(written))  # order of writing does not matter
    store.write("ETH/USDT", rows(3))
    assert store.last("BTC/USDT", 1500) == [tuple(r) for r in written[-1500:]]
    bars = load_bars(tmp_path, "BTC/USDT")
    assert len(bars) == 2000  # history beyond 1500 accumulates
    assert bars[7] == {
        "symbol": "BTC/USDT",
        "ts": T0 + 7 * MIN,
        "open": 103.5,
        "high": 104.5,
        "low": 102.5,
        "close": 103.75,
        "volume": 0.0,
        "synthetic": True,
        "revision": False,
    }
    store.close()


def test_a_revision_replaces_the_minute_it_names(tmp_path: Path) -> None:
    with_store = BarStore(tmp_path)
    with_store.write("BTC/USDT", rows(5, synthetic_every=1))  # all forward-filled
    exchange_bar = (T0 + 2 * MIN, 200.0, 210.0, 190.0, 205.0, 3.0, False)
    with_store.write("BTC/USDT", [exchange_bar])
    got = with_store.last("BTC/USDT", 10)
    assert len(got) == 5 and got[2] == exchange_bar
    with_store.close()


def test_load_bars_reads_a_range_and_nothing_from_a_missing_store(tmp_path: Path) -> None:
    assert load_bars(tmp_path / "nowhere", "BTC/USDT") == []
    store = BarStore(tmp_path)
    store.write("BTC/USDT", rows(10))
    # readable while the writer holds the directory
    assert [b["ts"] for b in load_bars(tmp_path, "BTC/USDT", T0 + 2 * MIN, T0 + 4 * MIN)] == [
        T0 + 2 * MIN,
        T0 + 3 * MIN,
        T0 + 4 * MIN,
    ]
    assert len(load_bars(tmp_path, "BTC/USDT", start=T0 + 8 * MIN)) == 2
    store.close()


def test_standard_tools_read_it(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    store.write("BTC/USDT", rows(3))
    store.close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("select count(*), min(ts) from bars where symbol='BTC/USDT'").fetchone() == (3, T0)


def test_a_second_writer_on_the_same_directory_fails_clearly(tmp_path: Path) -> None:
    first = BarStore(tmp_path)
    with pytest.raises(StoreLockedError, match="in use by another process"):
        BarStore(tmp_path)
    first.close()
    BarStore(tmp_path).close()  # free again once the first is closed


def test_a_store_of_another_format_version_is_refused(tmp_path: Path) -> None:
    BarStore(tmp_path).close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("update meta set value='99' where key='version'")
    db.commit()
    db.close()
    for _ in range(2):  # the refusal released the lock: the same error again, not "in use"
        with pytest.raises(StoreVersionError, match="format 99"):
            BarStore(tmp_path)


WRITER = textwrap.dedent(
    """
    import sys
    from backend.src.data.bar_store import BarStore
    store = BarStore(sys.argv[1])
    t, i = 1_767_225_600_000, 0
    while True:
        bar = (t + i * 60_000, 1.0, 2.0, 0.5, 1.5, 3.0, False)
        store.write_many([("S%d/USDT" % k, bar) for k in range(50)])
        i += 1
        if i == 20:
            print("writing", flush=True)
    """
)


def test_kill_9_while_writing_never_corrupts_the_store(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    store = BarStore(tmp_path)  # the killed writer's lock died with it
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("pragma integrity_check").fetchone() == ("ok",)
    counts = {n for (n,) in db.execute("select count(*) from bars group by symbol")}
    assert len(counts) == 1 and counts.pop() >= 20  # whole transactions only: every symbol alike
    store.close()


@pytest.mark.asyncio
async def test_the_writer_batches_off_the_loop_and_is_bounded(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    writer = BarWriter(store, max_pending=5)
    queue(writer, 3)
    assert load_bars(tmp_path, "BTC/USDT") == []  # nothing written on the caller's thread
    assert await writer.flush() == 3 and len(load_bars(tmp_path, "BTC/USDT")) == 3
    queue(writer, 8, start=T0 + 10 * MIN)
    assert writer.dropped == 3  # bounded: a stalled disk never grows memory without limit
    assert await writer.flush() == 5 and writer.written == 8
    store.close()


@pytest.mark.asyncio
async def test_a_flush_cancelled_mid_write_is_finished_before_the_next_one(tmp_path: Path) -> None:
    """A feeder that stops while its writer's thread writes cannot stop that thread: the last
    flush waits for it, so every bar is stored before the store is closed."""
    store = BarStore(tmp_path)
    writer = BarWriter(store)
    queue(writer, 20_000)
    flushing = asyncio.create_task(writer.flush())
    await asyncio.sleep(0)  # its thread writes now
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    queue(writer, 5, start=T0 + 20_000 * MIN)
    assert await writer.flush() == 20_005
    store.close()
    assert writer.written == 20_005 and len(load_bars(tmp_path, "BTC/USDT")) == 20_005


@pytest.mark.asyncio
async def test_a_burst_of_histories_is_written_as_it_comes_not_dropped(tmp_path: Path) -> None:
    """Many symbols' histories at once (a cold start against a fast exchange) must not overflow
    the queue: a quarter full, the writer asks to be flushed now (the feed's sweep wakes for
    it), and a history that would not fit waits for room instead of being dropped."""
    store = BarStore(tmp_path)
    writer = BarWriter(store, max_pending=12)
    queue(writer, 2)
    assert not writer.behind.is_set()
    queue(writer, 6, start=T0 + 2 * MIN)
    assert writer.behind.is_set()
    waiting = asyncio.create_task(writer.room(5))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # 8 + 5 > 12: it waits for a flush
    assert await writer.flush() == 8 and not writer.behind.is_set()
    await asyncio.wait_for(waiting, 1.0)
    assert writer.dropped == 0
    store.close()
