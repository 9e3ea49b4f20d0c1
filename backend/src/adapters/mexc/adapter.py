"""``MexcAdapter``: MEXC market data over ccxt REST (asyncio) and ccxt.pro websockets.

A façade: it builds the pieces of one adapter from a :class:`MexcConfig` and delegates —
``rest`` (retries, shared 429 pause), ``markets`` (instruments, universe), ``fetch`` (bars,
books, swap tickers), ``shards`` (connections, rotation), ``supervisor`` (one stream's
reconnects, watchdog, quiet probes), ``stats`` (24 h stats), ``records`` (validation, drops).
Its own code is the data client: each stream's watch, parser and checks.

Real endpoints by default; pass ``urls`` (a partial ccxt ``urls['api']`` dict) to point every
client at a proxy or the loopback simulator — the code path is the same either way.

Where ``last`` and ``volume`` of the spot ticker stream come from: see ``stats``. Every stream
record also carries ``rx``: the local ``time.perf_counter()`` at which the frame that produced
it arrived, so consumers can measure parse latency (receive → md ready).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import ccxt.async_support as ccxt_async

from ... import validation
from ...backoff import Backoff
from ...errors import UnknownSymbolError, UsageError
from ...market_data import Channel
from ...pacing import NotingPacer
from ..mexc_instruments import Instrument, InstrumentProvider
from ..mexc_parsing import parse_book_ticker, parse_swap_ticker, parse_trades
from ..mexc_universe import Selection, UniverseSpec
from ..mexc_ws_client import MexcWsClient, WireTap
from . import ccxt_compat
from .book_probe import BookProbe
from .config import FROM_CONFIG, MexcConfig
from .fetch import Fetcher
from .markets import Markets
from .records import Records
from .rest import RestClient
from .runtime import MexcRuntime, StreamListener
from .shards import ShardPool
from .stats import Stats24h
from .supervisor import Supervisor


class MexcAdapter(MexcRuntime):
    """MEXC exchange adapter using ccxt for REST and ccxt.pro for websockets.

    Settings come from ``config`` (default ``MexcConfig()``); every keyword knob that is
    given overrides its field (``MexcConfig.with_overrides``: ``stale_after`` is merged per
    channel into ``watchdog_after``, ``quiet_after`` is ``quiet_probe_after``).

    ``config.record_dir`` records the session for an exact replay (``recording``); ``wire``
    stands in for the websocket network (a replay), with REST through ``ccxt_config``'s session.
    """

    def __init__(
        self,
        symbols: list[str],
        rate_limit: bool = FROM_CONFIG,
        *,
        urls: dict[str, Any] | None = FROM_CONFIG,
        stale_after: dict[str, float | None] | None = FROM_CONFIG,
        stats_ttl: float = FROM_CONFIG,
        backoff_factory: Callable[[], Backoff] = Backoff,
        rest_attempts: int = FROM_CONFIG,
        listener: StreamListener | None = None,
        max_connection_age: float = FROM_CONFIG,
        clock_warn_ms: float = FROM_CONFIG,
        ccxt_config: dict[str, Any] | None = FROM_CONFIG,
        quiet_after: float | None = FROM_CONFIG,
        config: MexcConfig | None = None,
        wire: WireTap | None = None,
    ) -> None:
        config = (config or MexcConfig()).with_overrides(
            rate_limit=rate_limit,
            urls=urls,
            stale_after=stale_after,
            stats_ttl=stats_ttl,
            rest_attempts=rest_attempts,
            max_connection_age=max_connection_age,
            clock_warn_ms=clock_warn_ms,
            ccxt_config=ccxt_config,
            quiet_after=quiet_after,
        )
        super().__init__(config, backoff_factory, listener)
        self.symbols = list(symbols)
        if config.record_dir is not None:
            self._start_recording(config, backoff_factory is Backoff)
        self.wire = wire if wire is not None else self.recorder
        self._rest = RestClient(self)
        self.records = Records(self, self._rest.fetch_time)
        self.shards = ShardPool(self, self._rest, self.instruments)
        self.markets = Markets(self._rest, self.shards.share_markets)
        self.fetch = Fetcher(self, self._rest, self.records, self.markets.instrument)
        self.stats = Stats24h(self, self._rest, self.records, self.markets.instrument, self.shards.symbols)
        self.probe = BookProbe(self, self._rest)
        #: the all-pairs REST book snapshots that decide about silent book tickers
        self.books = self.probe.books
        self.supervisor = Supervisor(self, self.shards)

    def _start_recording(self, config: MexcConfig, default_backoff: bool) -> None:
        """Record into ``config.record_dir``; the streams' jitter (and the default backoffs')
        is seeded, the seed noted with what a replay needs to build this adapter again."""
        from ...recording.hooks import Recorder, config_meta, seeded_backoffs

        self.recorder = recorder = Recorder(str(config.record_dir))
        self.seed = recorder.seed
        self.pacer = NotingPacer(recorder.mark, lambda: self.yielded)
        if default_backoff:
            self.backoff_factory = seeded_backoffs(recorder.seed)
        meta = {
            "symbols": self.symbols,
            "config": config_meta(config),
            "backoff_seed": recorder.seed if default_backoff else None,
            "seed": recorder.seed,
        }
        recorder.meta("adapter", meta)

    # ------------------------------------------------------------------ clients
    @property
    def rest(self) -> ccxt_async.mexc:
        """The ccxt REST client, created on first use (constructing the adapter does no I/O)."""
        return self._rest.client

    async def ws(self, symbol: str | None = None) -> MexcWsClient:
        """The websocket client of ``symbol``'s shard (default: the first symbol's), sharing the
        REST client's markets; see ``shards``."""
        self.ensure_open()
        key = symbol if symbol is not None else (self.symbols[0] if self.symbols else "")
        return await self.shards.ws(key)

    def reserve(self, symbols: list[str]) -> None:
        """Assign ``symbols`` their connections now, in this order (see ``ShardPool.reserve``):
        the feeder calls this before their bootstraps race."""
        self.shards.reserve(symbols)

    async def release(self, symbol: str) -> None:
        """Stop MEXC's pushes for ``symbol`` (its streams must already be cancelled), free its
        connection slot and forget its stats."""
        self.stats.forget(symbol)
        await self.shards.release(symbol)

    # ------------------------------------------------------------------ markets
    async def instruments(self) -> InstrumentProvider:
        """Load markets once (retrying transient failures) and index them."""
        return await self.markets.instruments()

    async def instrument(self, symbol: str) -> Instrument:
        """Validated spot instrument; raises :class:`UnknownSymbolError` at once, never retried."""
        return await self.markets.instrument(symbol)

    async def reload_markets(self) -> InstrumentProvider:
        """Load MEXC's markets afresh and hand them to every websocket client."""
        return await self.markets.reload()

    async def select_universe(self, spec: UniverseSpec) -> Selection:
        """The symbols ``spec`` picks from freshly loaded markets."""
        return await self.markets.select_universe(spec)

    async def validate_symbols(
        self, symbols: list[str] | None = None
    ) -> tuple[list[Instrument], dict[str, UnknownSymbolError]]:
        """Split ``symbols`` (default ``self.symbols``) into valid instruments and per-symbol errors."""
        return await self.markets.validate(self.symbols if symbols is None else symbols)

    # ------------------------------------------------------------------ REST
    async def fetch_time(self, samples: int = 3) -> int:
        """Exchange time in ms; each call also refines the clock offset (see ``time_sync``)."""
        return await self._rest.fetch_time(samples)

    async def fetch_ohlcv(self, symbol: str, timeframe: str = "1m", limit: int = 1500) -> list[list]:
        """The ``limit`` most recent closed bars ``[[ms, o, h, l, c, v], ...]``, ascending."""
        return await self.fetch.ohlcv(symbol, timeframe, limit)

    async def fetch_recent_bars(self, symbol: str, slots: int = 1500, timeframe: str = "1m") -> list[list]:
        """The closed bars of the latest ``slots`` slots (and the bar before them when the first
        slot has none): a gap-filled history in 3–4 requests, ``fetch_ohlcv`` needs up to 33."""
        return await self.fetch.recent(symbol, timeframe, slots)

    async def fetch_ohlcv_range(
        self, symbol: str, first_open: int, last_open: int, timeframe: str = "1m"
    ) -> list[list]:
        """The exchange's closed bars with open times in ``first_open..last_open``."""
        return await self.fetch.ohlcv_range(symbol, first_open, last_open, timeframe)

    async def fetch_orderbook(self, symbol: str, limit: int = 50) -> dict[str, Any]:
        """Order-book snapshot (ccxt's structure; ``nonce`` is MEXC's ``lastUpdateId``)."""
        return await self.fetch.orderbook(symbol, limit)

    async def fetch_ticker_stats(self, symbol: str) -> dict:
        """Last price and rolling 24 h base volume (REST ``/api/v3/ticker/24hr``)."""
        return await self.stats.fetch(symbol)

    async def fetch_swap_ticker(self, symbol: str) -> dict | None:
        """Funding rate and open interest of ``symbol``'s perpetual; None when it has none."""
        return await self.fetch.swap_ticker(symbol)

    # ------------------------------------------------------------------ streams
    async def stream_ticker(self, symbol: str) -> AsyncIterator[dict[str, Any]]:
        """Book-ticker records ``{ts, bid, ask, last, spread, volume, rx}`` (module doc)."""
        await self.instrument(symbol)
        await self.records.ensure_clock()
        watch, judge = (lambda ws: ws.watch_ticker(symbol)), partial(self.probe.judge, symbol)
        peek = partial(ccxt_compat.cached_ticker, symbol=symbol)
        records = self.records
        async for tk, rx in self.supervisor.supervise(symbol, Channel.TICKER, watch, judge, peek):
            stats = self.stats.fresh(symbol)
            last = self.stats.last_trade.get(symbol, stats.get("last"))
            record = records.parsed(symbol, Channel.TICKER, parse_book_ticker, tk, last, stats.get("volume"))
            now = self.clock.now_ms()
            record = records.checked(symbol, Channel.TICKER, record, validation.check_book, now)
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
        await self.records.ensure_clock()
        gate = validation.TradeGate()
        watch = lambda ws: ws.watch_trades(symbol)  # noqa: E731
        async for batch, rx in self.supervisor.supervise(symbol, Channel.TRADES, watch):
            trades = self.records.parsed(symbol, Channel.TRADES, parse_trades, batch, rx)
            if trades:
                trades = self.records.valid_trades(symbol, trades, gate)
            if trades:
                self.stats.last_trade[symbol] = trades[-1]["price"]
                yield trades

    async def stream_swap_ticker(self, symbol: str) -> AsyncIterator[dict[str, Any]]:
        """Funding/open-interest records of ``symbol``'s perpetual (see ``parse_swap_ticker``).

        Raises ``UsageError`` when the symbol has no perpetual on MEXC.
        """
        inst = await self.instrument(symbol)
        if inst.perp_symbol is None:
            raise UsageError(f"{symbol!r} has no USDT perpetual on MEXC: no funding/open interest")
        perp = inst.perp_symbol
        watch, peek = (lambda ws: ws.watch_ticker(perp)), partial(ccxt_compat.cached_ticker, symbol=perp)
        await self.records.ensure_clock()
        records = self.records
        async for tk, rx in self.supervisor.supervise(symbol, Channel.SWAP, watch, peek=peek):
            record = records.parsed(symbol, Channel.SWAP, parse_swap_ticker, tk, inst.contract_size)
            now = self.clock.now_ms()
            record = records.checked(symbol, Channel.SWAP, record, validation.check_swap, now)
            if record is not None:
                record["rx"] = rx  # the record is ours, fresh from the parser: no copy per push
                yield record

    def malformed_frames(self) -> int:
        """Frames dropped because they could not be parsed, over every connection so far."""
        return self.shards.malformed_frames()

    def trades_overflow(self) -> Counter[str]:
        """symbol → trades that left ccxt's bounded cache before the stream read them."""
        return self.shards.trades_overflow()

    # ------------------------------------------------------------------ lifecycle
    async def close(self) -> None:
        """Close every client this adapter opened; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        await self.background.cancel_all()
        clients: list[Any] = self.shards.detach()
        rest = self._rest.detach()
        clients += [rest] if rest else []
        # concurrently: ccxt's close() sleeps 0.25 s per client, and there is one per shard
        await asyncio.gather(*(client.close() for client in clients))
        if self.recorder is not None:  # the writer thread flushes and fsyncs: off the loop
            await asyncio.to_thread(self.recorder.close)
