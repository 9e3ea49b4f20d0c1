"""Every place the adapter reaches past ccxt's public API, in one module.

Why: ccxt 4.5.90's documented surface cannot do what MEXC needs (reset one silently dead
connection, reject a watch on a retired one, see a misplaced kline page, read ``Retry-After``).
These are the attributes and generated methods the adapter relies on instead; an upgrade of
ccxt is checked against this file alone. ``MexcWsClient`` (``mexc_ws_client``) is a ccxt
subclass and keeps its own overrides.
"""

from __future__ import annotations

import time
from typing import Any

import ccxt.async_support as ccxt_async
from ccxt.async_support.base.ws.client import Client

from ..mexc_ws_client import MexcWsClient
from . import kline_rows


def ws_url(ws: MexcWsClient, url_key: str) -> str:
    """The websocket URL of ``url_key`` (``"spot"`` or ``"swap"``): ccxt keeps one connection
    per URL, so the URL is the connection's key."""
    return ws.urls["api"]["ws"][url_key]


def connection(ws: MexcWsClient, url_key: str) -> Client | None:
    """ccxt's connection object for ``url_key``, if it is open (``ws.clients`` is internal)."""
    return ws.clients.get(ws_url(ws, url_key))


def frame_arrival(ws: MexcWsClient, url_key: str) -> float:
    """``perf_counter()`` of the latest frame on that connection (``MexcWsClient`` stamps
    ``last_rx`` on ccxt's connection); now, when nothing was stamped yet."""
    return getattr(connection(ws, url_key), "last_rx", 0.0) or time.perf_counter()


def fail_connection(ws: MexcWsClient, url_key: str, error: Exception) -> None:
    """Fail one connection as ccxt does on a socket error (``Client.on_error``): every watch on
    it gets ``error`` and ccxt re-dials on the next ``watch_*``. ccxt has no public way to drop
    a connection that still answers pings but pushes nothing."""
    client = connection(ws, url_key)
    if client is not None:
        client.on_error(error)


def reject_pending(ws: MexcWsClient, error: Exception) -> None:
    """Fail every watch waiting on any of ``ws``'s connections with ``error`` (``Client.reject``):
    ccxt's own ``close()`` cancels them instead, which would end the streams."""
    for client in list(ws.clients.values()):
        client.reject(error)


def skip_dial_backoff(ws: MexcWsClient) -> None:
    """Clear ccxt's per-URL dial backoff (0.2 s doubling to 30 s): ours has just waited, and
    ccxt's on top would break the 10 s recovery target after a 30 s outage."""
    ws.ws_dial_backoff = {}


def cached_ticker(ws: MexcWsClient, symbol: str) -> dict | None:
    """ccxt's latest ticker of ``symbol``: a push that arrives while nobody awaits the watch
    only updates this cache (tickers are conflated), and ``watch_ticker`` waits for the next."""
    return ws.tickers.get(symbol)


def knows_market(ws: MexcWsClient, symbol: str) -> bool:
    """Whether ``ws``'s market table has ``symbol`` (a delisted one cannot be unsubscribed)."""
    return symbol in (ws.markets or {})


def share_markets(ws: MexcWsClient, rest: ccxt_async.mexc) -> None:
    """Give a websocket client the REST client's loaded markets, so it never loads its own."""
    ws.set_markets_from_exchange(rest)


def ssl_context(ws: MexcWsClient) -> Any:
    """The SSL context ccxt makes for ``ws`` (its CA bundle loaded: ``verify``, ``cafile``
    honoured; False without verification), made now. Another client given it in its config
    (``ssl_context``) makes none of its own."""
    ws.open()
    return ws.ssl_context


def retry_after_header(rest: ccxt_async.mexc | None) -> str | None:
    """The ``Retry-After`` header of the REST client's last response (MEXC sends it with 429);
    ccxt raises ``RateLimitExceeded`` without it."""
    headers = (rest.last_response_headers if rest else None) or {}
    return next((v for k, v in headers.items() if k.lower() == "retry-after"), None)


def spot_interval(rest: ccxt_async.mexc, timeframe: str) -> str:
    """MEXC's spot interval id of a ccxt timeframe (``1h`` → ``60m``), from ccxt's table."""
    return rest.options["timeframes"]["spot"][timeframe]


async def raw_klines(rest: ccxt_async.mexc, request: dict[str, Any]) -> Any:
    """``GET /api/v3/klines`` as MEXC answered it: ccxt's ``fetch_ohlcv`` drops rows outside
    the window, which hides a page MEXC answered for another window."""
    return await rest.spotPublicGetKlines(request)


def parse_klines(rest: ccxt_async.mexc, raw: Any, market: dict, timeframe: str) -> list[list]:
    """ccxt's row parsing (6 columns, numbers) of a raw kline answer, without its filtering;
    rows of MEXC's usual shape parsed by ``kline_rows`` (equal, and faster)."""
    return kline_rows.parse_rows(
        raw,
        lambda row: rest.parse_ohlcv(row, market),
        lambda rows: rest.parse_ohlcvs(rows, market, timeframe),
    )


async def raw_book_tickers(rest: ccxt_async.mexc) -> Any:
    """``GET /api/v3/ticker/bookTicker`` of every spot pair as MEXC answered it: the request of
    ccxt's ``fetch_bids_asks``, without its full ticker parsing (``all_pairs``)."""
    return await rest.spotPublicGetTickerBookTicker({})


async def raw_day_tickers(rest: ccxt_async.mexc) -> Any:
    """``GET /api/v3/ticker/24hr`` of every spot pair as MEXC answered it: the request of ccxt's
    ``fetch_tickers`` for spot, without its full ticker parsing (``all_pairs``)."""
    return await rest.spotPublicGetTicker24hr({})
