"""MEXC's real websocket control frames (acks, pongs, refusals) through the refusal code.

Acks and pongs must touch no waiting watch; the spot "Not Subscribed successfully! ...
Reason： Blocked!" (full-width colon, two spaces, trailing space) and the contract ``rs.error``
must reject the watches they concern, and only those.
"""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import WSMessage, WSMsgType

from backend.src.adapters.mexc_subscriptions import (
    ContractRefusal,
    contract_refusal,
    rejected_channels,
)
from backend.src.adapters.mexc_ws_client import MexcWsClient
from backend.src.errors import SubscriptionRejected
from backend.src.sim.server import sim_urls

from ..recorded_real import RecordedMexc, ccxt_markets, frame_text, payload

QUIET: dict[str, Any] = {"verify": False, "timeout_on_exit": 0, "enableRateLimit": False}
SPOT_OK = ["spot_ws_sub_ack_aggre_deals", "spot_ws_sub_ack_aggre_bookticker_10ms", "spot_ws_pong"]
CONTRACT_OK = [
    "contract_ws_sub_ack_ticker",
    "contract_ws_sub_ack_depth_full",
    "contract_ws_pong",
    "contract_ws_pong_DOC",
    "contract_ws_sub_ack_deal_DOC",
]
WATCHED = ["ticker:BTC/USDT", "trades:BTC/USDT", "ticker:BTC/USDT:USDT", "ticker:SOL/USDT:USDT"]
DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"


def blocked_text(channel: str) -> str:
    """MEXC's recorded refusal text, verbatim, with ``channel`` in place of the legacy one."""
    text = payload("spot_ws_blocked_ack_json")["msg"]
    return text.replace("spot@public.bookTicker.v3.api@BTCUSDT", channel)


@pytest_asyncio.fixture
async def ws() -> AsyncIterator[MexcWsClient]:
    """A client with the recorded markets, closed after the test (which cancels what waits)."""
    client = MexcWsClient(QUIET)
    client.set_markets(list(ccxt_markets().values()))
    yield client
    await client.close()


def feed(ws: MexcWsClient, url_key: str, text: str) -> dict[str, asyncio.Future]:
    """Every watch in WATCHED pending on the connection, then ``text`` arrives on it."""
    client = ws.client(ws.urls["api"]["ws"][url_key])
    futures = {h: client.future(h) for h in WATCHED}
    client.handle_message(WSMessage(WSMsgType.TEXT, text, None))
    return futures


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("name", "url_key"), [(n, "spot") for n in SPOT_OK] + [(n, "swap") for n in CONTRACT_OK]
)
async def test_acks_and_pongs_leave_every_watch_waiting(ws: MexcWsClient, name: str, url_key: str) -> None:
    message = payload(name)
    assert rejected_channels(message) is None and contract_refusal(message) is None
    futures = feed(ws, url_key, frame_text(name))
    assert not any(f.done() for f in futures.values())
    assert not ws.rejections and not ws.malformed


def test_an_empty_msg_is_no_refusal() -> None:
    """osslabz: a repeated subscription on one connection is answered with ``msg: ""``."""
    assert rejected_channels({"id": 0, "code": 0, "msg": ""}) is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (payload("spot_ws_blocked_ack_json"), (["spot@public.bookTicker.v3.api@BTCUSDT"], "Blocked!")),
        (
            {"id": 0, "code": 0, "msg": payload("spot_ws_blocked_msg_jkorf_issue35")},
            (["spot@public.miniTicker.v3.api@BTCUSDT@UTC+0"], "Blocked!"),
        ),
        (
            ast.literal_eval(payload("spot_ws_blocked_ack_pyrepr_plus_channel")),
            (["spot@public.kline.v3.api+Min60+ethusdt"], "Blocked!"),
        ),
    ],
)
def test_recorded_blocked_refusals_parse(message: dict, expected: tuple[list[str], str]) -> None:
    assert message["code"] == 0  # a refusal looks like an ack but for its text
    assert rejected_channels(message) == expected


@pytest.mark.asyncio
async def test_a_blocked_legacy_channel_is_counted_and_rejects_nothing_we_watch(ws: MexcWsClient) -> None:
    futures = feed(ws, "spot", frame_text("spot_ws_blocked_ack_json"))
    assert not any(f.done() for f in futures.values())
    assert ws.rejections == {"spot@public.bookTicker.v3.api@BTCUSDT: Blocked!": 1}


@pytest.mark.asyncio
async def test_blocked_pb_channel_rejects_its_watch_only(ws: MexcWsClient) -> None:
    futures = feed(ws, "spot", json.dumps({"id": 0, "code": 0, "msg": blocked_text(DEALS)}))
    assert isinstance(futures["trades:BTC/USDT"].exception(), SubscriptionRejected)
    assert not futures["ticker:BTC/USDT"].done()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "contract_ws_error_unknown_contract",
            ContractRefusal("Contract [NOPE_USDT] not exists", "NOPE_USDT"),
        ),
        ("contract_ws_error_kline_interval", ContractRefusal("Not support interval", None)),
        ("contract_ws_sub_fail_DOC", ContractRefusal("Contract doesn't exist!", None)),
    ],
)
def test_recorded_contract_errors_parse(name: str, expected: ContractRefusal) -> None:
    assert contract_refusal(json.loads(frame_text(name))) == expected


@pytest.mark.asyncio
async def test_a_contract_error_naming_a_contract_rejects_that_perpetual_only(ws: MexcWsClient) -> None:
    text = frame_text("contract_ws_error_unknown_contract").replace("NOPE_USDT", "SOL_USDT")
    futures = feed(ws, "swap", text)
    assert isinstance(futures["ticker:SOL/USDT:USDT"].exception(), SubscriptionRejected)
    assert not futures["ticker:BTC/USDT:USDT"].done()


@pytest.mark.asyncio
async def test_a_contract_error_naming_nothing_rejects_only_watches_that_never_had_data(
    ws: MexcWsClient,
) -> None:
    """The docs' ``Contract doesn't exist!`` names no contract: a watch that already received
    data on this connection was accepted, so only the others can be the refused one."""
    client = ws.client(ws.urls["api"]["ws"]["swap"])
    client.resolve({"symbol": "BTC/USDT:USDT"}, "ticker:BTC/USDT:USDT")  # an earlier push
    futures = feed(ws, "swap", frame_text("contract_ws_sub_fail_DOC"))
    assert isinstance(futures["ticker:SOL/USDT:USDT"].exception(), SubscriptionRejected)
    assert not futures["ticker:BTC/USDT:USDT"].done()
    assert ws.rejections == {"Contract doesn't exist!": 1}


@pytest_asyncio.fixture
async def blocking_server() -> AsyncIterator[RecordedMexc]:
    async with RecordedMexc(spot_refuse={DEALS: blocked_text(DEALS)}) as srv:
        yield srv


@pytest.mark.asyncio
async def test_a_refused_spot_subscription_is_sent_again_by_the_next_watch(
    blocking_server: RecordedMexc,
) -> None:
    """ccxt.pro mexc keys a spot subscription by its message hash (``trades:BTC/USDT``), not by
    the channel: the refusal must forget that key, or the next ``watch_trades`` would wait
    without subscribing."""
    ws = MexcWsClient({**QUIET, "urls": {"api": sim_urls(blocking_server.url)}})
    ws.set_markets(list(ccxt_markets().values()))
    try:
        for _ in range(2):
            with pytest.raises(SubscriptionRejected, match="Blocked!"):
                await asyncio.wait_for(ws.watch_trades("BTC/USDT"), 2.0)
        ticker = await asyncio.wait_for(ws.watch_ticker("BTC/USDT"), 2.0)  # same connection, unharmed
    finally:
        await ws.close()
    assert blocking_server.spot_subscriptions == [
        DEALS,
        DEALS,
        "spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT",
    ]
    assert ticker["bid"] == 84270.0
    assert ws.rejections == {f"{DEALS}: Blocked!": 2}
