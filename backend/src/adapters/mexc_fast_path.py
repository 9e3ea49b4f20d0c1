"""Fast decode of MEXC's hot spot push channels into the fields the adapter reads.

Why: ccxt decodes every spot protobuf push with ``MessageToDict`` and then runs its generic
``safe_*`` parsing, about 100 µs per frame on a small VM, i.e. ~9 k frames/s per core for
everything on one event loop. The book-ticker and aggregated-deals channels carry almost all
of that traffic. Reading the protobuf fields directly does the same job in a few µs.

Contract (the same bid/ask/price/amount/side/timestamps as ccxt's own handling):
for every frame these functions accept, the dicts they build hold exactly the values ccxt.pro
4.5.x computes for the same keys, and nothing else:

* book ticker → ``{symbol, timestamp, bid, ask}`` (what ``mexc_parsing.parse_book_ticker``
  and ``mexc_quiet.judge_silence`` read), stored in ``exchange.tickers[symbol]``;
* deals → one ``{symbol, timestamp, side, price, amount}`` per trade (what
  ``mexc_parsing.parse_trades`` reads; ``symbol`` is what ccxt's ``ArrayCache.append`` counts
  ``newUpdates`` by and ``MexcWsClient.watch_trades`` reads), appended to ``trades[symbol]``;
* kline → the candle ``[open ms, o, h, l, c, volume]`` ccxt appends to ``ohlcvs``.

ccxt's ``info``, ``datetime``, ``cost``, fee and volume fields are not built: nothing in the
md path reads them, and building them was two thirds of the decode (an ``iso8601`` string, an
exact decimal product and three extra containers per trade). ccxt's caches, futures, message
hashes and ``newUpdates`` counts are driven exactly as ccxt drives them.
``backend/tests/unit/test_fast_path.py`` checks all of this differentially against ccxt.

Every frame of an unexpected shape (unknown or ambiguous market, non-spot market, a body
that does not match the channel, an empty deals list, a trade price or quantity that is not
a plain decimal, unknown kline interval, ...) makes :func:`decode` return ``None``, and any
exception while decoding means the same: the caller then lets ccxt's own handler process the
frame, so odd frames keep ccxt's exact behaviour (including raising — ccxt's exact ``cost``
product raises on numbers like ``"abc"`` or ``"inf"`` — and any partial state change ccxt
makes before it raises).

Why no ``bidsasks`` update: ccxt's ``handle_bid_ask`` reads keys (``s``, ``d``) that decoded
protobuf frames never have, so for these frames it returns without any effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ccxt.protobuf.mexc.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper

#: second field of the channel name (``spot@<id>@...``), which ccxt dispatches on.
BOOK_TICKER_CHANNEL = "public.aggre.bookTicker.v3.api.pb"
DEALS_CHANNEL = "public.aggre.deals.v3.api.pb"
KLINE_CHANNEL = "public.kline.v3.api.pb"

#: The keys the fast path builds (tests compare exactly these against ccxt's dicts).
TICKER_FIELDS = ("symbol", "timestamp", "bid", "ask")
TRADE_FIELDS = ("symbol", "timestamp", "side", "price", "amount")

#: Integers up to this magnitude survive ccxt's ``int(float(str(n)))`` unchanged.
_EXACT_INT = 2**53


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


def plain_decimal(text: str) -> bool:
    """ASCII digits with at most one dot and at least one digit (``"93220.00"``, ``"5."``).

    For these ``float(text)`` is ccxt's ``parse_number`` and ccxt's exact ``Precise`` cost
    product cannot raise; anything else (``""``, ``"-1"``, ``"1e-7"``, ``"inf"``, ``" 7"``)
    is left to ccxt. Inlined in :func:`deals`; kept here for tests and readers.
    """
    return text.isascii() and text.replace(".", "", 1).isdecimal()


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
    """``{symbol, timestamp, bid, ask}`` as ``handle_ticker`` computes them.

    The timestamp is the wrapper's ``sendTime`` (MEXC's book ticker body has none); ccxt
    reads it through ``MessageToDict`` (an int64 string, present whenever the field is set)
    and ``safe_integer``, which keeps any integer up to 2**53 as is.
    """
    body = msg.publicAggreBookTicker
    symbol = market["symbol"]
    t = msg.sendTime
    if not 0 < t <= _EXACT_INT:
        t = int(float(t)) if msg.HasField("sendTime") else None
    return {"symbol": symbol, "timestamp": t, "bid": price(body.bidPrice), "ask": price(body.askPrice)}


def deals(msg: PushDataV3ApiWrapper, market: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """``{symbol, timestamp, side, price, amount}`` per trade as ``handle_trades`` computes
    them, in order; None (leave the frame to ccxt) if a price or quantity is not a plain
    decimal (see :func:`plain_decimal`)."""
    symbol = market["symbol"]
    out = []
    append = out.append
    for deal in msg.publicAggreDeals.deals:
        p, q, t = deal.price, deal.quantity, deal.time
        if not (p.isascii() and q.isascii()):
            return None
        if not (p.replace(".", "", 1).isdecimal() and q.replace(".", "", 1).isdecimal()):
            return None
        append(
            {
                "symbol": symbol,
                "timestamp": t if 0 < t <= _EXACT_INT else _int64_ms(t),
                "side": "buy" if deal.tradeType == 1 else "sell",
                "price": float(p),
                "amount": float(q),
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
    """What ccxt would store and resolve for ``msg`` (narrowed to the contract's fields), or
    None to let ccxt handle it.

    ``markets``/``markets_by_id``/``timeframes`` are the exchange's ``markets``,
    ``markets_by_id`` and ``options['timeframes']``; ``cid`` is ``channel_id(msg.channel)``
    when the caller has it already. May raise on values ccxt would choke on; callers treat
    that like None.
    """
    if cid is None:
        cid = channel_id(msg.channel)
    if cid == DEALS_CHANNEL:
        market = spot_market(msg.symbol, markets_by_id)
        if market is None or msg.WhichOneof("body") != "publicAggreDeals" or not msg.publicAggreDeals.deals:
            return None
        trades = deals(msg, market)
        return None if trades is None else TradesUpdate(market["symbol"], trades)
    if cid == BOOK_TICKER_CHANNEL:
        market = spot_market(msg.symbol, markets_by_id)
        if market is None or msg.WhichOneof("body") != "publicAggreBookTicker":
            return None
        return TickerUpdate(market["symbol"], book_ticker(msg, market))
    if cid == KLINE_CHANNEL:
        symbol = _kline_symbol(msg.symbol, markets, markets_by_id)
        timeframe = _timeframe(msg.publicSpotKline.interval, timeframes)
        if symbol is None or timeframe is None or msg.WhichOneof("body") != "publicSpotKline":
            return None
        return OhlcvUpdate(symbol, timeframe, kline(msg))
    return None
