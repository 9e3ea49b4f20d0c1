"""Quiet market or dead stream: the verdict over REST book tickers (pure) and the shared snapshot."""

from __future__ import annotations

import asyncio

import pytest

from backend.src.adapters.mexc_quiet import BookSnapshots, Verdict, judge_silence

BOOK = {"symbol": "X/USDT", "bid": 1.5, "ask": 1.6, "timestamp": None}


def test_unchanged_book_is_confirmed_with_exchange_time() -> None:
    verdict = judge_silence(BOOK, {"bid": 1.5, "ask": 1.6, "timestamp": 10}, now_ms=99)
    assert verdict == (Verdict.QUIET, {**BOOK, "timestamp": 99})


def test_first_book_of_a_quiet_pair_comes_from_rest() -> None:
    assert judge_silence(BOOK, None, now_ms=5) == (Verdict.QUIET, {**BOOK, "timestamp": 5})


@pytest.mark.parametrize(
    ("book", "last", "verdict"),
    [
        (BOOK, {"bid": 1.5, "ask": 1.7}, Verdict.MOVED),  # the exchange moved on without a push
        (BOOK, {"bid": 1.4, "ask": 1.6}, Verdict.MOVED),
        (None, {"bid": 1.5, "ask": 1.6}, Verdict.ABSENT),  # not listed any more
        ({**BOOK, "ask": None}, None, Verdict.ABSENT),  # one-sided book: not trading
    ],
)
def test_anything_else_is_not_a_confirmation(book, last, verdict) -> None:
    assert judge_silence(book, last, now_ms=1) == (verdict, None)


@pytest.mark.asyncio
async def test_concurrent_askers_share_one_request_per_ttl() -> None:
    now = [0.0]
    calls = 0

    async def fetch() -> dict:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return {"X/USDT": {**BOOK, "bid": float(calls)}}

    snapshots = BookSnapshots(fetch, ttl=2.0, clock=lambda: now[0])
    results = await asyncio.gather(*(snapshots.get() for _ in range(50)))
    assert calls == 1 and all(r["X/USDT"]["bid"] == 1.0 for r in results)
    now[0] = 1.9
    assert (await snapshots.get())["X/USDT"]["bid"] == 1.0
    now[0] = 2.1
    assert (await snapshots.get())["X/USDT"]["bid"] == 2.0 and snapshots.fetches == 2


@pytest.mark.asyncio
async def test_askers_share_a_failure_and_one_askers_timeout_cancels_nothing() -> None:
    calls, release = 0, asyncio.Event()

    async def fetch() -> dict:
        nonlocal calls
        calls += 1
        await release.wait()
        if calls == 1:
            raise ConnectionError("down")
        return {"X/USDT": BOOK}

    snapshots = BookSnapshots(fetch, ttl=2.0, clock=lambda: 0.0)
    with pytest.raises(TimeoutError):  # an impatient asker gives up ...
        async with asyncio.timeout(0.01):
            await snapshots.get()
    waiting = [asyncio.ensure_future(snapshots.get()) for _ in range(20)]
    release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    # ... the fetch went on for the others: one request, its error handed to every asker
    assert calls == 1 and all(isinstance(r, ConnectionError) for r in results)
    assert (await snapshots.get()) == {"X/USDT": BOOK} and calls == 2  # the next asker fetches again
