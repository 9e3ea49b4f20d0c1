"""``Fetcher``: the adapter's REST reads: closed bars (paged), order books, swap tickers.

Why apart from ``rest``: these know MEXC's answers (500-bar pages, windows not always
honoured, the still-forming last bar); ``rest`` only knows how to send a request and when to
send it again. The pure paging arithmetic is ``mexc_klines``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ... import validation
from ...errors import UsageError
from ...market_data import Channel
from .. import mexc_klines as klines
from ..mexc_instruments import Instrument
from ..mexc_parsing import parse_swap_ticker
from . import ccxt_compat
from .records import Records
from .rest import RestClient
from .runtime import MexcRuntime

log = logging.getLogger(__name__)

#: MEXC spot ``/api/v3/depth`` accepts 1..5000 levels.
MAX_DEPTH_LIMIT = 5000


class Fetcher:
    """REST reads of validated symbols, their rows checked by ``records``."""

    def __init__(
        self,
        runtime: MexcRuntime,
        rest: RestClient,
        records: Records,
        instrument: Callable[[str], Awaitable[Instrument]],
    ) -> None:
        self._runtime = runtime
        self._rest = rest
        self._records = records
        self._instrument = instrument

    async def ohlcv(self, symbol: str, timeframe: str, limit: int) -> list[list]:
        """The ``limit`` most recent closed bars ``[[ms, o, h, l, c, v], ...]``, ascending.

        Paginates in MEXC-sized pages (500). When the exchange has no bar for some slots (an
        illiquid market), older windows are fetched until ``limit`` real bars are collected;
        fewer are returned only when the market's history is shorter (logged). The newest bar
        is the last closed one by MEXC's clock, never the local one.
        """
        if limit <= 0:
            raise UsageError(f"limit must be positive, got {limit}")
        await self._instrument(symbol)
        if timeframe == klines.MONTHLY:
            return await self._monthly(symbol, limit)
        step = klines.timeframe_ms(timeframe)
        end = klines.last_closed_open(await self._exchange_now(), timeframe)
        bars: list[list] = []
        for _ in range(1 + self._runtime.config.max_extra_windows):
            missing = limit - len(bars)
            window = await self._window(symbol, timeframe, end, missing, step)
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

    async def _exchange_now(self) -> int:
        """MEXC's clock: the running estimate once measured (the feeder measures it before any
        bootstrap and every few minutes), else measured now. Three ``/api/v3/time`` round trips
        per call were a quarter of a 2000-symbol bootstrap's requests, before its klines."""
        clock = self._runtime.clock
        return clock.now_ms() if clock.synced else await self._rest.fetch_time()

    async def ohlcv_range(self, symbol: str, first_open: int, last_open: int, timeframe: str) -> list[list]:
        """The exchange's bars with open times in ``first_open..last_open`` (closed bars only).

        For backfill after an outage of any length: paginated like :meth:`ohlcv`.
        """
        await self._instrument(symbol)
        step = klines.timeframe_ms(timeframe)
        end = min(last_open, klines.last_closed_open(self._runtime.clock.now_ms(), timeframe))
        if end < first_open:
            return []
        return await self._window(symbol, timeframe, end, (end - first_open) // step + 1, step)

    async def recent(self, symbol: str, timeframe: str, slots: int) -> list[list]:
        """The closed bars of the latest ``slots`` slots, preceded by the latest bar before them
        when MEXC has none for the first slot: all a gap-filled history of those slots is made
        of (its first slots take that bar's close).

        Why beside :meth:`ohlcv`: an illiquid pair's ``slots`` real bars span days, up to 33
        page requests, of which a gap-filled history of the latest ``slots`` keeps only the
        newest. Here the bar before is searched one page at a time, newest first, as far back
        as :meth:`ohlcv`'s second window reaches (``slots`` minus the bars found), so the
        history is the same and usually costs one page more than the window (3 for 1500 bars).
        """
        if slots <= 0:
            raise UsageError(f"slots must be positive, got {slots}")
        await self._instrument(symbol)
        step = klines.timeframe_ms(timeframe)
        end = klines.last_closed_open(await self._exchange_now(), timeframe)
        first = end - (slots - 1) * step
        bars = await self._window(symbol, timeframe, end, slots, step)
        if bars and bars[0][0] == first:
            return bars
        reach, before = slots - len(bars), first - step
        while reach > 0:
            n = min(klines.PAGE_LIMIT, reach)
            older = await self._window(symbol, timeframe, before, n, step)
            if older:
                return older[-1:] + bars
            reach, before = reach - n, before - n * step
        return bars

    async def _window(self, symbol: str, timeframe: str, end_open: int, count: int, step: int) -> list[list]:
        """Real bars in the ``count`` slots ending at ``end_open``, pages fetched concurrently."""
        pages = klines.plan_pages(end_open, count, step)
        gate = asyncio.Semaphore(self._runtime.config.page_concurrency)

        async def page(since: int, until: int, n: int) -> list[list]:
            async with gate:
                return await self._placed_page(symbol, timeframe, since, until, n)

        results = await asyncio.gather(*(page(*p) for p in pages))
        rows = [row for result in results for row in result]
        return klines.merge_closed(self._records.valid_bars(symbol, rows), pages[0][0], end_open)

    async def _placed_page(self, symbol: str, timeframe: str, since: int, until: int, n: int) -> list[list]:
        """The ``n``-bar page ``since..until``, asked again without ``limit`` when MEXC answered
        it with rows of another window (recorded ``spot_klines_btcusdt_5m_limit100``)."""
        rows = await self._kline_page(symbol, timeframe, since, until, n)
        if not klines.misplaced(rows, since, until, n):
            return rows
        # asked again without ``limit``: MEXC honoured the window when it was left out
        # (recorded ``spot_klines_btcusdt_5m_single``); its default page is 500 rows
        counters = self._runtime.counters
        counters[(f"{symbol} klines", "misplaced_page")] += 1
        log.warning(
            "%s %s: MEXC answered the kline page %d..%d with rows outside it; asking again",
            *(symbol, timeframe, since, until),
        )
        again = await self._kline_page(symbol, timeframe, since, until, None)
        if klines.misplaced(again, since, until, n):
            counters[(f"{symbol} klines", "short_page")] += 1
            missing = n - sum(since <= int(r[0]) <= until for r in again)
            log.error(
                "%s %s: kline page %d..%d misplaced twice; %d of its bars may be missing",
                *(symbol, timeframe, since, until, missing),
            )
        return again

    async def _kline_page(
        self, symbol: str, timeframe: str, since: int, until: int, limit: int | None
    ) -> list[list]:
        """One spot kline page as MEXC sent it, parsed by ccxt but not filtered.

        ccxt's ``fetch_ohlcv`` builds this same request (``endTime`` is exclusive, hence +1)
        but then drops rows before ``since``, which hides a page MEXC answered for another
        window; :func:`mexc_klines.misplaced` needs to see them.
        """
        market = self._rest.client.market(symbol)
        request: dict[str, Any] = {
            "symbol": market["id"],
            "interval": ccxt_compat.spot_interval(self._rest.client, timeframe),
            "startTime": since,
            "endTime": until + 1,
        }
        if limit is not None:
            request["limit"] = limit

        async def get(_symbol: str) -> Any:  # the symbol names an UnknownSymbolError
            return await ccxt_compat.raw_klines(self._rest.client, request)

        raw = await self._rest.retry("fetch_ohlcv", get, symbol)
        return ccxt_compat.parse_klines(self._rest.client, raw, market, timeframe)

    async def _monthly(self, symbol: str, limit: int) -> list[list]:
        """Monthly bars: calendar months have no fixed length, so take the latest page."""
        rows = await self._rest.retry(
            "fetch_ohlcv", self._rest.client.fetch_ohlcv, symbol, klines.MONTHLY, None, klines.PAGE_LIMIT
        )
        rows = self._records.valid_bars(symbol, rows)
        closed = klines.merge_closed(rows, 0, int(rows[-1][0]) - 1) if rows else []
        return closed[-limit:]

    async def orderbook(self, symbol: str, limit: int) -> dict[str, Any]:
        """Order-book snapshot (ccxt's structure; ``nonce`` is MEXC's ``lastUpdateId``)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_DEPTH_LIMIT:
            raise UsageError(f"order book limit must be an integer in 1..{MAX_DEPTH_LIMIT}, got {limit!r}")
        await self._instrument(symbol)
        return await self._rest.retry("fetch_orderbook", self._rest.client.fetch_order_book, symbol, limit)

    async def swap_ticker(self, symbol: str) -> dict | None:
        """Funding rate and open interest of ``symbol``'s perpetual; None when it has none."""
        inst = await self._instrument(symbol)
        if inst.perp_symbol is None:
            return None
        ticker = await self._rest.retry("fetch_swap_ticker", self._rest.client.fetch_ticker, inst.perp_symbol)
        record = self._records.parsed(symbol, Channel.SWAP, parse_swap_ticker, ticker, inst.contract_size)
        # a REST snapshot: its time is the server's ticker cache, not a push (no time window)
        return self._records.checked(symbol, Channel.SWAP, record, validation.check_swap, None)
