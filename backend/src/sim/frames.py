"""Pure builders of the websocket frames MEXC sends: protobuf for spot, JSON for contracts.

Spot pushes are built with the protobuf classes ccxt itself ships
(``ccxt.protobuf.mexc``), so whatever ccxt can decode, the simulator produces. Fields MEXC
added on 2026-06-17 (deal ``tradeId``, book ticker ``version``/``lastOrderCreateTime``, depth
``lastOrderCreateTime``) are missing from those classes but are on the real wire, so they are
appended as raw fields with the official numbers; ccxt skips them as unknown fields. Which
wrapper metadata is set depends on the channel, as recorded: kline frames carry ``symbolId``
and ``createTime`` but no ``sendTime``; deals, depth and book ticker only ``sendTime``. Numbers
arrive here as integer ticks/lots and are formatted exactly (no float rounding) so a test
can compare streamed values with REST values digit for digit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
from ccxt.protobuf.mexc import PushDataV3ApiWrapper_pb2 as wrapper_pb2

from .bars import Bar, Trade
from .intervals import Interval
from .market_model import BookTicker, DepthDelta, SimMarket, Stats24h, SymbolModel

DEALS_EVENT = "spot@public.aggre.deals.v3.api.pb"
BOOK_TICKER_EVENT = "spot@public.aggre.bookTicker.v3.api.pb"
DEPTH_EVENT = "spot@public.aggre.depth.v3.api.pb"
KLINE_EVENT = "spot@public.kline.v3.api.pb"


# -- number formatting -------------------------------------------------------------------


def fmt_scaled(value: int, decimals: int) -> str:
    """Integer ``value`` scaled by 10**-decimals as an exact decimal string."""
    if decimals <= 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def trim(number: str) -> str:
    """Drop trailing zeros (and a bare dot): "84270.00" -> "84270", "0.00638700" -> "0.006387".

    MEXC prints one level differently per channel (recorded): REST depth and book ticker pad
    to the market's decimals, while REST klines, the 24 h ticker and every protobuf push
    (deals, book ticker, depth, kline) trim. A removed depth level is "0" on aggre depth.
    """
    if "." not in number:
        return number
    return number.rstrip("0").rstrip(".")


def price_str(market: SimMarket, ticks: int, *, trimmed: bool = False) -> str:
    text = fmt_scaled(ticks, market.price_decimals)
    return trim(text) if trimmed else text


def qty_str(market: SimMarket, lots: int, *, trimmed: bool = False) -> str:
    text = fmt_scaled(lots, market.qty_decimals)
    return trim(text) if trimmed else text


def quote_str(market: SimMarket, ticks_lots: int, *, trimmed: bool = False) -> str:
    text = fmt_scaled(ticks_lots, market.price_decimals + market.qty_decimals)
    return trim(text) if trimmed else text


def contracts(market: SimMarket, lots: int) -> int:
    """Base-unit lots as whole contracts (MEXC contract volumes count contracts), >= 1."""
    return max(1, round(lots / 10**market.qty_decimals / market.contract_size))


# MEXC's fixed 32-hex symbol ids, as recorded (the same in 2025 and 2026).
KNOWN_SYMBOL_IDS = {
    "BTCUSDT": "2fb942154ef44a4ab2ef98c8afb6a4a7",
    "BTCUSDC": "c7e899ca05814c20b4b1c853946a0c89",
}


def symbol_id_hash(symbol_id: str) -> str:
    """MEXC's opaque ``symbolId`` of a market: the recorded one, else a stable stand-in."""
    known = KNOWN_SYMBOL_IDS.get(symbol_id)
    if known is not None:
        return known
    return hashlib.md5(symbol_id.encode()).hexdigest()  # not security relevant


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def raw_field(number: int, value: str | int) -> bytes:
    """One protobuf field on the wire: a string (wire type 2) or an int64 varint (wire type 0)."""
    if isinstance(value, str):
        data = value.encode()
        return _varint(number << 3 | 2) + _varint(len(data)) + data
    return _varint(number << 3) + _varint(value)


def append_raw(msg: Any, *fields: tuple[int, str | int]) -> None:
    """Add fields the generated class does not know; protobuf keeps and re-serialises them
    as unknown fields after the known ones, which is where the official encoder puts them."""
    msg.MergeFromString(b"".join(raw_field(n, v) for n, v in fields))


def trade_id(trade: Trade, index: int) -> str:
    """A 2026-06 deal ``tradeId``: two consecutive 18-digit ids, each suffixed ``X0``
    (``731901896985399296X0_731901896985399297X0``)."""
    first = trade.ts * 400_000 + 2 * index
    return f"{first}X0_{first + 1}X0"


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


# -- spot (protobuf and JSON control frames) ---------------------------------------------


def spot_ack(msg: str) -> str:
    """MEXC's answer to SUBSCRIPTION/UNSUBSCRIPTION/PING: ``{"id":0,"code":0,"msg":...}``."""
    return dumps({"id": 0, "code": 0, "msg": msg})


SPOT_PONG = spot_ack("PONG")


def spot_sub_failed(channels: Iterable[str], reason: str) -> str:
    """The failure text MEXC uses; note the full-width colon after "Reason"."""
    return spot_ack(f"Not Subscribed successfully! [{','.join(channels)}].  Reason： {reason}")


def _wrapper(
    channel: str, market: SimMarket, send_ms: int, *, kline: bool = False
) -> wrapper_pb2.PushDataV3ApiWrapper:
    """Wrapper metadata as recorded: kline frames symbolId + createTime, the others sendTime."""
    msg = wrapper_pb2.PushDataV3ApiWrapper()
    msg.channel = channel
    msg.symbol = market.spot_id
    if kline:
        msg.symbolId = symbol_id_hash(market.spot_id)
        msg.createTime = send_ms
    else:
        msg.sendTime = send_ms
    return msg


def _event_type(channel: str) -> str:
    """``spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT`` -> ``...pb@100ms``."""
    return channel.rsplit("@", 1)[0]


def pb_deals(channel: str, market: SimMarket, trades: list[Trade], send_ms: int) -> bytes:
    msg = _wrapper(channel, market, send_ms)
    body = msg.publicAggreDeals
    body.eventType = _event_type(channel)
    for i, t in enumerate(trades):
        item = body.deals.add()
        item.price = price_str(market, t.price, trimmed=True)
        item.quantity = qty_str(market, t.qty, trimmed=True)
        item.tradeType = t.side
        item.time = t.ts
        append_raw(item, (5, trade_id(t, i)))  # tradeId (2026-06)
    return msg.SerializeToString()


def pb_book_ticker(
    channel: str,
    market: SimMarket,
    bt: BookTicker,
    send_ms: int,
    version: int | None = None,
    last_order_ms: int | None = None,
) -> bytes:
    """``version`` is the book version the ticker reflects and ``last_order_ms`` the time of
    the order that last changed it (2026-06 fields 5 and 6; default: send time)."""
    msg = _wrapper(channel, market, send_ms)
    body = msg.publicAggreBookTicker
    body.bidPrice = price_str(market, bt.bid, trimmed=True)
    body.bidQuantity = qty_str(market, bt.bid_qty, trimmed=True)
    body.askPrice = price_str(market, bt.ask, trimmed=True)
    body.askQuantity = qty_str(market, bt.ask_qty, trimmed=True)
    extra: list[tuple[int, str | int]] = []
    if version is not None:
        extra.append((5, str(version)))
    extra.append((6, send_ms if last_order_ms is None else last_order_ms))
    append_raw(body, *extra)
    return msg.SerializeToString()


def pb_depth(
    channel: str, market: SimMarket, delta: DepthDelta, send_ms: int, last_order_ms: int | None = None
) -> bytes:
    """Aggregated depth delta; ``last_order_ms`` is the 2026-06 field 6 (default: send time)."""
    msg = _wrapper(channel, market, send_ms)
    body = msg.publicAggreDepths
    body.eventType = _event_type(channel)
    body.fromVersion = str(delta.from_version)
    body.toVersion = str(delta.to_version)
    for side, levels in ((body.bids, delta.bids), (body.asks, delta.asks)):
        for price, qty in levels:
            item = side.add()
            item.price = price_str(market, price, trimmed=True)
            item.quantity = qty_str(market, qty, trimmed=True)
    append_raw(body, (6, send_ms if last_order_ms is None else last_order_ms))  # lastOrderCreateTime
    return msg.SerializeToString()


def pb_kline(channel: str, market: SimMarket, interval: Interval, bar: Bar, send_ms: int) -> bytes:
    msg = _wrapper(channel, market, send_ms, kline=True)
    body = msg.publicSpotKline
    body.interval = interval.ws_id
    body.windowStart = bar.open_ms // 1000  # MEXC sends seconds here
    body.windowEnd = interval.next_open(bar.open_ms) // 1000
    body.openingPrice = price_str(market, bar.open, trimmed=True)
    body.closingPrice = price_str(market, bar.close, trimmed=True)
    body.highestPrice = price_str(market, bar.high, trimmed=True)
    body.lowestPrice = price_str(market, bar.low, trimmed=True)
    body.volume = qty_str(market, bar.volume, trimmed=True)
    body.amount = quote_str(market, bar.quote, trimmed=True)
    return msg.SerializeToString()


def pb_unknown_channel(market: SimMarket, send_ms: int) -> bytes:
    """A well-formed wrapper on a channel ccxt does not know (fault injection)."""
    msg = _wrapper(f"spot@public.unknown.v3.api.pb@100ms@{market.spot_id}", market, send_ms)
    msg.publicAggreBookTicker.bidPrice = "1"
    return msg.SerializeToString()


# -- contracts (JSON) --------------------------------------------------------------------


def swap_push(channel: str, symbol: str, data: Any, ts: int) -> str:
    """``{"symbol":..,"data":..,"channel":"push.ticker","ts":..}`` as MEXC sends it."""
    return dumps({"symbol": symbol, "data": data, "channel": channel, "ts": ts})


def swap_response(method: str, data: Any, ts: int) -> str:
    """Reply to ``sub.x``/``unsub.x``: ``{"channel":"rs.sub.x","data":"success","ts":..}``."""
    return dumps({"channel": f"rs.{method}", "data": data, "ts": ts})


def swap_error(message: str, ts: int) -> str:
    """Refusal: ``{"channel":"rs.error","data":"Contract [X] not exists","ts":..}``."""
    return dumps({"channel": "rs.error", "data": message, "ts": ts})


def swap_no_contract(symbol: str) -> str:
    """The live refusal text for an unknown contract (the docs say "Contract doesn't exist!")."""
    return f"Contract [{symbol}] not exists"


SWAP_BAD_INTERVAL = "Not support interval"


def swap_pong(ts: int) -> str:
    """Live pong: ``data`` and ``ts`` both the server time in ms (the docs omit ``ts``)."""
    return dumps({"channel": "pong", "data": ts, "ts": ts})


def _f(ticks: int, market: SimMarket) -> float:
    return ticks / 10**market.price_decimals


# MEXC's numeric contract ids where recorded; others get a stable id from their name.
KNOWN_CONTRACT_IDS = {"BTC_USDT": 10, "ETH_USDT": 11, "SOL_USDT": 51}


def contract_id(perp_id: str) -> int:
    """The ``id`` of contract/detail and ``contractId`` of the REST ticker."""
    known = KNOWN_CONTRACT_IDS.get(perp_id)
    if known is not None:
        return known
    return 1000 + int(hashlib.md5(perp_id.encode()).hexdigest()[:6], 16) % 100_000


def swap_ticker_data(sm: SymbolModel, stats: Stats24h, now_ms: int, *, rest: bool = False) -> dict[str, Any]:
    """Contract ticker as in ``push.ticker`` or, with ``rest``, ``/api/v1/contract/ticker``.

    ``volume24`` and ``holdVol`` count contracts; ``fundingRate`` lives only here. The two
    differ as recorded: REST adds ``contractId`` and gives ``riseFallRates`` as an object
    ``{r,r7,r30,r90,r180,r365,v,zone}`` without a top-level ``zone``; the push has ``zone`` and
    ``riseFallRates`` as an array of six rates.
    """
    m = sm.market
    bid, ask = (sm.bids and max(sm.bids)) or sm.mid, (sm.asks and min(sm.asks)) or sm.mid
    change = stats.last - stats.open
    rate = round(change / stats.open, 4) if stats.open else 0.0
    last = _f(stats.last, m)
    data: dict[str, Any] = {
        "symbol": m.perp_id,
        "lastPrice": last,
        "riseFallRate": rate,
        "fairPrice": _f(sm.mid, m),
        "indexPrice": _f(sm.mid, m),
        "volume24": contracts(m, stats.volume) if stats.volume else 0,
        "amount24": round(stats.quote / 10 ** (m.price_decimals + m.qty_decimals), 4),
        "maxBidPrice": round(last * 1.1, m.price_decimals),
        "minAskPrice": round(last * 0.9, m.price_decimals),
        "lower24Price": _f(stats.low, m),
        "high24Price": _f(stats.high, m),
        "timestamp": now_ms,
        "bid1": _f(bid, m),
        "ask1": _f(ask, m),
        "holdVol": sm.hold_vol,
        "riseFallValue": _f(change, m),
        "fundingRate": round(sm.funding_rate, 6),
        "zone": "UTC+8",
        "riseFallRates": [rate, 0.0, 0.0, 0.0, 0.0, 0.0],
        "riseFallRatesOfTimezone": [rate, rate, rate],
    }
    if rest:
        del data["zone"]
        data["contractId"] = contract_id(m.perp_id)
        data["riseFallRates"] = {
            "r": rate,
            "r7": 0.0,
            "r30": 0.0,
            "r90": 0.0,
            "r180": 0.0,
            "r365": 0.0,
            "v": data["riseFallValue"],
            "zone": "UTC+8",
        }
    return data


def next_settle_ms(now_ms: int, cycle_hours: int = 8) -> int:
    """Next funding settlement (00:00, 08:00, 16:00 UTC for an 8 h cycle)."""
    cycle = cycle_hours * 3_600_000
    return (now_ms // cycle + 1) * cycle


def swap_funding_data(sm: SymbolModel, now_ms: int) -> dict[str, Any]:
    """``push.funding.rate`` body: symbol, rate, nextSettleTime."""
    return {
        "symbol": sm.market.perp_id,
        "rate": round(sm.funding_rate, 6),
        "nextSettleTime": next_settle_ms(now_ms),
    }


def swap_deals_data(market: SimMarket, trades: list[Trade]) -> list[dict[str, Any]]:
    """``push.deal`` body: p price, v contracts, T 1 buy/2 sell, O 3, M 2, t ms."""
    return [
        {"p": _f(t.price, market), "v": contracts(market, t.qty), "T": t.side, "O": 3, "M": 2, "t": t.ts}
        for t in trades
    ]


def swap_depth_levels(market: SimMarket, levels: list[tuple[int, int]]) -> list[list[float]]:
    """Contract book levels ``[price, contracts, order count]`` (qty 0 = level removed)."""
    return [[_f(p, market), contracts(market, q) if q else 0, 1 if q else 0] for p, q in levels]


def swap_depth_data(market: SimMarket, delta: DepthDelta) -> dict[str, Any]:
    return {
        "asks": swap_depth_levels(market, delta.asks),
        "bids": swap_depth_levels(market, delta.bids),
        "begin": delta.from_version,
        "end": delta.to_version,
        "version": delta.to_version,
    }


def swap_kline_data(market: SimMarket, interval: Interval, bar: Bar) -> dict[str, Any]:
    o, c, h, lo = (_f(x, market) for x in (bar.open, bar.close, bar.high, bar.low))
    return {
        "symbol": market.perp_id,
        "interval": interval.ws_id,
        "t": bar.open_ms // 1000,
        "o": o,
        "c": c,
        "h": h,
        "l": lo,
        "a": round(bar.quote / 10 ** (market.price_decimals + market.qty_decimals), 4),
        "q": contracts(market, bar.volume),
        "ro": o,
        "rc": c,
        "rh": h,
        "rl": lo,
    }
