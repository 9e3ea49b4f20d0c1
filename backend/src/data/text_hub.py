"""The hub between text sources and the feeder: background polling, per-symbol newest texts.

Why a hub: the feeder builds an md per tick and must not wait on HTTP, so texts are fetched in
the background and :meth:`TextHub.texts_for` is a cheap in-memory read. Memory stays bounded
(N newest items per symbol, an LRU of seen ids) however long it runs, and a failing source is
logged, counted and backed off without affecting the others.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from ..backoff import Backoff
from .text_sources import Clock, TextItem, TextSource
from .text_symbols import DEFAULT_ALIASES, symbol_pattern

logger = logging.getLogger(__name__)


@dataclass
class _SourceState:
    """Per-source counters and backoff, so one bad source never slows the others."""

    source: TextSource
    name: str
    backoff: Backoff
    fetches: int = 0
    errors: int = 0
    consecutive_failures: int = 0
    items_new: int = 0
    last_error: str | None = None
    next_delay_s: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "fetches": self.fetches,
            "errors": self.errors,
            "consecutive_failures": self.consecutive_failures,
            "items_new": self.items_new,
            "last_error": self.last_error,
            "next_delay_s": self.next_delay_s,
        }


@dataclass
class _Bucket:
    """The newest items of one symbol, newest first, and the texts handed to md."""

    pattern: re.Pattern[str]
    items: list[TextItem] = field(default_factory=list)
    texts: tuple[str, ...] = ()


class TextHub:
    """Polls sources in the background and serves the newest matching texts per symbol."""

    def __init__(
        self,
        symbols: Iterable[str],
        sources: Sequence[TextSource] = (),
        *,
        interval_s: float = 60.0,
        max_per_symbol: int = 20,
        max_seen_ids: int = 5000,
        max_age_s: float | None = 24 * 3600.0,
        fetch_timeout_s: float = 30.0,
        backoff_max_s: float = 900.0,
        aliases: Mapping[str, Sequence[str]] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._aliases = {**DEFAULT_ALIASES, **(aliases or {})}
        self._buckets: dict[str, _Bucket] = {}
        self.track(symbols)
        self.interval_s = interval_s
        self._max_per_symbol = max_per_symbol
        self._max_seen_ids = max_seen_ids
        self._max_age_ms = None if max_age_s is None else int(max_age_s * 1000)
        self._fetch_timeout_s = fetch_timeout_s
        self._clock = clock
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._duplicates = 0
        self._stale = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._states: list[_SourceState] = []
        names: set[str] = set()
        for src in sources:
            name = src.name if src.name not in names else f"{src.name}#{len(self._states) + 1}"
            names.add(name)
            backoff = Backoff(base=interval_s, cap=max(backoff_max_s, interval_s), reset_after=0.0)
            self._states.append(_SourceState(src, name, backoff))

    def track(self, symbols: Iterable[str]) -> None:
        """Also collect texts for ``symbols`` from now on (a feeder whose universe grows)."""
        for symbol in symbols:
            if symbol not in self._buckets:
                self._buckets[symbol] = _Bucket(symbol_pattern(symbol, self._aliases))

    # ---- reads (hot path: called for every md) -------------------------------------------

    def texts_for(self, symbol: str) -> list[str]:
        """Newest-first texts mentioning the symbol's asset; ``[]`` for unknown symbols."""
        bucket = self._buckets.get(symbol)
        return list(bucket.texts) if bucket is not None else []

    def items_for(self, symbol: str) -> list[TextItem]:
        """Newest-first items behind :meth:`texts_for` (for strategies wanting links/times)."""
        bucket = self._buckets.get(symbol)
        return list(bucket.items) if bucket is not None else []

    # ---- ingestion -------------------------------------------------------------------------

    def _is_new(self, item_id: str) -> bool:
        """Remember ``item_id`` in a bounded LRU; re-seen ids are refreshed so a long-lived
        feed entry is not forgotten and re-added while it is still being served."""
        if item_id in self._seen:
            self._seen.move_to_end(item_id)
            return False
        self._seen[item_id] = None
        if len(self._seen) > self._max_seen_ids:
            self._seen.popitem(last=False)
        return True

    def ingest(self, items: Iterable[TextItem]) -> int:
        """Add items to the buckets of the symbols they mention; returns how many were new."""
        now_ms = int(self._clock() * 1000)
        touched: set[str] = set()
        new = 0
        for item in items:
            if not self._is_new(item.id):
                self._duplicates += 1
                continue
            if self._max_age_ms is not None and now_ms - item.ts > self._max_age_ms:
                self._stale += 1
                continue
            new += 1
            haystack = f"{item.title}\n{item.summary}"
            for symbol, bucket in self._buckets.items():
                if bucket.pattern.search(haystack) and item.text not in bucket.texts:
                    bucket.items.append(item)
                    bucket.texts += (item.text,)  # keeps the same-headline check exact
                    touched.add(symbol)
        for symbol in touched:
            self._rebuild(self._buckets[symbol], now_ms)
        return new

    def _rebuild(self, bucket: _Bucket, now_ms: int) -> None:
        """Keep the newest ``max_per_symbol`` fresh items and refresh the cached texts."""
        fresh = [i for i in bucket.items if self._max_age_ms is None or now_ms - i.ts <= self._max_age_ms]
        fresh.sort(key=lambda i: i.ts, reverse=True)
        bucket.items = fresh[: self._max_per_symbol]
        bucket.texts = tuple(i.text for i in bucket.items)

    def prune(self) -> None:
        """Drop items older than ``max_age_s``; called after every poll."""
        now_ms = int(self._clock() * 1000)
        for bucket in self._buckets.values():
            self._rebuild(bucket, now_ms)

    # ---- polling ---------------------------------------------------------------------------

    async def _poll_source(self, state: _SourceState) -> float:
        """Fetch one source once; returns the delay before its next fetch (backoff on error)."""
        state.fetches += 1
        try:
            async with asyncio.timeout(self._fetch_timeout_s):
                items = await state.source.fetch()
        except Exception as exc:
            state.errors += 1
            state.consecutive_failures += 1
            state.last_error = repr(exc)
            state.next_delay_s = state.backoff.next_delay(floor=self.interval_s)
            logger.warning(
                "text source %s failed (%d in a row): %r; retrying in %.0fs",
                state.name,
                state.consecutive_failures,
                exc,
                state.next_delay_s,
            )
            return state.next_delay_s
        if state.consecutive_failures:
            logger.info("text source %s recovered after %d failures", state.name, state.consecutive_failures)
        state.consecutive_failures = 0
        state.backoff.success()
        state.items_new += self.ingest(items)
        self.prune()
        state.next_delay_s = self.interval_s
        return state.next_delay_s

    async def poll_once(self) -> None:
        """Fetch every source once, concurrently (tests, tools, or a manual refresh)."""
        await asyncio.gather(*(self._poll_source(s) for s in self._states))

    async def _poll_forever(self, state: _SourceState) -> None:
        while True:
            delay = await self._poll_source(state)
            await asyncio.sleep(delay)

    async def start(self) -> None:
        """Start one polling task per source (first fetch immediately); idempotent."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._poll_forever(s), name=f"text-source:{s.name}") for s in self._states
            ]

    async def stop(self) -> None:
        """Cancel polling and close sources that have ``close()``; idempotent."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for state in self._states:
            close = getattr(state.source, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception as exc:
                    logger.warning("closing text source %s failed: %r", state.name, exc)

    async def __aenter__(self) -> TextHub:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def stats(self) -> dict[str, Any]:
        """Plain-dict health snapshot: per-source counters, per-symbol item counts, dedup."""
        return {
            "sources": {s.name: s.snapshot() for s in self._states},
            "symbols": {sym: len(b.items) for sym, b in self._buckets.items()},
            "duplicates": self._duplicates,
            "stale": self._stale,
            "seen_ids": len(self._seen),
        }
