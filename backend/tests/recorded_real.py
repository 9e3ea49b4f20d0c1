"""Real MEXC payloads recorded by other projects (fixtures/mexc_real, see its README.md).

Copied verbatim from the shared recordings: each entry has ``source``, ``kind`` (rest, ws-json,
ws-protobuf-hex, ws-protobuf-decoded, proto), ``endpoint``, ``payload``, ``tier`` and ``note``;
hex entries add ``decoded_with_official_proto``. These are the truth the tests hold the
library to; the simulator was written from MEXC's docs.

:func:`ccxt_markets` runs ccxt's own market parsing on the recorded exchangeInfo and contract
detail, so the market dicts are exactly the ones ccxt would build from the live answers.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import ccxt
from aiohttp import WSMsgType, web

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mexc_real"
PAYLOADS: dict[str, dict[str, Any]] = json.loads((FIXTURES / "payloads.json").read_text(encoding="utf-8"))


def entry(name: str) -> dict[str, Any]:
    """The whole recorded entry ``name`` (KeyError names the missing key)."""
    return PAYLOADS[name]


def payload(name: str) -> Any:
    """The recorded payload of ``name`` as parsed JSON (a fresh copy: tests may mutate it)."""
    return json.loads(json.dumps(PAYLOADS[name]["payload"]))


def names(kind: str) -> list[str]:
    """Every entry of ``kind`` (``rest``, ``ws-json``, ``ws-protobuf-hex``...), in file order."""
    return [name for name, e in PAYLOADS.items() if e["kind"] == kind]


def frame_bytes(name: str) -> bytes:
    """A ``ws-protobuf-hex`` entry as the binary frame MEXC sent."""
    e = PAYLOADS[name]
    assert e["kind"] == "ws-protobuf-hex", name
    return bytes.fromhex(e["payload"])


def frame_text(name: str) -> str:
    """A ``ws-json`` entry as the text frame (``raw`` when recorded, else re-encoded JSON)."""
    e = PAYLOADS[name]
    raw = e.get("raw")
    return raw if isinstance(raw, str) else json.dumps(e["payload"], ensure_ascii=False)


def ccxt_markets(
    exchange_info: str = "spot_exchangeinfo_all", contract_detail: str = "contract_detail_all"
) -> dict[str, dict[str, Any]]:
    """``exchange.markets`` as ccxt 4.5's own ``fetch_markets`` builds it from the recorded
    exchangeInfo and contract detail (a fresh deep copy per call)."""
    return json.loads(json.dumps(_ccxt_markets(exchange_info, contract_detail)))


@cache
def _ccxt_markets(exchange_info: str, contract_detail: str) -> dict[str, dict[str, Any]]:
    ex = ccxt.mexc({"enableRateLimit": False})
    ex.spotPublicGetExchangeInfo = lambda params=None: payload(exchange_info)
    ex.contractPublicGetDetail = lambda params=None: payload(contract_detail)
    return dict(ex.load_markets())


# -- a loopback server answering with the recorded bodies ----------------------------------

#: REST path → (recorded entry with ``symbol=``, recorded entry without): MEXC answers an
#: object for one symbol and an array for all (ticker/24hr, bookTicker, contract ticker).
REST_ROUTES: dict[str, tuple[str, str]] = {
    "/api/v3/exchangeInfo": ("spot_exchangeinfo_btcusdt", "spot_exchangeinfo_all"),
    "/api/v3/time": ("spot_time", "spot_time"),
    "/api/v3/depth": ("spot_depth_btcusdt_limit10", "spot_depth_btcusdt_limit10"),
    "/api/v3/klines": ("spot_klines_btcusdt_5m_limit1000_aligned",) * 2,
    "/api/v3/ticker/24hr": ("spot_ticker24hr_btcusdt", "spot_ticker24hr_all"),
    "/api/v3/ticker/bookTicker": ("spot_bookticker_btcusdt", "spot_bookticker_all"),
    "/api/v1/contract/detail": ("contract_detail_btc_usdt", "contract_detail_all"),
    "/api/v1/contract/ticker": ("contract_ticker_btc_usdt", "contract_ticker_all"),
    "/api/v1/contract/funding_rate/BTC_USDT": (
        "contract_funding_rate_btc_usdt",
        "contract_funding_rate_btc_usdt",
    ),
}


def spot_pushes() -> dict[str, list[str]]:
    """Spot channel → the recorded binary frames (hex entries) MEXC pushed on it; the frame
    re-encoded by its author (tier F) is left out."""
    pushes: dict[str, list[str]] = {}
    for name in names("ws-protobuf-hex"):
        if PAYLOADS[name]["tier"] != "F":
            pushes.setdefault(PAYLOADS[name]["endpoint"].split()[-1], []).append(name)
    return pushes


class RecordedMexc:
    """aiohttp server on 127.0.0.1 that answers like MEXC did in the recordings.

    REST: each path in ``routes`` (default :data:`REST_ROUTES`) returns its recorded body
    with HTTP 200 or ``statuses[path]``; anything else the recorded contract error body
    (``{"code":1001,"message":"Contract does not exist","success":false}``). ``requests``
    lists ``(path, query)`` of every REST call. Contract websocket ``/edge``: ``sub.ticker`` is
    acked (recorded ``contract_ws_sub_ack_ticker``) and answered with ``push_ticker`` (a
    recorded ``push.ticker`` frame, its symbol set to the subscribed contract) unless its
    contract id is in ``refuse``, which maps a contract id to the ``rs.error`` frame sent
    instead (e.g. the recorded ``frame_text("contract_ws_error_unknown_contract")``, which
    names NOPE_USDT); ``sub.kline`` gets
    ``refuse_kline`` (default: the recorded "Not support interval"). ``subscriptions`` lists
    every ``(method, param)`` received. Spot websocket ``/ws``: a ``SUBSCRIPTION`` is acked
    (``{"id":0,"code":0,"msg":channel}``) and followed by the recorded binary frames of that
    channel (:func:`spot_pushes`), unless ``spot_refuse`` maps the channel to the refusal
    text sent as ``msg`` instead; ``spot_subscriptions`` lists the channels asked for. ``url`` is
    ``http://127.0.0.1:PORT``.
    """

    def __init__(
        self,
        routes: dict[str, tuple[str, str]] | None = None,
        refuse: dict[str, str] | None = None,
        push_ticker: str = "contract_ws_push_ticker_btc_ccxt",
        refuse_kline: str = "contract_ws_error_kline_interval",
        spot_refuse: dict[str, str] | None = None,
        statuses: dict[str, int] | None = None,
    ) -> None:
        self.routes = dict(REST_ROUTES if routes is None else routes)
        self.refuse = dict(refuse or {})
        self.push_ticker = push_ticker
        self.refuse_kline = refuse_kline
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.subscriptions: list[tuple[str, dict[str, Any]]] = []
        self.spot_refuse = dict(spot_refuse or {})
        self.statuses = dict(statuses or {})
        self.spot_subscriptions: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    async def __aenter__(self) -> RecordedMexc:
        app = web.Application()
        app.router.add_get("/edge", self._edge)
        app.router.add_get("/ws", self._spot)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self._sockets):  # else cleanup waits for every client to hang up
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _rest(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append((request.path, query))
        route = self.routes.get(request.path)
        if route is None:
            body = payload("contract_error_unknown_symbol_depth")
        else:
            body = payload(route[0] if "symbol" in query else route[1])
        return web.json_response(body, status=self.statuses.get(request.path, 200))

    async def _edge(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            method, param = frame.get("method"), frame.get("param") or {}
            if method == "ping":
                await ws.send_str(frame_text("contract_ws_pong"))
                continue
            self.subscriptions.append((method, param))
            contract = str(param.get("symbol", ""))
            if method == "sub.ticker" and contract in self.refuse:
                await ws.send_str(self.refuse[contract])
            elif method == "sub.ticker":
                await ws.send_str(frame_text("contract_ws_sub_ack_ticker"))
                push = payload(self.push_ticker)
                push["symbol"] = push["data"]["symbol"] = contract
                await ws.send_str(json.dumps(push))
            elif method == "sub.kline":
                await ws.send_str(frame_text(self.refuse_kline))
        return ws

    async def _spot(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        pushes = spot_pushes()
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if str(frame.get("method", "")).lower() == "ping":
                await ws.send_str(frame_text("spot_ws_pong"))
                continue
            for channel in frame.get("params") or []:
                self.spot_subscriptions.append(channel)
                refusal = self.spot_refuse.get(channel)
                await ws.send_str(json.dumps({"id": 0, "code": 0, "msg": refusal or channel}))
                for name in [] if refusal else pushes.get(channel, []):
                    await ws.send_bytes(frame_bytes(name))
        return ws
