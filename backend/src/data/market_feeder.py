"""``MarketFeeder``: bootstrap bars + MEXC streams → md dicts delivered through ``on_md``.

Per symbol it bootstraps 1500 closed, gap-filled 1 m bars, seeds funding/open interest from the
perpetual's REST ticker, then runs the book-ticker, trade and (when the symbol has a perpetual)
swap-ticker streams concurrently. Every record updates the symbol's :class:`SymbolState` and,
once the state has a price and a two-sided book, one md dict is delivered (schema in
``md_mapping``).

Failure policy: one symbol failing never stops the others. Unknown or inactive symbols are
found before any stream starts, logged once at ERROR, listed in :attr:`MarketFeeder.failed`
and skipped; :meth:`run` raises only when no symbol is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from ..adapters.backoff import Backoff, is_transient
from ..adapters.mexc_ccxt import MexcAdapter
from .gap_filler import fill_minute_bars
from .live_bars import LiveBars
from .md_mapping import SymbolState

log = logging.getLogger(__name__)

MdCallback = Callable[[dict[str, Any]], Awaitable[None] | None]


class TextProvider(Protocol):
    """What the feeder needs from a text source hub (see ``text_sources``)."""

    def texts_for(self, symbol: str) -> list[str]: ...


class NoValidSymbolError(ValueError):
    """Raised by :meth:`MarketFeeder.run` when every configured symbol failed."""


class MarketFeeder:
    """Feeds market data to trading engines via callback."""

    def __init__(
        self,
        symbols: list[str],
        adapter: MexcAdapter | None = None,
        *,
        texts: TextProvider | None = None,
        bootstrap_limit: int = 1500,
        perpetuals: bool = True,
    ) -> None:
        self.symbols = list(symbols)
        self.adapter = adapter if adapter is not None else MexcAdapter(self.symbols)
        self.texts = texts
        self.bootstrap_limit = bootstrap_limit
        self.perpetuals = perpetuals
        self.states: dict[str, SymbolState] = {}
        #: symbol → why it is not streaming (unknown, inactive, or the error that stopped it).
        self.failed: dict[str, str] = {}
        #: symbol → md dicts delivered to ``on_md``.
        self.delivered: Counter[str] = Counter()
        self._tasks: dict[str, asyncio.Task] = {}
        self._closed = False

    # ------------------------------------------------------------------ bootstrap
    async def bootstrap_bars(self, symbol: str) -> list[list]:
        """Fetch the latest closed 1 m bars and forward-fill the minutes MEXC has no bar for."""
        raw = await self.adapter.fetch_ohlcv(symbol, "1m", self.bootstrap_limit)
        return fill_minute_bars(sorted(raw, key=lambda r: r[0]))[-self.bootstrap_limit :]

    async def _bootstrap_state(self, symbol: str) -> tuple[SymbolState, bool]:
        """Bars and perpetual figures for ``symbol``, retrying transient failures forever.

        The adapter already retries each REST call a few times; past that an outage is the
        feed's problem to ride out, not a reason to drop the symbol.
        """
        backoff = Backoff()
        while True:
            try:
                inst = await self.adapter.instrument(symbol)
                state = SymbolState(symbol, LiveBars(await self.bootstrap_bars(symbol), self.bootstrap_limit))
                has_perp = self.perpetuals and inst.perp_symbol is not None
                if has_perp:
                    swap = await self.adapter.fetch_swap_ticker(symbol)
                    if swap is not None:
                        state.apply_swap(swap)
                return state, has_perp
            except Exception as exc:
                if not is_transient(exc):
                    raise
                delay = backoff.next_delay()
                log.warning(
                    "%s: bootstrap failed (%s: %s); retrying in %.1fs", symbol, type(exc).__name__, exc, delay
                )
                await asyncio.sleep(delay)

    # ------------------------------------------------------------------ streaming
    async def stream_symbol(self, symbol: str, on_md: MdCallback) -> None:
        """Stream market data for a single symbol until cancelled or a stream fails for good."""
        state, has_perp = await self._bootstrap_state(symbol)
        self.states[symbol] = state
        log.info("%s: bootstrapped %d bars, streaming", symbol, len(state.bars.closed))
        async with asyncio.TaskGroup() as group:
            group.create_task(
                self._pump(state, on_md, self.adapter.stream_ticker(symbol), state.apply_ticker)
            )
            group.create_task(
                self._pump(
                    state, on_md, self.adapter.stream_trades(symbol), lambda t: state.apply_trades((t,))
                )
            )
            if has_perp:
                group.create_task(
                    self._pump(state, on_md, self.adapter.stream_swap_ticker(symbol), state.apply_swap)
                )

    async def _pump(
        self,
        state: SymbolState,
        on_md: MdCallback,
        records: AsyncIterator[dict[str, Any]],
        apply: Callable[[dict[str, Any]], None],
    ) -> None:
        async for record in records:
            apply(record)
            if state.ready():
                await self._deliver(state, on_md)

    async def _deliver(self, state: SymbolState, on_md: MdCallback) -> None:
        texts = self.texts.texts_for(state.symbol) if self.texts is not None else []
        result = on_md(state.to_md(texts))
        if inspect.isawaitable(result):
            await result
        self.delivered[state.symbol] += 1

    async def run(self, on_md: MdCallback) -> None:
        """Run market data streams for all valid symbols until :meth:`close` or total failure."""
        valid, invalid = await self.adapter.validate_symbols()
        for symbol, error in invalid.items():
            log.error("symbol %s skipped: %s", symbol, error)
            self.failed[symbol] = str(error)
        if not valid:
            raise NoValidSymbolError(f"no valid MEXC symbol to stream: {self.failed}")
        for inst in valid:
            self._tasks[inst.symbol] = asyncio.create_task(
                self.stream_symbol(inst.symbol, on_md), name=f"feed:{inst.symbol}"
            )
        try:
            await self._supervise_symbols()
        finally:
            await self._cancel_tasks()

    async def _supervise_symbols(self) -> None:
        """Wait on the symbol tasks; record each failure; raise when none is left running."""
        pending = set(self._tasks.values())
        errors: list[BaseException] = []
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                symbol = task.get_name().removeprefix("feed:")
                if task.cancelled():
                    continue
                exc = task.exception()
                reason = f"{type(exc).__name__}: {exc}" if exc else "stream ended"
                self.failed[symbol] = reason
                log.error("symbol %s stopped: %s", symbol, reason, exc_info=exc)
                if exc is not None:
                    errors.append(exc)
        if errors and not self._closed:
            raise NoValidSymbolError(f"every symbol stopped: {self.failed}") from errors[0]

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)

    def state(self) -> dict[str, Any]:
        """A plain snapshot: streaming symbols, failed symbols with reasons, md counts."""
        return {
            "streaming": sorted(s for s, t in self._tasks.items() if not t.done()),
            "failed": dict(self.failed),
            "delivered": dict(self.delivered),
        }

    async def close(self) -> None:
        """Stop every symbol task and close the adapter; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._cancel_tasks()
        await self.adapter.close()
