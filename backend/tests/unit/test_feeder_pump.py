"""One record the state cannot take is a counted drop; the stream goes on with the next one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.data.live_bars import LiveBars
from backend.src.data.market_feeder import MarketFeeder
from backend.src.data.md_mapping import SymbolState

NOW = 1_767_225_600_000


async def records(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


@pytest.mark.asyncio
async def test_a_record_that_raises_in_the_state_is_dropped_and_the_stream_goes_on(caplog) -> None:
    feeder = MarketFeeder(["BTC/USDT"], adapter=MexcAdapter(["BTC/USDT"]))
    state = SymbolState("BTC/USDT", LiveBars([[NOW - 60_000, 1.0, 1.0, 1.0, 1.0, 1.0]]))
    mds: list[dict] = []
    good = {"ts": NOW, "bid": 1.0, "ask": 1.1, "rx": None}
    with caplog.at_level(logging.ERROR):
        await feeder._pump(state, mds.append, "ticker", records({"ts": NOW}, good))
    health = feeder.feed_health.channel("BTC/USDT", "ticker")
    assert health.received == 2 and health.dropped == {"error": 1} and health.delivered == 1
    assert [m["bid"] for m in mds] == [1.0]
    assert "record dropped" in caplog.text and "KeyError" in caplog.text
    await feeder.adapter.close()
