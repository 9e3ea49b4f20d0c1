"""Real contract ``push.ticker`` frames through the client into ``parse_swap_ticker``.

The frames enter ``MexcWsClient`` at the connection as text (the recorded ``raw`` wire text
where there is one), ccxt.pro's own ``handle_ticker`` or the contract fast path parses them,
and the adapter's ``parse_swap_ticker`` reads funding and open interest from
``ticker['info']``.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import WSMessage, WSMsgType

from backend.src.adapters.mexc_parsing import parse_swap_ticker
from backend.src.adapters.mexc_ws_client import MexcWsClient

from ..recorded_real import ccxt_markets, frame_text, payload

QUIET: dict[str, Any] = {"verify": False, "timeout_on_exit": 0}


def swap_markets() -> list[dict[str, Any]]:
    """The recorded markets plus LINK/USDT:USDT (not in the truncated contract detail); its
    contract size is not recorded, so it gets none."""
    markets = ccxt_markets()
    link = {**markets["BTC/USDT:USDT"], "id": "LINK_USDT", "symbol": "LINK/USDT:USDT", "base": "LINK"}
    return [*markets.values(), {**link, "baseId": "LINK", "contractSize": None}]


@pytest.mark.asyncio
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "ccxt"])
@pytest.mark.parametrize(
    ("name", "symbol", "contract_size"),
    [
        ("contract_ws_push_ticker_btc_ccxt", "BTC/USDT:USDT", 0.0001),
        ("contract_ws_push_ticker_link", "LINK/USDT:USDT", None),
    ],
)
async def test_push_ticker_funding_and_open_interest(
    name: str, symbol: str, contract_size: float | None, fast_path: bool
) -> None:
    ws = MexcWsClient(QUIET, fast_path=fast_path)
    ws.set_markets(swap_markets())
    assert ws.markets[symbol]["contractSize"] == contract_size  # from the recorded contract detail
    client = ws.client(ws.urls["api"]["ws"]["swap"])
    future = client.future(f"ticker:{symbol}")
    client.handle_message(WSMessage(WSMsgType.TEXT, frame_text(name), None))
    await ws.close()
    assert future.done() and not ws.malformed
    data = payload(name)["data"]
    record = parse_swap_ticker(future.result(), ws.markets[symbol]["contractSize"])
    assert record["ts"] == data["timestamp"] == payload(name)["ts"]
    assert record["funding"] == data["fundingRate"]
    assert record["oi_contracts"] == data["holdVol"]
    expected_oi = data["holdVol"] * contract_size if contract_size else None
    assert record["oi"] == (pytest.approx(expected_oi) if expected_oi else None)
    assert (record["mark"], record["index"], record["last"]) == (
        data["fairPrice"],
        data["indexPrice"],
        data["lastPrice"],
    )
    assert ws.fast_frames == (1 if fast_path else 0)
    if not fast_path:  # ccxt's whole ticker; the fast path builds only what the adapter reads
        ticker = future.result()
        assert (ticker["bid"], ticker["ask"]) == (data["bid1"], data["ask1"])


def test_the_link_frame_keeps_wire_formatting_that_json_drops() -> None:
    assert '"riseFallRate":-0.0270' in frame_text("contract_ws_push_ticker_link")
    assert payload("contract_ws_push_ticker_link")["data"]["fundingRate"] == -4.5e-05
