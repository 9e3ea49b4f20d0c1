"""Contract websocket refusals (``rs.error``) through real ccxt.pro code on a loopback socket.

MEXC answers a ``sub.ticker`` for a contract it does not list with the recorded
``{"channel":"rs.error","data":"Contract [NOPE_USDT] not exists",...}``; ccxt ignores it, so
without ``MexcWsClient`` the ``watch_ticker`` would wait until the adapter's 15 s watchdog.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.adapters.mexc_ws_client import MexcWsClient
from backend.src.adapters.transient import is_transient
from backend.src.backoff import Backoff
from backend.src.errors import SubscriptionRejected
from backend.src.sim.server import sim_urls

from ..helpers import wait_until
from ..recorded_real import RecordedMexc, ccxt_markets, frame_text, payload

NOPE_REFUSAL = frame_text("contract_ws_error_unknown_contract")
NOPE_TEXT = payload("contract_ws_error_unknown_contract")["data"]
INTERVAL_TEXT = payload("contract_ws_error_kline_interval")["data"]
QUIET: dict[str, Any] = {"verify": False, "timeout_on_exit": 0, "enableRateLimit": False}


def markets_with_nope() -> list[dict[str, Any]]:
    """The recorded markets plus NOPE/USDT:USDT, which ccxt knows and MEXC refuses."""
    markets = ccxt_markets()
    nope = {**markets["BTC/USDT:USDT"], "id": "NOPE_USDT", "symbol": "NOPE/USDT:USDT", "base": "NOPE"}
    return [*markets.values(), {**nope, "baseId": "NOPE"}]


@pytest_asyncio.fixture
async def server() -> AsyncIterator[RecordedMexc]:
    async with RecordedMexc(refuse={"NOPE_USDT": NOPE_REFUSAL}) as srv:
        yield srv


@pytest_asyncio.fixture
async def ws(server: RecordedMexc) -> AsyncIterator[MexcWsClient]:
    client = MexcWsClient({**QUIET, "urls": {"api": sim_urls(server.url)}})
    client.set_markets(markets_with_nope())
    yield client
    await client.close()


def sub_tickers(server: RecordedMexc) -> list[str]:
    return [param["symbol"] for method, param in server.subscriptions if method == "sub.ticker"]


@pytest.mark.asyncio
async def test_unknown_contract_is_rejected_promptly_and_resubscribed_on_the_next_watch(
    ws: MexcWsClient, server: RecordedMexc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="backend.src.adapters.mexc_ws_client")
    btc = await asyncio.wait_for(ws.watch_ticker("BTC/USDT:USDT"), 2.0)
    assert btc["info"]["holdVol"] == 95479623
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(SubscriptionRejected, match=r"Contract \[NOPE_USDT\] not exists") as info:
            await asyncio.wait_for(ws.watch_ticker("NOPE/USDT:USDT"), 2.0)
        assert time.monotonic() - started < 1.0
        assert is_transient(info.value)  # the adapter's supervisor retries it with backoff
    assert sub_tickers(server) == ["BTC_USDT", "NOPE_USDT", "NOPE_USDT"]  # forgotten, so re-sent
    assert ws.rejections == {NOPE_TEXT: 2}
    url = ws.urls["api"]["ws"]["swap"]
    assert "ticker:BTC/USDT:USDT" in ws.clients[url].subscriptions  # the healthy stream untouched
    assert "ticker:NOPE/USDT:USDT" not in ws.clients[url].subscriptions
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and NOPE_TEXT in r.getMessage()]
    assert len(warnings) == 1  # once per cause, not once per refusal


@pytest.mark.asyncio
async def test_a_refusal_rejects_only_the_contract_it_names(ws: MexcWsClient, server: RecordedMexc) -> None:
    nope = asyncio.ensure_future(ws.watch_ticker("NOPE/USDT:USDT"))
    sol = asyncio.ensure_future(ws.watch_ticker("SOL/USDT:USDT"))
    done, _ = await asyncio.wait({nope, sol}, timeout=2.0)
    assert done == {nope, sol}
    assert isinstance(nope.exception(), SubscriptionRejected)
    assert sol.result()["symbol"] == "SOL/USDT:USDT"


@pytest.mark.asyncio
async def test_not_support_interval_rejects_the_pending_kline_watch_only(
    ws: MexcWsClient, server: RecordedMexc
) -> None:
    btc = await asyncio.wait_for(ws.watch_ticker("BTC/USDT:USDT"), 2.0)
    pending_ticker = asyncio.ensure_future(ws.watch_ticker("BTC/USDT:USDT"))  # waits for the next push
    with pytest.raises(SubscriptionRejected, match=INTERVAL_TEXT):
        await asyncio.wait_for(ws.watch_ohlcv("BTC/USDT:USDT", "1h"), 2.0)
    assert ("sub.kline", {"symbol": "BTC_USDT", "interval": "Min60"}) in server.subscriptions
    await asyncio.sleep(0.05)
    assert not pending_ticker.done() and btc["symbol"] == "BTC/USDT:USDT"
    pending_ticker.cancel()
    assert ws.rejections == {INTERVAL_TEXT: 1}


@pytest.mark.asyncio
async def test_the_adapters_swap_stream_retries_a_refused_subscription() -> None:
    """The adapter's supervisor counts the refusal and subscribes again, with backoff, instead
    of waiting for its 15 s watchdog. MEXC's text for a contract it does not list names the
    contract; here the recorded text, with the recorded BTC_USDT in place of NOPE_USDT."""
    refusal = json.loads(NOPE_REFUSAL)
    refusal["data"] = refusal["data"].replace("NOPE_USDT", "BTC_USDT")
    async with RecordedMexc(refuse={"BTC_USDT": json.dumps(refusal)}) as srv:
        adapter = MexcAdapter(
            ["BTC/USDT"],
            rate_limit=False,
            urls=sim_urls(srv.url),
            backoff_factory=lambda: Backoff(base=0.05, cap=0.1, rng=random.Random(1)),
        )
        records: list[dict] = []

        async def consume() -> None:
            async for record in adapter.stream_swap_ticker("BTC/USDT"):
                records.append(record)

        task = asyncio.create_task(consume())
        try:
            await wait_until(lambda: sub_tickers(srv).count("BTC_USDT") >= 3, 3.0)
            assert adapter.counters[("BTC/USDT swap", "retry.SubscriptionRejected")] >= 2
            assert adapter.counters[("BTC/USDT swap", "stale")] == 0  # no watchdog involved
            assert not task.done() and not records
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await adapter.close()
