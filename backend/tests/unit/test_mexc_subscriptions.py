from __future__ import annotations

import json

import pytest

from backend.src.adapters.mexc_subscriptions import (
    ContractRefusal,
    contract_refusal,
    message_hash,
    rejected_channels,
    swap_hashes_of,
)
from backend.src.sim.frames import spot_sub_failed

SYMBOLS = {"BTCUSDT": "BTC/USDT", "ETHUSDT": "ETH/USDT"}
TIMEFRAMES = {"Min1": "1m", "Min60": "1h"}


def test_the_simulators_failure_text_is_understood() -> None:
    frame = spot_sub_failed(["spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"], "Blocked! ")
    assert rejected_channels(json.loads(frame)) == (
        ["spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"],
        "Blocked!",
    )


def test_several_channels_and_ascii_colon() -> None:
    msg = {"id": 0, "code": 0, "msg": "Not Subscribed successfully! [a@b@c,d@e@f]. Reason: limit"}
    assert rejected_channels(msg) == (["a@b@c", "d@e@f"], "limit")


@pytest.mark.parametrize(
    "msg", [{"msg": "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"}, {"msg": "PONG"}, "x", {}]
)
def test_other_messages_are_not_failures(msg: object) -> None:
    assert rejected_channels(msg) is None


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT", "trades:BTC/USDT"),
        ("spot@public.aggre.bookTicker.v3.api.pb@100ms@ETHUSDT", "ticker:ETH/USDT"),
        ("spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT", "orderbook:BTC/USDT"),
        ("spot@public.kline.v3.api.pb@BTCUSDT@Min60", "candles:BTC/USDT:1h"),
        ("spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT", None),
        ("spot@private.orders.v3.api.pb", None),
    ],
)
def test_channel_to_ccxt_message_hash(channel: str, expected: str | None) -> None:
    assert message_hash(channel, SYMBOLS.get, TIMEFRAMES) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"channel": "rs.error", "data": "Contract [NOPE_USDT] not exists", "ts": 1789498321790},
            ContractRefusal("Contract [NOPE_USDT] not exists", "NOPE_USDT"),
        ),
        (
            {"channel": "rs.error", "data": "Not support interval"},
            ContractRefusal("Not support interval", None),
        ),
        ({"channel": "rs.sub.ticker", "data": "success", "ts": 1}, None),
        ({"channel": "pong", "data": 1}, None),
        ({"id": 0, "code": 0, "msg": "PONG"}, None),
        ("rs.error", None),
    ],
)
def test_contract_refusals(message: object, expected: ContractRefusal | None) -> None:
    assert contract_refusal(message) == expected


def test_swap_hashes_of_a_perpetual() -> None:
    hashes = [
        "ticker:BTC/USDT:USDT",
        "trades:BTC/USDT:USDT",
        "candles:BTC/USDT:USDT:1m",
        "orderbook:BTC/USDT:USDT",
        "fundingRate:BTC/USDT:USDT",
        "ticker:BTC/USDT",
        "ticker:BTC/USDT:USDTX",
        "candles:ETH/USDT:USDT:1m",
        "unsubscribe:ticker:BTC/USDT:USDT",
    ]
    assert swap_hashes_of("BTC/USDT:USDT", hashes) == hashes[:5]
