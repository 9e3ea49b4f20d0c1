"""``MexcWsClient``'s bounded trade cache: its default size and the count of trades it lost.

ccxt's own ``watch_trades`` needs a connection; here it is replaced by what it does once a
push has resolved its future (``getLimit`` + ``filter_by_since_limit`` over the cache), so
the cache arithmetic is exercised without a socket.
"""

from __future__ import annotations

from typing import Any

import ccxt.pro as ccxt_pro
import pytest
from ccxt.async_support.base.ws.cache import ArrayCache

from backend.src.adapters.mexc_ws_client import DEFAULT_TRADES_LIMIT, MexcWsClient

QUIET: dict[str, Any] = {"verify": False, "timeout_on_exit": 0}
SYMBOL = "BTC/USDT"


async def resolved_watch_trades(
    self: ccxt_pro.mexc, symbol: str, since: int | None = None, limit: int | None = None, params: Any = None
) -> list[dict[str, Any]]:
    """The tail of ccxt's ``watch_trades`` after its future resolved."""
    stored = self.trades[symbol]
    return self.filter_by_since_limit(stored, since, stored.getLimit(symbol, limit), "timestamp", True)


def push(ws: MexcWsClient, n: int, start: int = 0) -> None:
    """``n`` trades appended to the cache, as a deals push does."""
    stored = ws.trades.setdefault(SYMBOL, ArrayCache(ws.options["tradesLimit"]))
    for i in range(start, start + n):
        stored.append({"symbol": SYMBOL, "timestamp": 1_700_000_000_000 + i, "price": 1.0, "amount": 1.0})


@pytest.fixture
def ws(monkeypatch: pytest.MonkeyPatch) -> MexcWsClient:
    monkeypatch.setattr(ccxt_pro.mexc, "watch_trades", resolved_watch_trades)
    return MexcWsClient({**QUIET, "options": {"tradesLimit": 3}})


def test_default_trades_limit_unless_the_caller_sets_one() -> None:
    assert MexcWsClient(QUIET).options["tradesLimit"] == DEFAULT_TRADES_LIMIT
    assert MexcWsClient({**QUIET, "options": {"tradesLimit": 50}}).options["tradesLimit"] == 50
    assert ccxt_pro.mexc(QUIET).options.get("tradesLimit") is None  # ccxt's 1000 applies there


@pytest.mark.asyncio
async def test_every_trade_within_the_limit_is_returned_and_none_counted_lost(ws: MexcWsClient) -> None:
    push(ws, 3)
    assert len(await ws.watch_trades(SYMBOL)) == 3
    push(ws, 2, start=3)
    assert [t["timestamp"] % 1000 for t in await ws.watch_trades(SYMBOL)] == [3, 4]
    assert ws.trades_overflow[SYMBOL] == 0


@pytest.mark.asyncio
async def test_trades_pushed_out_before_they_were_read_are_counted(ws: MexcWsClient) -> None:
    push(ws, 5)  # two pushes piled up before the consumer ran: 5 new trades, room for 3
    assert [t["timestamp"] % 1000 for t in await ws.watch_trades(SYMBOL)] == [2, 3, 4]
    assert ws.trades_overflow[SYMBOL] == 2
    push(ws, 1, start=5)
    assert len(await ws.watch_trades(SYMBOL)) == 1
    assert ws.trades_overflow[SYMBOL] == 2


@pytest.mark.asyncio
async def test_a_limited_call_is_not_counted_as_loss(ws: MexcWsClient) -> None:
    push(ws, 3)
    assert len(await ws.watch_trades(SYMBOL, limit=1)) == 1
    assert ws.trades_overflow[SYMBOL] == 0
