"""MEXC REST routes: spot ``/api/v3/*`` and contract ``/api/v1/contract/*``.

Shapes follow live recordings of MEXC (``backend/tests/fixtures/mexc_real``; the conformance
test diffs every route against them) where the docs differ; errors use MEXC's recorded JSON
(``{"code":10007,"msg":"bad symbol"}`` with HTTP 400 on spot,
``{"code":1001,"message":"Contract does not exist","success":false}`` with HTTP 200 on
contracts) so ccxt maps them to the same exceptions as against the real exchange. A
middleware records every request and applies the REST faults before any route runs.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from . import frames
from .bars import Bar
from .config import SimContext
from .frames import price_str, qty_str, quote_str
from .intervals import BY_SPOT_ID, BY_WS_ID, Interval
from .market_model import SimMarket, SymbolModel

log = logging.getLogger(__name__)

KLINE_MAX = 500  # what MEXC really returns per request (docs say 1000)
CONTRACT_KLINE_MAX = 2000
DEPTH_DEFAULT, DEPTH_MAX = 100, 5000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """Raised by routes; rendered as MEXC's JSON error with the given HTTP status."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def spot_error(code: int, msg: str) -> ApiError:
    return ApiError(400, {"code": code, "msg": msg})


INVALID_SYMBOL = (10007, "bad symbol")  # as quoted in ccxt; ccxt maps it (and -1121) to BadSymbol
NO_CONTRACT = (1001, "Contract does not exist")  # recorded live (tier A); the docs add a "!"


def contract_error(code: int, message: str) -> ApiError:
    return ApiError(200, {"success": False, "code": code, "message": message})


def ok(data: Any) -> web.Response:
    """A JSON answer whose ``body`` is bytes (a str body becomes a payload object that the
    REST tamper fault could not read back)."""
    return web.Response(body=frames.dumps(data).encode(), content_type="application/json")


def contract_ok(data: Any) -> web.Response:
    return ok({"success": True, "code": 0, "data": data})


def _int(
    request: web.Request, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None
) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise spot_error(700008, f"Illegal characters found in parameter '{name}'.") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise spot_error(
            700008, f"Illegal characters found in parameter '{name}'; legal range is '[{lo}, {hi}]'."
        )
    return value


# -- payload builders --------------------------------------------------------------------


def api_trading(m: SimMarket, ctx: SimContext) -> bool:
    """Whether the market takes API orders (``isSpotTradingAllowed``/``apiAllowed``)."""
    if ctx.options.btcusdt_no_api_trading and m.spot_id == "BTCUSDT":
        return False
    return m.api_trading


def spot_symbol_info(m: SimMarket, api_allowed: bool = True) -> dict[str, Any]:
    """One ``exchangeInfo`` entry as recorded (2025-12-31): status the string "1" (ccxt's
    ``active`` needs it *and* isSpotTradingAllowed), string commissions and size precision,
    one ``PERCENT_PRICE_BY_SIDE`` filter, and MEXC's extra fields (st, conceptPlateIds, ...)."""
    return {
        "symbol": m.spot_id,
        "status": "1" if m.active else "2",
        "baseAsset": m.base,
        "baseAssetPrecision": m.qty_decimals,
        "quoteAsset": m.quote,
        "quotePrecision": m.price_decimals,
        "quoteAssetPrecision": m.price_decimals,
        "baseCommissionPrecision": m.qty_decimals,
        "quoteCommissionPrecision": m.price_decimals,
        "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"],
        "isSpotTradingAllowed": m.active and api_allowed,
        "isMarginTradingAllowed": False,
        "quoteAmountPrecision": "1",
        "baseSizePrecision": frames.fmt_scaled(1, m.qty_decimals),
        "permissions": ["SPOT"],
        "filters": [
            {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "0.2", "askMultiplierDown": "0.2"}
        ],
        "maxQuoteAmount": "2000000",
        "makerCommission": "0",
        "takerCommission": "0.0005",
        "quoteAmountPrecisionMarket": "1",
        "maxQuoteAmountMarket": "100000",
        "fullName": m.base,
        "tradeSideType": 1,
        "st": False,
        "conceptPlateIds": [],
        "contractAddress": "",
    }


def contract_detail(m: SimMarket, api_allowed: bool = True) -> dict[str, Any]:
    """One ``contract/detail`` entry with every key of the recorded BTC_USDT one (2025-12-31);
    ``state`` 0 means enabled. ccxt reads only a few of them; the rest keep the shape real."""
    unit = 10**-m.price_decimals
    steps = [frames.fmt_scaled(10**i, m.price_decimals) for i in range(4)]
    return {
        "symbol": m.perp_id,
        "displayName": f"{m.perp_id}永续",
        "displayNameEn": f"{m.perp_id} PERPETUAL",
        "positionOpenType": 3,
        "baseCoin": m.base,
        "quoteCoin": m.quote,
        "baseCoinName": m.base,
        "quoteCoinName": m.quote,
        "futureType": 1,
        "settleCoin": m.quote,
        "contractSize": m.contract_size,
        "minLeverage": 1,
        "maxLeverage": 200,
        "countryConfigContractMaxLeverage": 0,
        "priceScale": m.price_decimals,
        "volScale": 0,
        "amountScale": 4,
        "priceUnit": round(unit, m.price_decimals),
        "volUnit": 1,
        "minVol": 1,
        "maxVol": 1_000_000,
        "bidLimitPriceRate": 0.1,
        "askLimitPriceRate": 0.1,
        "takerFeeRate": 0.0002,
        "makerFeeRate": 0.0,
        "maintenanceMarginRate": 0.004,
        "initialMarginRate": 0.005,
        "riskBaseVol": 10000,
        "riskIncrVol": 200000,
        "riskIncrMmr": 0.004,
        "riskIncrImr": 0.004,
        "riskLevelLimit": 5,
        "priceCoefficientVariation": 0.1,
        "indexOrigin": ["BINANCE", "OKX", "MEXC"],
        "state": 0 if m.active and m.perp_active else 3,
        "isNew": False,
        "isHot": True,
        "isHidden": False,
        "conceptPlate": [],
        "conceptPlateId": [],
        "riskLimitType": "BY_VOLUME",
        "maxNumOrders": [200, 50],
        "marketOrderMaxLevel": 20,
        "marketOrderPriceLimitRate1": 0.2,
        "marketOrderPriceLimitRate2": 0.005,
        "triggerProtect": 0.1,
        "appraisal": 0,
        "showAppraisalCountdown": 0,
        "automaticDelivery": 0,
        "apiAllowed": api_allowed,
        "depthStepList": steps,
        "limitMaxVol": 1_000_000,
        "threshold": 0,
        "baseCoinIconUrl": f"https://public.mocortech.com/coin/{m.base}.png",
        "id": frames.contract_id(m.perp_id),
        "vid": frames.symbol_id_hash(f"vid:{m.perp_id}"),
        "baseCoinId": frames.symbol_id_hash(f"coin:{m.base}"),
        "createTime": 1_591_242_684_000,
        "openingTime": 0,
        "openingCountdownOption": 1,
        "showBeforeOpen": True,
        "isMaxLeverage": True,
        "isZeroFeeRate": False,
        "riskLimitMode": "CUSTOM",
        "riskLimitCustom": [
            {"level": 1, "maxVol": 50_000, "mmr": 0.004, "imr": 0.005, "maxLeverage": 200},
            {"level": 2, "maxVol": 250_000, "mmr": 0.01, "imr": 0.02, "maxLeverage": 50},
        ],
        "isZeroFeeSymbol": False,
        "liquidationFeeRate": 0.0004,
        "feeRateMode": "NORMAL",
        "leverageFeeRates": [],
        "tieredFeeRates": [],
        "type": 1,
        "stopOnlyFair": False,
        "riskLongShortSwitch": 0,
        "preMarket": False,
    }


def kline_row(m: SimMarket, interval: Interval, bar: Bar) -> list[Any]:
    """``[openTime,"o","h","l","c","v",closeTime,"quoteVolume"]`` as MEXC returns it: times
    numbers in ms, ``closeTime`` the next open, numbers trimmed ("87570", "8.1644158")."""
    return [
        bar.open_ms,
        price_str(m, bar.open, trimmed=True),
        price_str(m, bar.high, trimmed=True),
        price_str(m, bar.low, trimmed=True),
        price_str(m, bar.close, trimmed=True),
        qty_str(m, bar.volume, trimmed=True),
        interval.next_open(bar.open_ms),
        quote_str(m, bar.quote, trimmed=True),
    ]


def ticker_open_time(spot_id: str, now_ms: int) -> int:
    """MEXC's 24 h ticker ``openTime`` is only 10-20 s before ``closeTime`` (recorded for every
    symbol, 2025-12-31; its meaning is unknown), not a day before: stable per symbol and second."""
    return now_ms - 10_000 - (zlib.crc32(spot_id.encode()) + now_ms // 1000) % 10_000


def ticker_24hr(sm: SymbolModel, now_ms: int) -> dict[str, Any]:
    """As recorded: ``count`` null, ``openTime`` seconds before ``closeTime``,
    ``priceChangePercent`` a fraction with four decimals ("-0.0055" is -0.55 %), numbers
    trimmed ("87904", "0.16")."""
    m, st = sm.market, sm.stats_24h(now_ms)
    bt = sm.book_ticker()
    pct = f"{(st.last - st.open) / st.open:.4f}" if st.open else "0.0000"
    return {
        "symbol": m.spot_id,
        "priceChange": price_str(m, st.last - st.open, trimmed=True),
        "priceChangePercent": pct,
        "prevClosePrice": price_str(m, st.open, trimmed=True),
        "lastPrice": price_str(m, st.last, trimmed=True),
        "bidPrice": price_str(m, bt.bid, trimmed=True),
        "bidQty": qty_str(m, bt.bid_qty, trimmed=True),
        "askPrice": price_str(m, bt.ask, trimmed=True),
        "askQty": qty_str(m, bt.ask_qty, trimmed=True),
        "openPrice": price_str(m, st.open, trimmed=True),
        "highPrice": price_str(m, st.high, trimmed=True),
        "lowPrice": price_str(m, st.low, trimmed=True),
        "volume": qty_str(m, st.volume, trimmed=True),
        "quoteVolume": quote_str(m, st.quote, trimmed=True),
        "openTime": ticker_open_time(m.spot_id, now_ms),
        "closeTime": now_ms,
        "count": None,
    }


def book_ticker(sm: SymbolModel) -> dict[str, Any]:
    m, bt = sm.market, sm.book_ticker()
    return {
        "symbol": m.spot_id,
        "bidPrice": price_str(m, bt.bid),
        "bidQty": qty_str(m, bt.bid_qty),
        "askPrice": price_str(m, bt.ask),
        "askQty": qty_str(m, bt.ask_qty),
    }


# -- routes ------------------------------------------------------------------------------


class RestApi:
    """Holds the context and registers every route on an aiohttp app."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)
        spot: list[tuple[str, Handler]] = [
            ("ping", self.ping),
            ("time", self.time),
            ("exchangeInfo", self.exchange_info),
            ("klines", self.klines),
            ("depth", self.depth),
            ("ticker/24hr", self.ticker24),
            ("ticker/price", self.ticker_price),
            ("ticker/bookTicker", self.book_ticker),
            ("aggTrades", self.agg_trades),
            ("trades", self.trades),
        ]
        contract: list[tuple[str, Handler]] = [
            ("ping", self.contract_ping),
            ("detail", self.contract_detail),
            ("ticker", self.contract_ticker),
            ("funding_rate/{symbol}", self.funding_rate),
            ("depth/{symbol}", self.contract_depth),
            ("kline/{symbol}", self.contract_kline),
            ("deals/{symbol}", self.contract_deals),
        ]
        for name, handler in spot:
            app.router.add_get(f"/api/v3/{name}", handler)
        for name, handler in contract:
            app.router.add_get(f"/api/v1/contract/{name}", handler)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            self.ctx.recorder.rest(request.path, dict(request.query))
            fault = self.ctx.faults.take_rest_fault(request.path)
            if fault is not None:
                if fault.status is None:
                    log.info("REST fault: hanging %s for %.1fs", request.path, fault.hang_seconds)
                    await self.ctx.faults.hang(fault.hang_seconds)
                else:
                    log.info("REST fault: %s -> HTTP %s", request.path, fault.status)
                    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                    return web.Response(status=fault.status, text=fault.body, headers=headers)
        try:
            response = await handler(request)
        except ApiError as err:
            return web.Response(
                status=err.status, body=frames.dumps(err.body), content_type="application/json"
            )
        edit = self.ctx.faults.take_tamper(request.path) if request.path.startswith("/api/") else None
        if edit is not None and isinstance(response, web.Response) and response.body is not None:
            log.info("REST fault: %s answered with an edited body", request.path)
            body = frames.dumps(edit(orjson.loads(response.text or "null")))
            return web.Response(status=response.status, body=body, content_type="application/json")
        return response

    def now(self) -> int:
        return self.ctx.clock.now_ms()

    def _spot(self, request: web.Request) -> SymbolModel:
        sm = self.ctx.model.by_spot_id.get(request.query.get("symbol", ""))
        if sm is None:
            raise spot_error(*INVALID_SYMBOL)
        return sm

    def _contract(self, symbol: str) -> SymbolModel:
        sm = self.ctx.model.by_perp_id.get(symbol)
        if sm is None:
            raise contract_error(*NO_CONTRACT)
        return sm

    def _spot_all_or_one(self, request: web.Request, build: Callable[[SymbolModel], Any]) -> Any:
        if "symbol" in request.query:
            return build(self._spot(request))
        return [build(sm) for sm in self.ctx.model.by_spot_id.values()]

    # spot --------------------------------------------------------------------------------

    async def ping(self, request: web.Request) -> web.Response:
        return ok({})

    async def time(self, request: web.Request) -> web.Response:
        return ok({"serverTime": self.now()})

    async def exchange_info(self, request: web.Request) -> web.Response:
        wanted = request.query.get("symbols") or request.query.get("symbol")
        markets = self.ctx.model.markets
        if wanted:
            ids = set(wanted.split(","))
            markets = [m for m in markets if m.spot_id in ids]
            if not markets:
                raise spot_error(*INVALID_SYMBOL)
        return ok(
            {
                "timezone": "CST",
                "serverTime": self.now(),
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": [spot_symbol_info(m, api_trading(m, self.ctx)) for m in markets],
            }
        )

    async def klines(self, request: web.Request) -> web.Response:
        sm = self._spot(request)
        interval = BY_SPOT_ID.get(request.query.get("interval", ""))
        if interval is None:
            raise spot_error(-1121, "Invalid interval.")
        limit = _int(request, "limit", KLINE_MAX, lo=1) or KLINE_MAX
        start, end = _int(request, "startTime"), _int(request, "endTime")
        if self.ctx.options.klines_ignore_start_with_limit and "limit" in request.query:
            # The recorded quirk: startTime is ignored and the rows end at endTime (or now).
            start = None
        bars = sm.klines(interval, start, end, min(limit, KLINE_MAX))
        return ok([kline_row(sm.market, interval, b) for b in bars])

    async def depth(self, request: web.Request) -> web.Response:
        sm = self._spot(request)
        limit = _int(request, "limit", DEPTH_DEFAULT, lo=1, hi=DEPTH_MAX) or DEPTH_DEFAULT
        version, bids, asks = sm.depth_snapshot(limit)
        m = sm.market
        return ok(
            {
                "lastUpdateId": version,
                "bids": [[price_str(m, p), qty_str(m, q)] for p, q in bids],
                "asks": [[price_str(m, p), qty_str(m, q)] for p, q in asks],
                "timestamp": self.now(),
            }
        )

    async def ticker24(self, request: web.Request) -> web.Response:
        now = self.now()
        return ok(self._spot_all_or_one(request, lambda sm: ticker_24hr(sm, now)))

    async def ticker_price(self, request: web.Request) -> web.Response:
        return ok(
            self._spot_all_or_one(
                request,
                lambda sm: {"symbol": sm.market.spot_id, "price": price_str(sm.market, sm.last_price)},
            )
        )

    async def book_ticker(self, request: web.Request) -> web.Response:
        return ok(self._spot_all_or_one(request, book_ticker))

    def _recent(self, request: web.Request) -> tuple[SymbolModel, list[Any]]:
        sm = self._spot(request)
        limit = _int(request, "limit", 500, lo=1, hi=1000) or 500
        start, end = _int(request, "startTime"), _int(request, "endTime")
        trades = [t for t in sm.recent if (start is None or t.ts >= start) and (end is None or t.ts <= end)]
        return sm, trades[-limit:]

    async def agg_trades(self, request: web.Request) -> web.Response:
        sm, trades = self._recent(request)
        m = sm.market
        return ok(
            [
                {
                    "a": None,
                    "f": None,
                    "l": None,
                    "p": price_str(m, t.price),
                    "q": qty_str(m, t.qty),
                    "T": t.ts,
                    "m": t.side == 2,
                    "M": True,
                }
                for t in trades
            ]
        )

    async def trades(self, request: web.Request) -> web.Response:
        sm, trades = self._recent(request)
        m = sm.market
        return ok(
            [
                {
                    "id": None,
                    "price": price_str(m, t.price),
                    "qty": qty_str(m, t.qty),
                    "quoteQty": quote_str(m, t.price * t.qty),
                    "time": t.ts,
                    "isBuyerMaker": t.side == 2,
                    "isBestMatch": True,
                    "tradeType": "BID" if t.side == 1 else "ASK",
                }
                for t in trades
            ]
        )

    # contract ----------------------------------------------------------------------------

    async def contract_ping(self, request: web.Request) -> web.Response:
        return contract_ok(self.now())

    async def contract_detail(self, request: web.Request) -> web.Response:
        if "symbol" in request.query:
            m = self._contract(request.query["symbol"]).market
            return contract_ok(contract_detail(m, api_trading(m, self.ctx)))
        return contract_ok(
            [
                contract_detail(sm.market, api_trading(sm.market, self.ctx))
                for sm in self.ctx.model.by_perp_id.values()
            ]
        )

    async def contract_ticker(self, request: web.Request) -> web.Response:
        now = self.now()

        def build(sm: SymbolModel) -> dict[str, Any]:
            return frames.swap_ticker_data(sm, sm.stats_24h(now), now, rest=True)

        if "symbol" in request.query:
            return contract_ok(build(self._contract(request.query["symbol"])))
        return contract_ok([build(sm) for sm in self.ctx.model.by_perp_id.values()])

    async def funding_rate(self, request: web.Request) -> web.Response:
        sm = self._contract(request.match_info["symbol"])
        now = self.now()
        return contract_ok(
            {
                "symbol": sm.market.perp_id,
                "fundingRate": round(sm.funding_rate, 6),
                "maxFundingRate": 0.003,
                "minFundingRate": -0.003,
                "collectCycle": 8,
                "nextSettleTime": frames.next_settle_ms(now),
                "timestamp": now,
            }
        )

    async def contract_depth(self, request: web.Request) -> web.Response:
        sm = self._contract(request.match_info["symbol"])
        limit = _int(request, "limit", DEPTH_DEFAULT, lo=1, hi=DEPTH_MAX) or DEPTH_DEFAULT
        version, bids, asks = sm.depth_snapshot(limit)
        m = sm.market
        return contract_ok(
            {
                "asks": frames.swap_depth_levels(m, asks),
                "bids": frames.swap_depth_levels(m, bids),
                "version": version,
                "timestamp": self.now(),
            }
        )

    async def contract_kline(self, request: web.Request) -> web.Response:
        sm = self._contract(request.match_info["symbol"])
        interval = BY_WS_ID.get(request.query.get("interval", "Min1"))
        if interval is None:
            raise contract_error(600, "Parameter error: interval")
        start, end = _int(request, "start"), _int(request, "end")
        bars = sm.klines(
            interval,
            start * 1000 if start is not None else None,
            end * 1000 + 1 if end is not None else None,
            CONTRACT_KLINE_MAX,
        )
        m = sm.market
        scale = 10**m.price_decimals
        opens, closes = [b.open / scale for b in bars], [b.close / scale for b in bars]
        highs, lows = [b.high / scale for b in bars], [b.low / scale for b in bars]
        return contract_ok(
            {
                "time": [b.open_ms // 1000 for b in bars],
                "open": opens,
                "close": closes,
                "high": highs,
                "low": lows,
                "vol": [frames.contracts(m, b.volume) for b in bars],
                "amount": [b.quote / 10 ** (m.price_decimals + m.qty_decimals) for b in bars],
                # MEXC's "real" (last-price) OHLC; the simulator has one price series
                "realOpen": opens,
                "realClose": closes,
                "realHigh": highs,
                "realLow": lows,
            }
        )

    async def contract_deals(self, request: web.Request) -> web.Response:
        sm = self._contract(request.match_info["symbol"])
        limit = _int(request, "limit", 100, lo=1, hi=100) or 100
        trades = list(sm.recent)[-limit:][::-1]
        return contract_ok(frames.swap_deals_data(sm.market, trades))
