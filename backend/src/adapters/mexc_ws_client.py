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
fast path (:mod:`.mexc_fast_path`) reads the protobuf fields directly, stores and resolves
exactly what ccxt would, in a few µs. Anything else, and any frame of an unexpected shape,
still goes through ccxt's own handler.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import ccxt.pro as ccxt_pro
from ccxt.async_support.base.ws.cache import ArrayCache, ArrayCacheByTimestamp
from ccxt.async_support.base.ws.client import Client

from . import mexc_fast_path as fast
from .mexc_subscriptions import SubscriptionRejected, message_hash, rejected_channels

log = logging.getLogger(__name__)

#: Log the first few malformed frames per connection, then every this-many-th.
LOG_EVERY = 1000

#: Fast path on unless ``fast_path=False`` or ``options['fastPath'] = False``. It is on by
#: default because ``backend/tests/unit/test_fast_path.py`` shows, frame by frame, that it
#: stores and resolves the same values as ccxt; a ccxt upgrade that fails that test must
#: turn this off until the fast path is brought in line.
FAST_PATH_DEFAULT = True


class GuardedClient(Client):
    """ccxt ws ``Client`` that counts and skips frames its handlers cannot parse."""

    malformed: Counter[str]
    #: ``time.perf_counter()`` when the latest frame arrived: the start of parse latency.
    last_rx: float = 0.0

    def handle_message(self, message: Any) -> Any:
        self.last_rx = time.perf_counter()
        try:
            return super().handle_message(message)
        except Exception as exc:  # a bad frame is data, not a reason to stop receiving
            self.malformed[self.url] += 1
            n = self.malformed[self.url]
            if n <= 3 or n % LOG_EVERY == 0:
                log.warning("%s: malformed frame #%d dropped: %s: %s", self.url, n, type(exc).__name__, exc)
            return None


class MexcWsClient(ccxt_pro.mexc):
    """``ccxt.pro.mexc`` with :class:`GuardedClient` connections and the spot fast path.

    ``malformed`` counts dropped frames per connection URL. ``fast_path`` (constructor
    keyword, else ``options['fastPath']``, else :data:`FAST_PATH_DEFAULT`) may be switched at
    any time; ``fast_frames``/``fast_fallbacks`` count hot-channel frames decoded fast and
    handed to ccxt (odd shapes, unknown markets), so a silent fallback is visible.
    """

    def __init__(self, config: dict[str, Any] | None = None, *, fast_path: bool | None = None) -> None:
        super().__init__(config or {})
        self.malformed: Counter[str] = Counter()
        if fast_path is None:
            fast_path = bool(self.safe_bool(self.options, "fastPath", FAST_PATH_DEFAULT))
        self.fast_path = fast_path
        self.fast_frames = 0
        self.fast_fallbacks = 0

    def client(self, url: str) -> Client:
        client = super().client(url)
        if not isinstance(client, GuardedClient):
            # ccxt builds the Client itself; re-class the fresh instance rather than copy
            # ccxt's option plumbing. GuardedClient adds behaviour only, no state.
            client.__class__ = GuardedClient
            client.malformed = self.malformed
        return client

    # ------------------------------------------------------------------ fast path
    def handle_message(self, client: Client, message: Any) -> None:
        if self.fast_path and isinstance(message, bytes | bytearray) and self._handle_fast(client, message):
            return
        if self._handle_rejection(client, message):
            return
        super().handle_message(client, message)

    def _handle_rejection(self, client: Client, message: Any) -> bool:
        """Turn MEXC's "Not Subscribed successfully!" into an error on the waiting watch.

        ccxt ignores the refusal and its ``watch_*`` waits forever; here the refused channel is
        forgotten (so the next watch subscribes again) and its future rejected with
        :class:`SubscriptionRejected`, which the adapter's supervisor retries and counts.
        """
        refusal = rejected_channels(message)
        if refusal is None:
            return False
        channels, reason = refusal
        # options['timeframes'] mixes the websocket ids ('1m': 'Min1') with REST's per-type dicts
        timeframes = {
            v: k for k, v in self.safe_dict(self.options, "timeframes", {}).items() if isinstance(v, str)
        }
        for channel in channels:
            client.subscriptions.pop(channel, None)
            hash_ = message_hash(channel, self._symbol_of, timeframes)
            log.warning("%s: MEXC refused subscription %s: %s", client.url, channel, reason)
            if hash_ is not None:
                client.reject(SubscriptionRejected(f"MEXC refused {channel}: {reason}"), hash_)
        return True

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

    def _trade_cache(self, symbol: str) -> ArrayCache:
        """``trades[symbol]``, created as ccxt's ``handle_trades`` creates it."""
        stored = self.safe_value(self.trades, symbol)
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
