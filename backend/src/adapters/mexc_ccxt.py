"""``MexcAdapter``: MEXC market data over ccxt REST (asyncio) and ccxt.pro websockets.

This module is the I/O edge: it owns the ccxt clients, retries, backoff and the stream
watchdog. Everything that can be computed without I/O lives in pure modules beside it
(``mexc_klines`` paging, ``mexc_parsing`` payload mapping, ``mexc_instruments`` validation,
``backoff``, ``time_sync``) so it is testable without a network.

Real endpoints by default; pass ``urls`` (a partial ccxt ``urls['api']`` dict) to point every
client at a proxy or the loopback simulator — the code path is the same either way.

Where ``last`` and ``volume`` of the spot ticker stream come from
-----------------------------------------------------------------
MEXC's spot ticker stream is a book ticker: bid and ask only. ``stream_ticker`` fills:

* ``last``: the price of the latest trade this adapter saw on ``stream_trades`` for the symbol
  (the feeder always runs both); before any trade, or without a trade stream, the ``lastPrice``
  of MEXC's REST 24 h ticker.
* ``volume``: MEXC's rolling 24 h base volume from the REST 24 h ticker (``/api/v3/ticker/24hr``,
  weight 1), refreshed in the background at most every ``stats_ttl`` seconds (30 s default) —
  never blocking the stream. (The feeder computes its md ``vol`` from its own 1 m bars
  instead, which is exact and costs no requests.)

Every stream record also carries ``rx``: the local ``time.perf_counter()`` at which the frame
that produced it arrived, so consumers can measure parse latency (receive → md ready).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, Protocol, TypeVar

import ccxt
import ccxt.async_support as ccxt_async

from .. import validation
from ..backoff import Backoff, log_and_sleep
from ..errors import (
    AdapterClosedError,
    ConnectionRotated,
    MalformedPayload,
    StaleStreamError,
    UnknownSymbolError,
    UsageError,
)
from ..log_limits import RateLimitedLog
from ..market_data import Channel
from ..tasks import TaskSet
from . import mexc_klines as klines
from .mexc_instruments import Instrument, InstrumentProvider, perp_symbol_for
from .mexc_parsing import (
    parse_24h_stats,
    parse_book_ticker,
    parse_swap_ticker,
    parse_trades,
)
from .mexc_quiet import QUIET_AFTER, BookSnapshots, Verdict, judge_silence
from .mexc_universe import Selection, UniverseSpec, select_universe
from .mexc_ws_client import MexcWsClient
from .time_sync import ClockSync
from .transient import is_rate_limit, is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")
#: asks the exchange about a silent stream, given the last result (see ``mexc_quiet``)
Judge = Callable[[T | None], Awaitable[tuple[Verdict, T | None]]]

#: MEXC spot ``/api/v3/depth`` accepts 1..5000 levels.
MAX_DEPTH_LIMIT = 5000
#: A stream silent for longer than this is treated as dead and its connection reset.
#: The book ticker of a live market changes many times a minute and the swap ticker is pushed
#: every second; trades may legitimately pause for minutes, so they have no watchdog of their
#: own (their connection is the spot connection that the book-ticker watchdog guards).
DEFAULT_STALE_AFTER: dict[str, float | None] = {
    Channel.TICKER: 30.0,
    Channel.TRADES: None,
    Channel.SWAP: 15.0,
}
#: How far our estimate of MEXC's clock may be ahead of it (half a round trip is typical).
CONFIRM_MARGIN_MS = 250
#: A watchdog timer firing this much later than set means the event loop was too busy to read
#: its sockets; the silence it measured is then not evidence about the stream.
MAX_LOOP_LAG = 1.0
#: REST attempts before a transient failure is raised to the caller (streams retry forever).
REST_ATTEMPTS = 8
#: Concurrent kline page requests per fetch_ohlcv call.
PAGE_CONCURRENCY = 3
#: MEXC allows 30 subscriptions per websocket connection; a spot symbol takes two.
SYMBOLS_PER_CONNECTION = 15
#: MEXC closes any connection after 24 h; we rotate ours an hour before.
MAX_CONNECTION_AGE = 23 * 3600.0
#: How long a rotated-out connection stays open while the streams move to the new one.
ROTATION_GRACE = 10.0
#: Above this many streamed symbols the 24 h stats come from one all-pairs request per
#: ``stats_ttl`` instead of one request per symbol: 2000 symbols refreshed every 30 s one by
#: one would be 67 requests/s, over MEXC's 50/s per endpoint.
BULK_STATS_ABOVE = 10
#: Older windows fetched at most, when an illiquid market has too few bars in the latest one.
MAX_EXTRA_WINDOWS = 10
#: Records from the future mean a forged record or a clock estimate gone stale; the clock is
#: measured again at most this often (seconds) when they appear.
RESYNC_AFTER_FUTURE = 30.0


#: "no cache entry looked at yet on this subscription" (None is a valid "nothing cached")
_UNSET: Any = object()


class StreamListener(Protocol):
    """Told about stream disconnects and dropped payloads, so health and backfill can react."""

    def on_disconnect(self, symbol: str, channel: str, reason: str) -> None: ...

    def on_drop(self, symbol: str, channel: str, reason: str) -> None: ...


class MexcAdapter:
    """MEXC exchange adapter using ccxt for REST and ccxt.pro for websockets."""

    def __init__(
        self,
        symbols: list[str],
        rate_limit: bool = True,
        *,
        urls: dict[str, Any] | None = None,
        stale_after: dict[str, float | None] | None = None,
        stats_ttl: float = 30.0,
        backoff_factory: Callable[[], Backoff] = Backoff,
        rest_attempts: int = REST_ATTEMPTS,
        listener: StreamListener | None = None,
        max_connection_age: float = MAX_CONNECTION_AGE,
        clock_warn_ms: float = 1000.0,
        ccxt_config: dict[str, Any] | None = None,
        quiet_after: float = QUIET_AFTER,
    ) -> None:
        self.symbols = list(symbols)
        self.rate_limit = rate_limit
        self.urls = urls
        self.stale_after = {**DEFAULT_STALE_AFTER, **(stale_after or {})}
        self.stats_ttl = stats_ttl
        self.backoff_factory = backoff_factory
        self.rest_attempts = rest_attempts
        #: told about every stream disconnect (health accounting, bar backfill).
        self.listener = listener
        self.max_connection_age = max_connection_age
        self.clock_warn_ms = clock_warn_ms
        #: extra ccxt constructor config, deep-merged by ccxt (e.g. ``{"streaming": {"keepAlive": 8000}}``).
        self.ccxt_config = ccxt_config or {}
        self.clock = ClockSync()
        #: book-ticker silence after which MEXC's REST book decides: quiet market or dead
        #: stream (see ``mexc_quiet``).
        self.quiet_after = quiet_after
        self.books = BookSnapshots(self._fetch_books)
        self._books_as_of_ms = 0
        #: ``(operation or symbol/channel, event)`` → count; events: retry.<Error>, stale,
        #: reconnect, malformed. Every retry is counted here and logged.
        self.counters: Counter[tuple[str, str]] = Counter()
        self._rest: ccxt_async.mexc | None = None
        #: one websocket client per shard of SYMBOLS_PER_CONNECTION symbols: (client, created at).
        self._shards: dict[int, tuple[MexcWsClient, float]] = {}
        self._shard_of: dict[str, int] = {}
        #: shard → symbols assigned to it; a released symbol frees its slot for the next one.
        self._shard_load: Counter[int] = Counter()
        #: loop time before which no REST request goes out: set by a 429/418 for every caller,
        #: so hundreds of concurrent bootstraps back off together instead of earning a ban.
        self._rest_pause_until = 0.0
        #: (symbol, channel) → streams running: who is told about a rotation.
        self._active: Counter[tuple[str, str]] = Counter()
        #: rotated-out clients still open during their grace period.
        self._retiring: set[MexcWsClient] = set()
        self._instruments: InstrumentProvider | None = None
        #: symbols whose closed API (no API orders) was logged once, across market reloads
        self._api_closed_noted: set[str] = set()
        self._markets_lock = asyncio.Lock()
        self._last_trade: dict[str, float] = {}
        self._stats24: dict[str, tuple[float, dict]] = {}
        #: reason → rate-limited log of dropped records (one line per reason per 10 s)
        self._drop_logs: dict[str, RateLimitedLog] = {}
        self._clock_lock = asyncio.Lock()
        self._resync_at = 0.0
        self._background = TaskSet()
        self._closed = False

    # ------------------------------------------------------------------ clients
    def _ccxt_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {**self.ccxt_config, "enableRateLimit": self.rate_limit}
        if self.urls:
            config["urls"] = {"api": self.urls}
        return config

    @property
    def rest(self) -> ccxt_async.mexc:
        """The REST client, created on first use (constructing the adapter does no I/O)."""
        self._ensure_open()
        if self._rest is None:
            self._rest = ccxt_async.mexc(self._ccxt_config())
        return self._rest

    async def ws(self, symbol: str | None = None) -> MexcWsClient:
        """The websocket client of ``symbol``'s shard, sharing the REST client's markets.

        MEXC accepts at most 30 subscriptions per connection and ccxt puts every stream of one
        URL on one connection, so symbols are spread over several ccxt clients, each with
        ``SYMBOLS_PER_CONNECTION`` symbols (two spot subscriptions each). A client older than
        ``max_connection_age`` is rotated before MEXC's 24 h cut (see :meth:`_rotate`).
        """
        self._ensure_open()
        key = symbol if symbol is not None else (self.symbols[0] if self.symbols else "")
        shard = self._shard_of.get(key)
        if shard is None:
            shard = self._shard_of[key] = self._free_shard()
            self._shard_load[shard] += 1
        entry = self._shards.get(shard)
        if entry is None:  # first use only: every stream calls this once per message
            await self.instruments()
            entry = self._shards.get(shard)  # again after the await: concurrent callers share one
            if entry is None:
                entry = self._shards[shard] = (self._new_ws_client(), time.monotonic())
        if time.monotonic() - entry[1] > self.max_connection_age:
            entry = self._rotate(shard)
        return entry[0]

    def _free_shard(self) -> int:
        """The lowest shard with a free slot: symbols added and released while running (market
        reloads, lease hand-overs) fill the gaps instead of opening ever more connections."""
        shard = 0
        while self._shard_load[shard] >= SYMBOLS_PER_CONNECTION:
            shard += 1
        return shard

    async def release(self, symbol: str) -> None:
        """Stop MEXC's pushes for ``symbol`` (its streams must already be cancelled) and free its
        connection slot. An unsubscribe that cannot be sent is logged and counted: the channel
        then dies with its connection, since ccxt re-subscribes only channels still watched."""
        shard = self._shard_of.pop(symbol, None)
        self._last_trade.pop(symbol, None)
        self._stats24.pop(symbol, None)
        if shard is None:
            return
        self._shard_load[shard] -= 1
        entry = self._shards.get(shard)
        if entry is None:
            return
        client = entry[0]
        perp = perp_symbol_for(symbol)  # if it has one: a delisted symbol has no Instrument any more
        perp = perp if perp in (client.markets or {}) else None
        calls = [(client.un_watch_ticker, symbol), (client.un_watch_trades, symbol)]
        calls += [(client.un_watch_ticker, perp)] if perp else []
        for unwatch, target in calls:
            try:
                await unwatch(target)
            except Exception as exc:
                self.counters[(f"{symbol} unsubscribe", f"error.{type(exc).__name__}")] += 1
                log.warning("%s: unsubscribe from %s failed: %s", symbol, target, exc)

    def _ensure_open(self) -> None:
        if self._closed:
            raise AdapterClosedError("MexcAdapter is closed")

    def _new_ws_client(self) -> MexcWsClient:
        client = MexcWsClient(self._ccxt_config())
        client.set_markets_from_exchange(self.rest)
        return client

    def _rotate(self, shard: int) -> tuple[MexcWsClient, float]:
        """Replace a shard's client before MEXC's 24 h limit cuts it.

        The new client is dialled by the streams' next ``watch_*`` while the old connection
        stays open for ``ROTATION_GRACE`` seconds, so every stream moves over on its own next
        call; the listener is told, as for a disconnect, so bars are backfilled over the seam.
        """
        old, _ = self._shards[shard]
        entry = self._shards[shard] = (self._new_ws_client(), time.monotonic())
        log.info("rotating websocket shard %d before MEXC's 24 h connection limit", shard)
        for symbol, index in self._shard_of.items():
            if index == shard:
                self.counters[(f"{symbol} ws", "rotation")] += 1
                for sym, channel in [k for k, n in self._active.items() if n and k[0] == symbol]:
                    self._disconnected(sym, channel, "rotation")
        self._retiring.add(old)
        self._background.spawn(self._close_later(old, ROTATION_GRACE), f"close-rotated:{shard}:{id(old)}")
        return entry

    async def _close_later(self, client: MexcWsClient, delay: float) -> None:
        """Retire a rotated-out client: a watch still waiting on it gets a retryable error
        (``ccxt``'s own close would cancel it, killing the stream) and moves to the new one."""
        try:
            await asyncio.sleep(delay)
        finally:
            for connection in list(client.clients.values()):
                connection.reject(ConnectionRotated("connection rotated before MEXC's 24 h limit"))
            self._retiring.discard(client)
            await client.close()

    async def instruments(self) -> InstrumentProvider:
        """Load markets once (retrying transient failures) and index them."""
        async with self._markets_lock:
            if self._instruments is None:
                await self._retry("load_markets", self.rest.load_markets)
                self._instruments = InstrumentProvider(self.rest.markets, self._api_closed_noted)
        return self._instruments

    async def instrument(self, symbol: str) -> Instrument:
        """Validated spot instrument; raises :class:`UnknownSymbolError` at once, never retried."""
        return (await self.instruments()).require_spot(symbol)

    async def reload_markets(self) -> InstrumentProvider:
        """Load MEXC's markets afresh (listings, delistings, status changes) and hand them to
        every websocket client, so a symbol listed since start can be streamed."""
        async with self._markets_lock:
            await self._retry("load_markets", self.rest.load_markets, True)
            self._instruments = InstrumentProvider(self.rest.markets, self._api_closed_noted)
            for client, _ in self._shards.values():
                client.set_markets_from_exchange(self.rest)
        return self._instruments

    async def select_universe(self, spec: UniverseSpec) -> Selection:
        """The symbols ``spec`` picks from freshly loaded markets (plus MEXC's 24 h tickers, one
        request for all pairs, when it asks for a top N)."""
        await self.reload_markets()
        volumes = None
        if spec.needs_volumes:
            tickers = await self._retry("fetch_tickers", self.rest.fetch_tickers, None, {"type": "spot"})
            volumes = {
                s: validation.sane_or_none(t.get("quoteVolume"), allow_zero=True) for s, t in tickers.items()
            }
        return select_universe(self.rest.markets, spec, volumes)

    async def validate_symbols(
        self, symbols: list[str] | None = None
    ) -> tuple[list[Instrument], dict[str, UnknownSymbolError]]:
        """Split ``symbols`` (default ``self.symbols``) into valid instruments and per-symbol errors."""
        valid, invalid = [], {}
        for symbol in self.symbols if symbols is None else symbols:
            try:
                valid.append(await self.instrument(symbol))
            except UnknownSymbolError as exc:
                invalid[symbol] = exc
        return valid, invalid

    # ------------------------------------------------------------------ retries
    def _retry_after_s(self) -> float:
        """Seconds from the last response's ``Retry-After`` header (MEXC sends it with 429)."""
        headers = (self._rest.last_response_headers if self._rest else None) or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        try:
            return float(value) if value is not None else 0.0
        except ValueError:
            return 0.0

    async def _retry(self, op: str, call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run a REST call, retrying transient failures with backoff, at most ``rest_attempts``.

        ``BadSymbol`` is translated to :class:`UnknownSymbolError` and never retried; any other
        non-transient ccxt error propagates unchanged.
        """
        backoff = self.backoff_factory()
        loop = asyncio.get_running_loop()
        for attempt in range(1, self.rest_attempts + 1):
            # a deadline other callers may push further while we sleep, not a one-shot event
            while (pause := self._rest_pause_until - loop.time()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(pause)
            try:
                result = await call(*args, **kwargs)
            except ccxt.BadSymbol as exc:
                symbol = str(args[0]) if args else "?"
                raise UnknownSymbolError(symbol, f"rejected by MEXC: {exc}") from exc
            except Exception as exc:
                if not is_transient(exc) or attempt == self.rest_attempts:
                    raise
                floor = 0.0
                if is_rate_limit(exc):  # everyone waits, at least a second, Retry-After if longer
                    floor = max(self._retry_after_s(), 1.0)
                    self._rest_pause_until = max(self._rest_pause_until, loop.time() + floor)
                self.counters[(op, f"retry.{type(exc).__name__}")] += 1
                await log_and_sleep(backoff, log, op, exc, floor)
            else:
                backoff.success()
                return result
        raise AssertionError("unreachable")  # the loop returns or raises

    # ------------------------------------------------------------------ REST
    async def fetch_time(self, samples: int = 3) -> int:
        """Exchange time in ms; each call also refines the clock offset (see ``time_sync``)."""
        for _ in range(samples):
            sent = time.time() * 1000.0
            server = await self._retry("fetch_time", self.rest.fetch_time)
            self.clock.add_sample(sent, float(server), time.time() * 1000.0)
        offset = self.clock.offset_ms
        if abs(offset) > self.clock_warn_ms:
            log.warning("local clock is %.0f ms off MEXC's; using exchange time", offset)
        return self.clock.now_ms()

    async def fetch_ohlcv(self, symbol: str, timeframe: str = "1m", limit: int = 1500) -> list[list]:
        """The ``limit`` most recent closed bars ``[[ms, o, h, l, c, v], ...]``, ascending.

        Paginates in MEXC-sized pages (500). When the exchange has no bar for some slots (an
        illiquid market), older windows are fetched until ``limit`` real bars are collected;
        fewer are returned only when the market's history is shorter (logged).
        """
        if limit <= 0:
            raise UsageError(f"limit must be positive, got {limit}")
        await self.instrument(symbol)
        if timeframe == klines.MONTHLY:
            return await self._fetch_monthly(symbol, limit)
        step = klines.timeframe_ms(timeframe)
        end = klines.last_closed_open(await self.fetch_time(), timeframe)
        bars: list[list] = []
        for _ in range(1 + MAX_EXTRA_WINDOWS):
            missing = limit - len(bars)
            window = await self._fetch_window(symbol, timeframe, end, missing, step)
            bars = window + bars
            if len(bars) >= limit or not window:
                break
            end = end - missing * step
        if len(bars) < limit:
            log.info(
                "%s %s: MEXC has only %d closed bars of the %d asked for (young or illiquid market)",
                symbol,
                timeframe,
                len(bars),
                limit,
            )
        return bars[-limit:]

    async def fetch_ohlcv_range(
        self, symbol: str, first_open: int, last_open: int, timeframe: str = "1m"
    ) -> list[list]:
        """The exchange's bars with open times in ``first_open..last_open`` (closed bars only).

        For backfill after an outage of any length: paginated like :meth:`fetch_ohlcv`.
        """
        await self.instrument(symbol)
        step = klines.timeframe_ms(timeframe)
        end = min(last_open, klines.last_closed_open(self.clock.now_ms(), timeframe))
        if end < first_open:
            return []
        return await self._fetch_window(symbol, timeframe, end, (end - first_open) // step + 1, step)

    async def _fetch_window(
        self, symbol: str, timeframe: str, end_open: int, count: int, step: int
    ) -> list[list]:
        """Real bars in the ``count`` slots ending at ``end_open``, pages fetched concurrently."""
        pages = klines.plan_pages(end_open, count, step)
        gate = asyncio.Semaphore(PAGE_CONCURRENCY)

        async def page(since: int, until: int, n: int) -> list[list]:
            async with gate:
                rows = await self._kline_page(symbol, timeframe, since, until, n)
                if not klines.misplaced(rows, since, until, n):
                    return rows
                # asked again without ``limit``: MEXC honoured the window when it was left out
                # (recorded ``spot_klines_btcusdt_5m_single``); its default page is 500 rows
                self.counters[(f"{symbol} klines", "misplaced_page")] += 1
                log.warning(
                    "%s %s: MEXC answered the kline page %d..%d with rows outside it; asking again",
                    *(symbol, timeframe, since, until),
                )
                again = await self._kline_page(symbol, timeframe, since, until, None)
                if klines.misplaced(again, since, until, n):
                    self.counters[(f"{symbol} klines", "short_page")] += 1
                    missing = n - sum(since <= int(r[0]) <= until for r in again)
                    log.error(
                        "%s %s: kline page %d..%d misplaced twice; %d of its bars may be missing",
                        *(symbol, timeframe, since, until, missing),
                    )
                return again

        results = await asyncio.gather(*(page(*p) for p in pages))
        rows = [row for result in results for row in result]
        return klines.merge_closed(self._valid_bars(symbol, rows), pages[0][0], end_open)

    def _valid_bars(self, symbol: str, rows: list[list]) -> list[list]:
        """The kline rows that are possible bars; the others are dropped and counted (a NaN
        close must not become the md price, a negative one the bar's low)."""
        valid = []
        for row in rows:
            if (reason := validation.check_bar(row)) is None:
                valid.append(row)
            else:
                self._drop(symbol, Channel.KLINES, reason, row)
        return valid

    async def _kline_page(
        self, symbol: str, timeframe: str, since: int, until: int, limit: int | None
    ) -> list[list]:
        """One spot kline page as MEXC sent it, parsed by ccxt but not filtered.

        ccxt's ``fetch_ohlcv`` builds this same request (``endTime`` is exclusive, hence +1)
        but then drops rows before ``since``, which hides a page MEXC answered for another
        window; :func:`mexc_klines.misplaced` needs to see them.
        """
        market = self.rest.market(symbol)
        request: dict[str, Any] = {
            "symbol": market["id"],
            "interval": self.rest.options["timeframes"]["spot"][timeframe],
            "startTime": since,
            "endTime": until + 1,
        }
        if limit is not None:
            request["limit"] = limit

        async def get(_symbol: str) -> Any:  # the symbol names an UnknownSymbolError
            return await self.rest.spotPublicGetKlines(request)

        raw = await self._retry("fetch_ohlcv", get, symbol)
        return self.rest.parse_ohlcvs(raw, market, timeframe)

    async def _fetch_monthly(self, symbol: str, limit: int) -> list[list]:
        """Monthly bars: calendar months have no fixed length, so take the latest page."""
        rows = await self._retry(
            "fetch_ohlcv", self.rest.fetch_ohlcv, symbol, klines.MONTHLY, None, klines.PAGE_LIMIT
        )
        rows = self._valid_bars(symbol, rows)
        closed = klines.merge_closed(rows, 0, int(rows[-1][0]) - 1) if rows else []
        return closed[-limit:]

    async def fetch_orderbook(self, symbol: str, limit: int = 50) -> dict[str, Any]:
        """Order-book snapshot (ccxt's structure; ``nonce`` is MEXC's ``lastUpdateId``)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_DEPTH_LIMIT:
            raise UsageError(f"order book limit must be an integer in 1..{MAX_DEPTH_LIMIT}, got {limit!r}")
        await self.instrument(symbol)
        return await self._retry("fetch_orderbook", self.rest.fetch_order_book, symbol, limit)

    async def fetch_ticker_stats(self, symbol: str) -> dict:
        """Last price and rolling 24 h base volume (REST ``/api/v3/ticker/24hr``)."""
        await self.instrument(symbol)
        stats = self._stats(symbol, await self._retry("fetch_ticker", self.rest.fetch_ticker, symbol))
        self._stats24[symbol] = (time.monotonic(), stats)
        return stats

    def _stats(self, symbol: str, ticker: dict) -> dict:
        """The 24 h stats of a REST ticker, an impossible ``last`` or ``volume`` replaced by
        None (the stream's ``last`` then falls back to trades) and counted."""
        stats = parse_24h_stats(ticker)
        clean, reason = validation.clean_stats(stats)
        if reason is not None:
            self._drop(symbol, Channel.STATS, reason, stats)
        return clean

    async def fetch_swap_ticker(self, symbol: str) -> dict | None:
        """Funding rate and open interest of ``symbol``'s perpetual; None when it has none."""
        inst = await self.instrument(symbol)
        if inst.perp_symbol is None:
            return None
        ticker = await self._retry("fetch_swap_ticker", self.rest.fetch_ticker, inst.perp_symbol)
        record = self._parsed(symbol, Channel.SWAP, parse_swap_ticker, ticker, inst.contract_size)
        # a REST snapshot: its time is the server's ticker cache, not a push (no time window)
        return self._checked(symbol, Channel.SWAP, record, validation.check_swap, None)

    async def _fetch_books(self) -> dict[str, dict]:
        """MEXC's REST book tickers of every spot pair, one request (see ``mexc_quiet``)."""
        as_of = self.clock.now_ms()  # the books are at least this recent, in exchange time
        books = await self._retry("fetch_bids_asks", self.rest.fetch_bids_asks, None, {"type": "spot"})
        self._books_as_of_ms = as_of
        return books

    async def _judge_silent_book(self, symbol: str, last: dict | None) -> tuple[Verdict, dict | None]:
        """What MEXC's REST book says about ``symbol``'s silent book ticker (``mexc_quiet``)."""
        books = await self.books.get()
        # Stamped when the snapshot was asked for, less the clock estimate's error: a push that
        # follows must never look older than the confirmation (the feeder would drop it as
        # out of order), and the confirmation must never look older than the push it confirms.
        as_of = self._books_as_of_ms - CONFIRM_MARGIN_MS
        pushed = last.get("timestamp") if last is not None else None
        return judge_silence(books.get(symbol), last, max(as_of, pushed or as_of))

    async def _ask_exchange(
        self, name: str, judge: Judge[T], last: T | None
    ) -> tuple[Verdict | None, T | None]:
        """``judge(last)``, bounded by ``quiet_after`` so the stream goes back to listening soon;
        a REST failure is no verdict, ``(None, None)`` (counted, logged)."""
        try:
            async with asyncio.timeout(self.quiet_after):
                verdict, confirmed = await judge(last)
        except Exception as exc:  # TimeoutError included: no verdict this time
            if not is_transient(exc) and not isinstance(exc, TimeoutError):
                raise
            self.counters[(name, f"quiet_check.{type(exc).__name__}")] += 1
            log.warning("%s: could not ask MEXC whether the market is quiet: %s", name, exc)
            return None, None
        self.counters[(name, verdict.value)] += 1
        return verdict, confirmed

    # ------------------------------------------------------------------ streams
    async def _supervise(
        self,
        symbol: str,
        channel: str,
        watch: Callable[[MexcWsClient], Awaitable[T]],
        judge: Judge[T] | None = None,
        peek: Callable[[MexcWsClient], T | None] | None = None,
    ) -> AsyncIterator[tuple[T, float]]:
        """Yield ``(watch() result, frame arrival time)`` forever, reconnecting after transient errors.

        Silence for the channel's ``stale_after`` means the connection is silently dead (MEXC
        can keep answering pings while sending nothing); the shared connection is then reset so
        *every* stream on it reconnects and re-subscribes. A channel that is legitimately
        silent in a quiet market passes ``judge``: after ``quiet_after`` seconds of silence it
        is asked for the exchange's view (``mexc_quiet.Verdict``): QUIET yields the confirming
        result as data; MOVED twice in a row resets the connection early; ABSENT (not trading)
        resets nothing, as a reconnect cannot bring back a halted market.

        ``peek`` reads ccxt's cached latest result (tickers are conflated: a push that arrives
        while nobody awaits the watch only updates the cache, and ``watch_*`` then waits for the
        *next* push, which on a quiet pair may be minutes away). A cached result newer than the
        last one yielded is yielded at once instead of waiting.
        """
        self._active[(symbol, channel)] += 1
        try:
            async for item in self._supervise_loop(symbol, channel, watch, judge, peek):
                yield item
        finally:
            self._active[(symbol, channel)] -= 1

    async def _supervise_loop(
        self,
        symbol: str,
        channel: str,
        watch: Callable[[MexcWsClient], Awaitable[T]],
        judge: Judge[T] | None,
        peek: Callable[[MexcWsClient], T | None] | None,
    ) -> AsyncIterator[tuple[T, float]]:
        name, url_key = f"{symbol} {channel}", "swap" if channel == Channel.SWAP else "spot"
        backoff = self.backoff_factory()
        stale_after = self.stale_after.get(channel)
        quiet_after = self.quiet_after if judge is not None else None
        step = min((t for t in (stale_after, quiet_after) if t is not None), default=None)
        loop = asyncio.get_running_loop()
        # ``last``: the latest result pushed on the current subscription. A new subscription
        # (after any reconnect) starts from None: MEXC pushes no snapshot, so a change missed
        # while we were away is never pushed, and must not read as a dead stream forever.
        heard_at, last, diverged = loop.time(), None, False
        seen: Any = _UNSET  # the cache entry last handed out or found old (identity)
        while True:
            ws = await self.ws(symbol)
            if peek is not None:
                cached = peek(ws)
                if seen is _UNSET:  # a new subscription: what is cached predates it
                    seen = cached
                elif cached is not None and cached is not seen:
                    heard_at, last, diverged, seen = loop.time(), cached, False, cached
                    yield cached, time.perf_counter()  # arrival unknown: it waited in the cache
                    continue
            waited_from = loop.time()
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races with a result, and the stream would outlive close().
                async with asyncio.timeout(step):
                    result = await watch(ws)
            except TimeoutError:
                silent = loop.time() - heard_at
                if judge is not None and (stale_after is None or silent < stale_after):
                    if step is not None and loop.time() - waited_from - step > MAX_LOOP_LAG:
                        # our own loop was too busy to read the socket: frames may be waiting
                        # in it, so the exchange's newer book proves nothing this time
                        self.counters[(name, "lagging")] += 1
                        continue
                    verdict, confirmed = await self._ask_exchange(name, judge, last)
                    if verdict is Verdict.QUIET and confirmed is not None:
                        # the confirmed book is the reference from now on: a later change that
                        # is not pushed still reads as MOVED
                        heard_at, last, diverged = loop.time(), confirmed, False
                        yield confirmed, time.perf_counter()
                        continue
                    if verdict is Verdict.ABSENT:
                        heard_at, diverged = loop.time(), False
                        continue
                    if verdict is None or not diverged:  # no verdict, or a first MOVED
                        diverged = diverged or verdict is Verdict.MOVED
                        continue
                heard_at, last, diverged, seen = loop.time(), None, False, _UNSET
                self.counters[(name, "stale")] += 1
                self._disconnected(symbol, channel, f"no data for {silent:.0f}s")
                self._reset_connection(ws, url_key, f"{name}: no data for {silent:.0f}s")
                await log_and_sleep(backoff, log, name, StaleStreamError("silent stream"))
            except UnknownSymbolError:
                raise
            except ccxt.BadSymbol as exc:
                raise UnknownSymbolError(symbol, f"rejected by MEXC: {exc}") from exc
            except Exception as exc:
                if self._closed or not is_transient(exc):
                    raise
                self.counters[(name, f"retry.{type(exc).__name__}")] += 1
                last, diverged, seen = None, False, _UNSET
                self._disconnected(symbol, channel, f"{type(exc).__name__}: {exc}")
                await log_and_sleep(backoff, log, name, exc)
                # ccxt keeps its own dial backoff per URL (0.2 s doubling to 30 s) on top of
                # ours: after a 30 s outage it would wait up to 30 s more and break the 10 s
                # recovery target. Our backoff has just waited; the next dial goes out now.
                ws.ws_dial_backoff = {}
            else:
                backoff.success()
                heard_at, last, diverged, seen = loop.time(), result, False, result
                client = ws.clients.get(ws.urls["api"]["ws"][url_key])
                yield result, getattr(client, "last_rx", 0.0) or time.perf_counter()

    def malformed_frames(self) -> int:
        """Frames dropped because they could not be parsed, over every connection so far."""
        return sum(sum(ws.malformed.values()) for ws, _ in self._shards.values())

    def trades_overflow(self) -> Counter[str]:
        """symbol → trades that left ccxt's bounded cache before the stream read them."""
        total: Counter[str] = Counter()
        for ws, _ in self._shards.values():
            total.update(ws.trades_overflow)
        return total

    def _disconnected(self, symbol: str, channel: str, reason: str) -> None:
        if self.listener is not None:
            self.listener.on_disconnect(symbol, channel, reason)

    @staticmethod
    def _reset_connection(ws: MexcWsClient, url_key: str, reason: str) -> None:
        """Fail the websocket connection at ``urls['api']['ws'][url_key]`` and drop it."""
        url = ws.urls["api"]["ws"][url_key]
        client = ws.clients.get(url)
        log.warning("resetting %s: %s", url, reason)
        if client is not None:
            client.on_error(StaleStreamError(reason))

    async def stream_ticker(self, symbol: str) -> AsyncIterator[dict[str, Any]]:
        """Book-ticker records ``{ts, bid, ask, last, spread, volume, rx}`` (module doc)."""
        await self.instrument(symbol)
        await self._ensure_clock()
        watch, judge = (lambda ws: ws.watch_ticker(symbol)), partial(self._judge_silent_book, symbol)
        peek = lambda ws: ws.tickers.get(symbol)  # noqa: E731
        async for tk, rx in self._supervise(symbol, Channel.TICKER, watch, judge, peek):
            stats = self._fresh_stats(symbol)
            last = self._last_trade.get(symbol, stats.get("last"))
            record = self._parsed(symbol, Channel.TICKER, parse_book_ticker, tk, last, stats.get("volume"))
            record = self._checked(symbol, Channel.TICKER, record, validation.check_book, self.clock.now_ms())
            if record is not None:
                record["rx"] = rx  # the record is ours, fresh from the parser: no copy per push
                yield record

    async def stream_trades(self, symbol: str) -> AsyncIterator[dict[str, Any]]:
        """Trade records ``{ts, price, amount, side, rx}``, one per trade, exchange time."""
        async for batch in self.stream_trade_batches(symbol):
            for trade in batch:
                yield trade

    async def stream_trade_batches(self, symbol: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Trade records as they arrive together (one MEXC push aggregates up to 100 ms), so a
        consumer can update once per push rather than once per trade."""
        await self.instrument(symbol)
        await self._ensure_clock()
        seen = validation.TradeDeduplicator()
        async for batch, rx in self._supervise(symbol, Channel.TRADES, lambda ws: ws.watch_trades(symbol)):
            trades = self._parsed(symbol, Channel.TRADES, parse_trades, batch, rx)
            if trades:
                trades = self._valid_trades(symbol, trades, seen)
            if trades:
                self._last_trade[symbol] = trades[-1]["price"]
                yield trades

    def _valid_trades(
        self, symbol: str, trades: list[dict[str, Any]], seen: validation.TradeDeduplicator
    ) -> list[dict[str, Any]]:
        """The possible trades of one push not delivered before; the others dropped, counted."""
        now = self.clock.now_ms()
        check = validation.check_trade
        valid = [t for t in trades if check(t, now) is None]
        if len(valid) != len(trades):
            for t in trades:
                if (reason := check(t, now)) is not None:
                    self._drop(symbol, Channel.TRADES, reason, t)
        valid, dupes = seen.fresh(valid)
        for t in dupes:
            self._drop(symbol, Channel.TRADES, validation.DUPLICATE, t)
        return valid

    def _parsed(self, symbol: str, channel: str, parse: Callable[..., T], *args: Any) -> T | None:
        """``parse(*args)``, or None for a payload without the fields a record needs (e.g. a
        one-sided book, an empty deals push): counted as dropped ``malformed`` and skipped —
        one bad push must not end the stream."""
        try:
            return parse(*args)
        except Exception as exc:  # MalformedPayload, or whatever else a hostile payload provokes
            detail = exc if isinstance(exc, MalformedPayload) else f"{type(exc).__name__}: {exc}"
            self._drop(symbol, channel, "malformed", detail)
            return None

    def _checked(
        self, symbol: str, channel: str, record: dict | None, check: Callable[..., str | None], now: Any
    ) -> dict | None:
        """``record`` when ``check(record, now)`` finds it possible; else None, dropped and counted."""
        if record is None:
            return None
        reason = check(record, now)
        if reason is None:
            return record
        self._drop(symbol, channel, reason, record)
        return None

    def _drop(self, symbol: str, channel: str, reason: str, detail: Any) -> None:
        """Count one unusable record of ``symbol``'s ``channel``, tell the listener (feed
        health: received and dropped), and log it with the offending value, rate-limited."""
        self.counters[(f"{symbol} {channel}", reason)] += 1
        if self.listener is not None:
            self.listener.on_drop(symbol, channel, reason)
        drop_log = self._drop_logs.get(reason)
        if drop_log is None:
            drop_log = self._drop_logs[reason] = RateLimitedLog(log)
        drop_log.event("%s %s: dropped (%s): %.300r", symbol, channel, reason, detail)
        if reason == validation.FUTURE:
            self._resync_soon()

    def _resync_soon(self) -> None:
        """Measure the clock offset again (at most every ``RESYNC_AFTER_FUTURE`` s): if MEXC's
        clock stepped, every record would look like it came from the future until then."""
        now = time.monotonic()
        if now < self._resync_at or self._closed:
            return
        self._resync_at = now + RESYNC_AFTER_FUTURE
        self._background.spawn(self._resync(), "clock-resync")

    async def _resync(self) -> None:
        try:
            await self.fetch_time()
        except ccxt.BaseError as exc:  # the periodic sync tries again
            self.counters[("fetch_time", f"error.{type(exc).__name__}")] += 1
            log.warning("clock resync failed: %s", exc)

    async def _ensure_clock(self) -> None:
        """Measure the offset to MEXC's clock once before the first stream: records are
        checked against exchange time, and an unmeasured local clock may be minutes off."""
        if self.clock.synced:
            return
        async with self._clock_lock:
            if not self.clock.synced:
                await self.fetch_time()

    async def stream_swap_ticker(self, symbol: str) -> AsyncIterator[dict[str, Any]]:
        """Funding/open-interest records of ``symbol``'s perpetual (see ``parse_swap_ticker``).

        Raises ``ValueError`` when the symbol has no perpetual on MEXC.
        """
        inst = await self.instrument(symbol)
        if inst.perp_symbol is None:
            raise UsageError(f"{symbol!r} has no USDT perpetual on MEXC: no funding/open interest")
        perp = inst.perp_symbol
        watch, peek = (lambda ws: ws.watch_ticker(perp)), (lambda ws: ws.tickers.get(perp))
        await self._ensure_clock()
        async for tk, rx in self._supervise(symbol, Channel.SWAP, watch, peek=peek):
            record = self._parsed(symbol, Channel.SWAP, parse_swap_ticker, tk, inst.contract_size)
            record = self._checked(symbol, Channel.SWAP, record, validation.check_swap, self.clock.now_ms())
            if record is not None:
                record["rx"] = rx  # the record is ours, fresh from the parser: no copy per push
                yield record

    def _fresh_stats(self, symbol: str) -> dict:
        """Cached 24 h stats; schedules a background refresh when older than ``stats_ttl`` —
        of this symbol alone, or of every streamed symbol at once when there are many."""
        fetched_at, stats = self._stats24.get(symbol, (None, {}))
        stale = fetched_at is None or time.monotonic() - fetched_at > self.stats_ttl
        if stale:
            bulk = len(self._shard_of) > BULK_STATS_ABOVE
            name = "stats:*" if bulk else f"stats:{symbol}"
            if not self._background.running(name):
                self._background.spawn(self._refresh_stats(None if bulk else symbol), name)
        return stats

    async def _refresh_stats(self, symbol: str | None) -> None:
        """Refresh one symbol's stats, or (``None``) every streamed symbol's from one request."""
        try:
            if symbol is not None:
                await self.fetch_ticker_stats(symbol)
                return
            tickers = await self._retry("fetch_tickers", self.rest.fetch_tickers, None, {"type": "spot"})
            now = time.monotonic()
            for streamed in list(self._shard_of):
                if (ticker := tickers.get(streamed)) is not None:
                    self._stats24[streamed] = (now, self._stats(streamed, ticker))
        except ccxt.BaseError as exc:  # the stream goes on with the previous figures
            self.counters[(f"{symbol or '*'} stats", f"error.{type(exc).__name__}")] += 1
            log.warning("%s: 24h stats refresh failed: %s", symbol or "all symbols", exc)

    # ------------------------------------------------------------------ lifecycle
    async def close(self) -> None:
        """Close every client this adapter opened; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._background.cancel_all()
        clients = [ws for ws, _ in self._shards.values()] + list(self._retiring)
        clients += [self._rest] if self._rest else []
        self._shards.clear()
        self._rest = None
        # concurrently: ccxt's close() sleeps 0.25 s per client, and there is one per shard
        await asyncio.gather(*(client.close() for client in clients))
