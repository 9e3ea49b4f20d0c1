"""A ``ccxt.pro.mexc`` whose connections survive malformed frames.

Why: ccxt handles each websocket frame inside a done-callback of its receive task and only
schedules the next receive *after* the handler returns. A frame that fails to decode (garbage
bytes, truncated protobuf, invalid JSON) raises out of that callback, so the receive loop stops
for good: the connection stays open, pings go unanswered from our side's point of view, and
every stream on it goes silent until ccxt's ping watchdog fires 16–24 s later. One bad frame
from the exchange must cost one dropped message, not 20 s of blindness on up to 30 streams.

The guard sits at the connection (ccxt's ``Client``), the only place that sees every frame
before JSON or protobuf decoding. Each malformed frame is counted per connection URL and
logged (rate-limited), and the receive loop goes on.

The client also has a fast path for the hot spot channels (book ticker, aggregated deals,
klines): ccxt spends ~100 µs per protobuf push in ``MessageToDict`` and generic parsing; the
fast path (:mod:`.mexc_fast_path`) reads the protobuf fields directly and stores and resolves
the fields the feed reads (symbol, timestamp, bid, ask, side, price, amount) with the values
ccxt would give them, in a few µs; the contract ``push.ticker`` (JSON) has one too
(:mod:`.mexc_fast_contract`: symbol, timestamp, last price and the raw body). Anything else,
and any frame of an unexpected shape, still goes through ccxt's own handler.

A :class:`WireTap` may see every connection's wire at the same place: a session recording
(``recording.hooks``), the doctor's log, or a replay standing in for the network.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

import ccxt.pro as ccxt_pro
from ccxt.async_support.base.ws.cache import ArrayCache, ArrayCacheByTimestamp
from ccxt.async_support.base.ws.client import Client

from ..errors import SubscriptionRejected
from . import mexc_fast_contract as fast_contract
from . import mexc_fast_path as fast
from .mexc_subscriptions import (
    ContractRefusal,
    contract_refusal,
    message_hash,
    rejected_channels,
    swap_hashes_of,
)

log = logging.getLogger(__name__)

#: Log the first few malformed frames per connection, then every this-many-th.
LOG_EVERY = 1000

#: Default ``options['tradesLimit']``, the size of ccxt's per-symbol trade cache (ccxt's own
#: default is 1000). Why it can be this small: ``watch_trades`` returns the trades appended
#: since its previous return (``newUpdates``), at most the cache size, so a consumer gets every
#: trade as long as fewer than this many arrive for one symbol between two of its returns. The
#: adapter's trade stream calls ``watch_trades`` again as soon as it has handed one push to the
#: feeder, so normally one MEXC push lies between two returns: 100 ms of aggregated deals, a
#: few dozen trades at most. A backlogged loop can let several pushes of a symbol pile up
#: (ccxt handles every buffered frame before the consumer task runs again); 200 leaves room
#: for about four busy pushes, or a second of ordinary ones. Trades pushed out of the cache
#: before the consumer saw them are counted in ``MexcWsClient.trades_overflow``, never silent.
#: Memory: a cached trade is a small dict (five fields on the fast path, ~1.3 KB with all of
#: ccxt's), so 200 of them cost at most ~25 MB per 100 symbols instead of ~127.
DEFAULT_TRADES_LIMIT = 200

#: Fast path on unless ``fast_path=False`` or ``options['fastPath'] = False``. It is on by
#: default because ``backend/tests/unit/test_fast_path.py`` shows, frame by frame, that it
#: stores and resolves the same symbol/timestamp/bid/ask/side/price/amount as ccxt, and that
#: the adapter's records built from them are identical; a ccxt upgrade that fails that test must
#: turn this off until the fast path is brought in line.
FAST_PATH_DEFAULT = True


class WireTap(Protocol):
    """What sees the wire of a client's connections: a session recording, the doctor's log,
    or a replay that stands in for the network.

    Why at the connection (ccxt's ``Client``): it is the one place that sees every message
    before decoding, every dial and everything sent, so what a tap records is exactly what the
    library consumed, and what a replay hands in goes through exactly the library's decoding.
    """

    def register(self, ws: MexcWsClient) -> int:
        """A number for a new websocket client: a replay matches connections by it and URL."""

    def connect(self, conn: GuardedClient, dial: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        """ccxt opens ``conn``: return what opens it (``dial()``, watched, or a stand-in)."""

    def received(self, conn: GuardedClient, message: Any) -> None:
        """Every aiohttp message of ``conn``, before ccxt handles it (kept cheap: hot path)."""

    def sent(self, conn: GuardedClient, message: Any) -> None:
        """What the client sends on ``conn`` (subscriptions, pings)."""

    def ended(self, conn: GuardedClient, code: int | None, error: BaseException | None) -> None:
        """ccxt closes ``conn`` (close ``code``) or fails it (``error``)."""


class GuardedClient(Client):
    """ccxt ws ``Client`` that counts and skips frames its handlers cannot parse, and
    remembers which message hashes have had a result on this connection (``delivered``)."""

    malformed: Counter[str]
    #: message hashes resolved at least once on this connection: a refusal that names no
    #: subscription can only concern a watch that never had a result.
    delivered: set[str]
    #: ``time.perf_counter()`` when the latest frame arrived: the start of parse latency.
    last_rx: float = 0.0
    #: what sees this connection's wire (:class:`WireTap`); None: nothing does.
    tap: WireTap | None = None
    #: the tap's numbers of this connection's client and of its latest dial.
    tap_client: int = 0
    tap_conn: int = 0
    #: True while ccxt handles frames it drained from aiohttp's buffer in one go.
    draining: bool = False

    def resolve(self, result: Any, message_hash: str) -> Any:
        self.delivered.add(message_hash)
        return super().resolve(result, message_hash)

    def receive_loop(self) -> None:
        """ccxt's receive loop, marking the frames it drains from aiohttp's buffer in one go:
        no other task runs between them, so a replay must hand them over the same way."""
        self.draining = True
        try:
            super().receive_loop()
        finally:
            self.draining = False

    def create_connection(self, session: Any) -> Awaitable[Any]:
        dial = partial(super().create_connection, session)
        return dial() if self.tap is None else self.tap.connect(self, dial)

    async def send(self, message: Any) -> Any:
        if self.tap is not None:
            self.tap.sent(self, message)
        return await super().send(message)

    def on_close(self, code: int) -> None:
        if self.tap is not None:
            self.tap.ended(self, code, None)
        super().on_close(code)

    def on_error(self, error: BaseException) -> None:
        if self.tap is not None:
            self.tap.ended(self, None, error)
        super().on_error(error)

    def handle_message(self, message: Any) -> Any:
        self.last_rx = time.perf_counter()
        if self.tap is not None:
            self.tap.received(self, message)
        try:
            return super().handle_message(message)
        except Exception as exc:  # a bad frame is data, not a reason to stop receiving
            self.malformed[self.url] += 1
            n = self.malformed[self.url]
            if n <= 3 or n % LOG_EVERY == 0:
                log.warning("%s: malformed frame #%d dropped: %s: %s", self.url, n, type(exc).__name__, exc)
            return None


class MexcWsClient(ccxt_pro.mexc):
    """``ccxt.pro.mexc`` with :class:`GuardedClient` connections and the fast paths.

    ``malformed`` counts dropped frames per connection URL. ``fast_path`` (constructor
    keyword, else ``options['fastPath']``, else :data:`FAST_PATH_DEFAULT`) may be switched at
    any time; ``fast_frames``/``fast_fallbacks`` count hot-channel frames decoded fast and
    handed to ccxt (odd shapes, unknown markets), so a silent fallback is visible.
    ``options['tradesLimit']`` defaults to :data:`DEFAULT_TRADES_LIMIT`; ``trades_overflow``
    counts, per symbol, trades that left the cache before ``watch_trades`` returned them.
    ``rejections`` counts MEXC's subscription refusals by cause (the refusal's text), each
    cause logged once. ``tap`` (a :class:`WireTap`) sees the wire of every connection.
    """

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        fast_path: bool | None = None,
        tap: WireTap | None = None,
    ) -> None:
        super().__init__(config or {})
        self.tap = tap
        self.tap_client = tap.register(self) if tap is not None else 0
        self.options.setdefault("tradesLimit", DEFAULT_TRADES_LIMIT)
        self.malformed: Counter[str] = Counter()
        self.trades_overflow: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        if fast_path is None:
            fast_path = bool(self.safe_bool(self.options, "fastPath", FAST_PATH_DEFAULT))
        self.fast_path = fast_path
        self.fast_frames = 0
        self.fast_fallbacks = 0

    def client(self, url: str) -> Client:
        client = super().client(url)
        if not isinstance(client, GuardedClient):
            # ccxt builds the Client itself; re-class the fresh instance rather than copy
            # ccxt's option plumbing. GuardedClient adds behaviour and two attributes.
            client.__class__ = GuardedClient
            client.malformed = self.malformed
            client.delivered = set()
            client.tap, client.tap_client = self.tap, self.tap_client
        return client

    async def watch_trades(
        self, symbol: str, since: int | None = None, limit: int | None = None, params: dict | None = None
    ) -> list[dict[str, Any]]:
        """ccxt's ``watch_trades``, counting trades the bounded cache dropped unseen.

        With ``newUpdates`` (ccxt's default) ccxt returns the last ``getLimit`` trades, the
        count appended since its previous return, but the cache holds only ``tradesLimit`` of
        them: the difference is lost. The count stays as ccxt read it until the next append,
        and nothing can append between ccxt's read and this check (no ``await`` in between).
        Only the plain call is checked: ``since``/``limit`` filter on purpose.
        """
        trades = await super().watch_trades(symbol, since, limit, params or {})
        if self.newUpdates and since is None and limit is None and trades:
            unified = trades[-1]["symbol"]
            lost = (self.trades[unified].getLimit(unified, None) or 0) - len(trades)
            if lost > 0:
                before = self.trades_overflow[symbol]
                self.trades_overflow[symbol] += lost
                if before == 0 or before // LOG_EVERY != (before + lost) // LOG_EVERY:
                    log.warning(
                        "%s: %d trades left ccxt's cache (tradesLimit %s) unread; %d so far",
                        symbol,
                        lost,
                        self.options.get("tradesLimit"),
                        before + lost,
                    )
        return trades

    # ------------------------------------------------------------------ fast path
    def handle_message(self, client: Client, message: Any) -> None:
        if self.fast_path:
            if isinstance(message, bytes | bytearray):
                if self._handle_fast(client, message):
                    return
            elif type(message) is dict and message.get("channel") == fast_contract.SWAP_TICKER_CHANNEL:
                if self._handle_fast_swap_ticker(client, message):
                    return
        if self._handle_rejection(client, message):
            return
        super().handle_message(client, message)

    def _handle_rejection(self, client: Client, message: Any) -> bool:
        """Turn MEXC's subscription refusals into errors on the waiting watches.

        ccxt ignores them and its ``watch_*`` waits forever; here the refused subscription is
        forgotten (so the next watch subscribes again) and its future rejected with
        :class:`SubscriptionRejected`, which the adapter's supervisor retries and counts.
        Spot refusals name their channels; contract ``rs.error`` frames see
        :meth:`_reject_contract`.
        """
        refusal = rejected_channels(message)
        if refusal is None:
            contract = contract_refusal(message)
            if contract is None:
                return False
            self._reject_contract(client, contract)
            return True
        channels, reason = refusal
        # options['timeframes'] mixes the websocket ids ('1m': 'Min1') with REST's per-type dicts
        timeframes = {
            v: k for k, v in self.safe_dict(self.options, "timeframes", {}).items() if isinstance(v, str)
        }
        for channel in channels:
            hash_ = message_hash(channel, self._symbol_of, timeframes)
            self._count_rejection(client, f"{channel}: {reason}")
            # ccxt.pro mexc's watch_spot_public keys the subscription by the message hash
            client.subscriptions.pop(channel, None)
            error = SubscriptionRejected(f"MEXC refused {channel}: {reason}")
            if hash_ is not None:
                client.subscriptions.pop(hash_, None)
                client.reject(error, hash_)
            elif channel in client.futures:  # a raw watch keyed by the channel name (doctor)
                client.reject(error, channel)
        return True

    def _reject_contract(self, client: Client, refusal: ContractRefusal) -> None:
        """Reject the watches a contract ``rs.error`` is about.

        MEXC's ``rs.error`` does not echo the request, and ccxt sends no request id, so the
        refused subscription is inferred. ``Contract [X] not exists`` names the contract: every
        pending watch of its perpetual is rejected. A text naming nothing (``Not support
        interval``, a contract id we do not know) can only concern a subscription that has had
        no result yet on this connection — one that had data was accepted — so exactly those
        watches are rejected (for an interval: only pending klines); healthy streams sharing
        the connection keep their subscriptions.
        """
        symbol = self._swap_symbol_of(refusal.market_id) if refusal.market_id else None
        if symbol is not None:
            hashes = swap_hashes_of(symbol, list(client.futures))
            forget = swap_hashes_of(symbol, list(client.subscriptions))
        else:
            delivered = getattr(client, "delivered", set())
            prefix = "candles:" if "interval" in refusal.text.lower() else ""
            hashes = [h for h in client.futures if h not in delivered and h.startswith(prefix)]
            forget = hashes
        self._count_rejection(client, refusal.text, hashes)
        for key in forget:
            client.subscriptions.pop(key, None)
        for hash_ in hashes:
            client.reject(SubscriptionRejected(f"MEXC refused {hash_}: {refusal.text}"), hash_)

    def _count_rejection(self, client: Client, cause: str, hashes: list[str] | None = None) -> None:
        """Count a refusal by ``cause``; log the first of each cause (a retried refusal repeats)."""
        self.rejections[cause] += 1
        count = self.rejections[cause]
        if count == 1:
            target = f" (rejecting {', '.join(hashes) or 'no pending watch'})" if hashes is not None else ""
            log.warning("%s: MEXC refused a subscription: %s%s", client.url, cause, target)
        else:
            log.debug("%s: MEXC refused a subscription again (#%d): %s", client.url, count, cause)

    def _swap_symbol_of(self, market_id: str) -> str | None:
        """The unified symbol of the swap market with MEXC id ``market_id`` (``BTC_USDT``)."""
        for market in (self.markets_by_id or {}).get(market_id) or []:
            if market.get("swap"):
                return str(market["symbol"])
        return None

    def _symbol_of(self, market_id: str) -> str | None:
        market = (self.markets_by_id or {}).get(market_id)
        return market[0]["symbol"] if market else None

    def _fast_path_applies(self) -> bool:
        """The fast decoder mirrors ccxt's defaults: float numbers and reduced fees."""
        return self.number is float and bool(self.reduceFees)

    def _handle_fast(self, client: Client, data: bytes | bytearray) -> bool:
        """Decode, store and resolve ``data`` as ccxt would; False leaves the frame to ccxt.

        A malformed frame raises ``DecodeError`` here, as inside ccxt, so the connection's
        guard counts it the same way.
        """
        msg = fast.parse_wrapper(data)
        cid = fast.channel_id(msg.channel)
        if cid not in _FAST_CHANNELS or not self._fast_path_applies():
            return False
        try:
            update = fast.decode(msg, self.markets, self.markets_by_id, self.options.get("timeframes"), cid)
        except Exception:  # ccxt's handler decides: it may raise after changing state
            update = None
        if update is None:
            self.fast_fallbacks += 1
            return False
        self.fast_frames += 1
        if isinstance(update, fast.TickerUpdate):
            self.tickers[update.symbol] = update.ticker
            client.resolve(update.ticker, "ticker:" + update.symbol)
        elif isinstance(update, fast.TradesUpdate):
            stored = self._trade_cache(update.symbol)
            for trade in update.trades:
                stored.append(trade)
            client.resolve(stored, "trades:" + update.symbol)
        else:
            stored = self._ohlcv_cache(update.symbol, update.timeframe)
            stored.append(update.candle)
            client.resolve(stored, f"candles:{update.symbol}:{update.timeframe}")
        return True

    def _handle_fast_swap_ticker(self, client: Client, message: dict) -> bool:
        """Store and resolve a contract ``push.ticker`` as ccxt would; False leaves it to ccxt."""
        update = fast_contract.swap_ticker(message, self.markets_by_id) if self._fast_path_applies() else None
        if update is None:
            self.fast_fallbacks += 1
            return False
        self.fast_frames += 1
        self.tickers[update.symbol] = update.ticker
        client.resolve(update.ticker, "ticker:" + update.symbol)
        return True

    def _trade_cache(self, symbol: str) -> ArrayCache:
        """``trades[symbol]``, created as ccxt's ``handle_trades`` creates it (a plain dict
        lookup per frame: ccxt's ``safe_value`` costs more than the rest of this method)."""
        stored = self.trades.get(symbol)
        if stored is None:
            stored = self.trades[symbol] = ArrayCache(self.safe_integer(self.options, "tradesLimit", 1000))
        return stored

    def _ohlcv_cache(self, symbol: str, timeframe: str) -> ArrayCacheByTimestamp:
        """``ohlcvs[symbol][timeframe]``, created as ccxt's ``handle_ohlcv`` creates it."""
        per_symbol = self.ohlcvs[symbol] = self.safe_dict(self.ohlcvs, symbol, {})
        stored = self.safe_value(per_symbol, timeframe)
        if stored is None:
            limit = self.safe_integer(self.options, "OHLCVLimit", 1000)
            stored = per_symbol[timeframe] = ArrayCacheByTimestamp(limit)
        return stored


_FAST_CHANNELS = frozenset((fast.BOOK_TICKER_CHANNEL, fast.DEALS_CHANNEL, fast.KLINE_CHANNEL))
