"""Fast decode of MEXC's hot spot push channels into exactly what ccxt's own handlers produce.

Why: ccxt decodes every spot protobuf push with ``MessageToDict`` and then runs its generic
``safe_*`` parsing, about 100 µs per frame on a small VM, i.e. ~9 k frames/s per core for
everything on one event loop. The book-ticker and aggregated-deals channels carry almost all
of that traffic. Reading the protobuf fields directly does the same job in a few µs.

Contract: for every frame these functions accept, the result is *equal* to what
``ccxt.pro.mexc`` 4.5.x builds for it (``handle_ticker`` → ``exchange.tickers[symbol]``,
``handle_trades`` → the items ``ArrayCache``-appended to ``exchange.trades[symbol]``,
``handle_ohlcv`` → the candle appended to ``exchange.ohlcvs[symbol][timeframe]``), including
the ``info`` dicts (``MessageToDict`` drops proto3 default values and renders int64 as
strings), ``None`` for empty/unparsable numbers, a zero bid/ask dropped to ``None`` but zero
sizes kept, and the trade cost as the exact decimal product (ccxt's ``Precise``) rounded once.
``backend/tests/unit/test_fast_path.py`` checks this differentially against ccxt.

Every frame of an unexpected shape (unknown or ambiguous market, non-spot market, a body
that does not match the channel, an empty deals list, unknown kline interval, ...) makes
:func:`decode` return ``None``, and any exception while decoding means the same: the caller
then lets ccxt's own handler process the frame, so odd frames keep ccxt's exact behaviour
(including raising, and any partial state change ccxt makes before it raises).

Why no ``bidsasks`` update: ccxt's ``handle_bid_ask`` reads keys (``s``, ``d``) that decoded
protobuf frames never have, so for these frames it returns without any effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ccxt.base.exchange import Exchange
from ccxt.base.precise import Precise
from ccxt.protobuf.mexc.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper

#: second field of the channel name (``spot@<id>@...``), which ccxt dispatches on.
BOOK_TICKER_CHANNEL = "public.aggre.bookTicker.v3.api.pb"
DEALS_CHANNEL = "public.aggre.deals.v3.api.pb"
KLINE_CHANNEL = "public.kline.v3.api.pb"

#: ``iso8601`` accepts timestamps in this range (ECMAScript's Date range), else gives None.
_MAX_TS = 8_640_000_000_000_000
_BOOK_TICKER_FIELDS = ("bidPrice", "bidQuantity", "askPrice", "askQuantity")


class TickerUpdate(NamedTuple):
    """ccxt stores ``ticker`` in ``tickers[symbol]`` and resolves ``'ticker:' + symbol``."""

    symbol: str
    ticker: dict[str, Any]


class TradesUpdate(NamedTuple):
    """ccxt appends ``trades`` to ``trades[symbol]`` and resolves ``'trades:' + symbol``."""

    symbol: str
    trades: list[dict[str, Any]]


class OhlcvUpdate(NamedTuple):
    """ccxt appends ``candle`` to ``ohlcvs[symbol][timeframe]``, resolves ``candles:sym:tf``."""

    symbol: str
    timeframe: str
    candle: list[Any]


Update = TickerUpdate | TradesUpdate | OhlcvUpdate


def parse_wrapper(data: bytes | bytearray) -> PushDataV3ApiWrapper:
    """The push wrapper; raises ``DecodeError`` on malformed bytes, exactly as ccxt does."""
    msg = PushDataV3ApiWrapper()
    msg.ParseFromString(data)
    return msg


def channel_id(channel: str) -> str | None:
    """``spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT`` → ``public.aggre.deals.v3.api.pb``."""
    parts = channel.split("@", 2)
    return (parts[1] or None) if len(parts) > 1 else None


# -- ccxt's scalar conventions ------------------------------------------------------------


def number(text: str) -> float | None:
    """ccxt's ``safe_number`` of a protobuf string field: empty or unparsable → None."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def price(text: str) -> float | None:
    """ccxt's ``safe_ticker`` bid/ask: like :func:`number`, but a zero price means None."""
    value = number(text)
    return None if value is None or value == 0 else value


def _decimal(text: str) -> tuple[int, int]:
    """``(Precise(text).integer, Precise(text).decimals)`` without building the object.

    The plain-decimal branch is ``Precise.__init__``'s own parse, inlined because it is the
    hottest line of the deals decoder; anything with an exponent goes through ``Precise``.
    Both branches raise exactly where ``Precise`` raises (``int()`` of the digits).
    """
    if "e" in text or "E" in text:
        parsed = Precise(text)
        return parsed.integer, parsed.decimals
    dot = text.find(".")
    if dot < 0:
        return int(text), 0
    return int(text.replace(".", "")), len(text) - dot - 1


_POW10 = tuple(10.0**k for k in range(23))  # exactly representable powers of ten
_EXACT_INT = 2**53


def exact_product(a: str, b: str) -> float | None:
    """``parse_number(Precise.string_mul(a, b))`` without building the product's string.

    ccxt multiplies exactly and rounds once (``float`` of the product's decimal string). The
    same exact product is rounded once here: directly by one IEEE division when the digits and
    the power of ten are both exact doubles (the classic fast path of decimal parsing), else by
    ``float`` of its scientific notation. Both denote the same exact value, so the results are
    bit-identical.
    """
    if not a or not b:
        return None
    ia, da = _decimal(a)
    ib, db = _decimal(b)
    digits, scale = ia * ib, da + db
    if 0 <= scale <= 22 and -_EXACT_INT <= digits <= _EXACT_INT:
        return digits / _POW10[scale]
    return float(f"{digits}e{-scale}")


_last_second: tuple[int, str | None] = (-1, None)


def iso8601(ts: int | None) -> str | None:
    """``Exchange.iso8601`` with the date/time prefix memoised per second.

    Why: ccxt's version builds a ``datetime`` per call (~2 µs, the largest single cost here)
    while one frame's trades and the frames of one push interval share their second. The
    prefix comes from ccxt's own function, so the result is the same string.
    """
    global _last_second
    if ts is None or not 0 <= ts <= _MAX_TS:
        return Exchange.iso8601(ts)
    second, millis = divmod(ts, 1000)
    cached = _last_second
    if cached[0] != second:
        full = Exchange.iso8601(second * 1000)
        cached = _last_second = (second, None if full is None else full[:-4])
    prefix = cached[1]
    return None if prefix is None else f"{prefix}{millis:03d}Z"


def _int64_ms(value: int) -> int | None:
    """ccxt's ``safe_integer`` of an int64 field (``MessageToDict`` omits 0, sends a string)."""
    return int(float(value)) if value else None


# -- market lookup -----------------------------------------------------------------------


def spot_market(market_id: str, markets_by_id: Mapping[str, list[dict]] | None) -> dict | None:
    """The unambiguous spot market of ``market_id`` without a contract size, else None.

    Anything else (unknown id → ccxt's "empty market", several markets per id → ccxt raises,
    a contract market → contract-size cost math) is left to ccxt.
    """
    if not market_id or markets_by_id is None:
        return None
    found = markets_by_id.get(market_id)
    if found is None or len(found) != 1:
        return None
    market = found[0]
    if market.get("spot") is not True or market.get("contractSize") is not None:
        return None
    return market


# -- channel decoders ----------------------------------------------------------------------


def book_ticker(msg: PushDataV3ApiWrapper, market: Mapping[str, Any]) -> dict[str, Any]:
    """The ticker dict of ``handle_ticker`` (``parse_ws_ticker`` + ``safe_ticker``).

    The timestamp is the wrapper's ``sendTime`` (MEXC's book ticker body has none).
    """
    body = msg.publicAggreBookTicker
    fields = bid, bid_qty, ask, ask_qty = body.bidPrice, body.bidQuantity, body.askPrice, body.askQuantity
    info = {name: value for name, value in zip(_BOOK_TICKER_FIELDS, fields, strict=True) if value}
    ts = int(float(msg.sendTime)) if msg.HasField("sendTime") else None
    return {
        "info": info,
        "symbol": market["symbol"],
        "timestamp": ts,
        "datetime": iso8601(ts),
        "open": None,
        "high": None,
        "low": None,
        "close": None,
        "last": None,
        "bid": price(bid),
        "bidVolume": number(bid_qty),
        "ask": price(ask),
        "askVolume": number(ask_qty),
        "vwap": None,
        "previousClose": None,
        "change": None,
        "percentage": None,
        "average": None,
        "baseVolume": None,
        "quoteVolume": None,
        "indexPrice": None,
        "markPrice": None,
    }


def deals(msg: PushDataV3ApiWrapper, market: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trade dicts of ``handle_trades`` (``parse_ws_trade`` + ``safe_trade``), in order.

    Public deals carry no id, order, maker flag or fee, hence the constant fields.
    """
    symbol = market["symbol"]
    out = []
    for deal in msg.publicAggreDeals.deals:
        p, q, side, t = deal.price, deal.quantity, deal.tradeType, deal.time
        info: dict[str, Any] = {}
        if p:
            info["price"] = p
        if q:
            info["quantity"] = q
        if side:
            info["tradeType"] = side
        if t:
            info["time"] = str(t)
        ts = _int64_ms(t)
        out.append(
            {
                "info": info,
                "id": None,
                "order": None,
                "timestamp": ts,
                "datetime": iso8601(ts),
                "symbol": symbol,
                "type": None,
                "side": "buy" if side == 1 else "sell",
                "takerOrMaker": "taker",
                "price": number(p),
                "amount": number(q),
                "cost": exact_product(p, q),
                "fee": {"cost": None, "currency": None},
                "fees": [],
            }
        )
    return out


def kline(msg: PushDataV3ApiWrapper) -> list[Any]:
    """The candle of ``handle_ohlcv``: ``[open ms, o, h, l, c, volume]`` (MEXC sends seconds)."""
    body = msg.publicSpotKline
    start = body.windowStart
    return [
        int(float(start) * 1000) if start else None,
        number(body.openingPrice),
        number(body.highestPrice),
        number(body.lowestPrice),
        number(body.closingPrice),
        number(body.volume),
    ]


def _kline_symbol(
    market_id: str, markets: Mapping[str, Any] | None, markets_by_id: Mapping[str, list[dict]] | None
) -> str | None:
    """ccxt's ``self.symbol(market_id)`` when it is unambiguous, else None."""
    if not market_id or markets is None or markets_by_id is None or market_id in markets:
        return None
    found = markets_by_id.get(market_id)
    return found[0]["symbol"] if found is not None and len(found) == 1 else None


def _timeframe(interval: str, timeframes: Mapping[str, str] | None) -> str | None:
    """ccxt's ``find_timeframe``: the first unified timeframe whose MEXC id is ``interval``."""
    if not interval or not timeframes:
        return None
    return next((key for key, value in timeframes.items() if value == interval), None)


def decode(
    msg: PushDataV3ApiWrapper,
    markets: Mapping[str, Any] | None,
    markets_by_id: Mapping[str, list[dict]] | None,
    timeframes: Mapping[str, str] | None = None,
    cid: str | None = None,
) -> Update | None:
    """What ccxt would store and resolve for ``msg``, or None to let ccxt handle it.

    ``markets``/``markets_by_id``/``timeframes`` are the exchange's ``markets``,
    ``markets_by_id`` and ``options['timeframes']``; ``cid`` is ``channel_id(msg.channel)``
    when the caller has it already. May raise on values ccxt would choke on; callers treat
    that like None.
    """
    if cid is None:
        cid = channel_id(msg.channel)
    body = msg.WhichOneof("body")
    if cid == BOOK_TICKER_CHANNEL:
        market = spot_market(msg.symbol, markets_by_id)
        if market is None or body != "publicAggreBookTicker":
            return None
        return TickerUpdate(market["symbol"], book_ticker(msg, market))
    if cid == DEALS_CHANNEL:
        market = spot_market(msg.symbol, markets_by_id)
        if market is None or body != "publicAggreDeals" or not msg.publicAggreDeals.deals:
            return None
        return TradesUpdate(market["symbol"], deals(msg, market))
    if cid == KLINE_CHANNEL:
        symbol = _kline_symbol(msg.symbol, markets, markets_by_id)
        timeframe = _timeframe(msg.publicSpotKline.interval, timeframes)
        if symbol is None or timeframe is None or body != "publicSpotKline":
            return None
        return OhlcvUpdate(symbol, timeframe, kline(msg))
    return None
