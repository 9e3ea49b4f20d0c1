"""``Stats24h``: MEXC's rolling 24 h stats per symbol, refreshed in the background.

Why: MEXC's spot ticker stream is a book ticker (bid/ask only), so the ``last`` and ``volume``
of a ticker record come from elsewhere: ``last`` from the latest trade this adapter saw on
the trade stream, else the REST 24 h ticker's ``lastPrice``; ``volume`` from the REST 24 h
ticker, refreshed at most every ``stats_ttl`` seconds without ever blocking the stream —
one request per symbol, or one all-pairs request above ``bulk_stats_above`` streamed symbols.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import ccxt

from ... import validation
from ...market_data import Channel
from ..mexc_instruments import Instrument
from ..mexc_parsing import parse_24h_stats
from . import all_pairs
from .records import Records
from .rest import RestClient
from .runtime import MexcRuntime

log = logging.getLogger(__name__)


class Stats24h:
    """Cached 24 h stats and latest trade price of each streamed symbol."""

    def __init__(
        self,
        runtime: MexcRuntime,
        rest: RestClient,
        records: Records,
        instrument: Callable[[str], Awaitable[Instrument]],
        streamed: Callable[[], list[str]],
    ) -> None:
        self._runtime = runtime
        self._rest = rest
        self._records = records
        self._instrument = instrument
        self._streamed = streamed
        #: symbol → (fetched at, monotonic; stats)
        self.cache: dict[str, tuple[float, dict]] = {}
        #: symbol → price of the latest trade streamed
        self.last_trade: dict[str, float] = {}

    def forget(self, symbol: str) -> None:
        """Drop what is known of a symbol no longer streamed."""
        self.last_trade.pop(symbol, None)
        self.cache.pop(symbol, None)

    def fresh(self, symbol: str) -> dict:
        """Cached 24 h stats; schedules a background refresh when older than ``stats_ttl`` —
        of this symbol alone, or of every streamed symbol at once when there are many."""
        fetched_at, stats = self.cache.get(symbol, (None, {}))
        config = self._runtime.config
        stale = fetched_at is None or time.monotonic() - fetched_at > config.stats_ttl
        if stale:
            bulk = len(self._streamed()) > config.bulk_stats_above
            name = "stats:*" if bulk else f"stats:{symbol}"
            background = self._runtime.background
            if not background.running(name):
                background.spawn(self._refresh(None if bulk else symbol), name)
        return stats

    async def _refresh(self, symbol: str | None) -> None:
        """Refresh one symbol's stats, or (``None``) every streamed symbol's from one request."""
        try:
            if symbol is not None:
                await self.fetch(symbol)
                return
            tickers = await all_pairs.fetch_day_tickers(self._rest)
            now = time.monotonic()
            for streamed in self._streamed():
                if (ticker := tickers.get(streamed)) is not None:
                    self.cache[streamed] = (now, self._parse(streamed, ticker))
        except ccxt.BaseError as exc:  # the stream goes on with the previous figures
            self._runtime.counters[(f"{symbol or '*'} stats", f"error.{type(exc).__name__}")] += 1
            log.warning("%s: 24h stats refresh failed: %s", symbol or "all symbols", exc)

    async def fetch(self, symbol: str) -> dict:
        """Last price and rolling 24 h base volume (REST ``/api/v3/ticker/24hr``), cached."""
        await self._instrument(symbol)
        ticker = await self._rest.retry("fetch_ticker", self._rest.client.fetch_ticker, symbol)
        stats = self._parse(symbol, ticker)
        self.cache[symbol] = (time.monotonic(), stats)
        return stats

    def _parse(self, symbol: str, ticker: dict) -> dict:
        """The 24 h stats of a REST ticker, an impossible ``last`` or ``volume`` replaced by
        None (the stream's ``last`` then falls back to trades) and counted."""
        stats = parse_24h_stats(ticker)
        clean, reason = validation.clean_stats(stats)
        if reason is not None:
            self._records.drop(symbol, Channel.STATS, reason, stats)
        return clean
