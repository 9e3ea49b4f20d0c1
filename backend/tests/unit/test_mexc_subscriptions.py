from __future__ import annotations

import json

import pytest

from backend.src.adapters.mexc_subscriptions import message_hash, rejected_channels
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
