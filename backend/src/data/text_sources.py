"""News/social texts for ``md["texts"]``: pluggable sources, a polling hub, an RSS/Atom source.

Why a hub between sources and the feeder: the feeder builds an md per tick and must not wait on
HTTP, so texts are fetched in the background and :meth:`TextHub.texts_for` is a cheap in-memory
read. Memory stays bounded (N newest items per symbol, an LRU of seen ids) however long it runs,
and a failing source is logged, counted and backed off without affecting the others.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import html
import io
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import aiohttp
import feedparser

from ..backoff import Backoff
from ..errors import TextSourceError

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class TextItem:
    """One headline/post. ``ts`` is epoch ms like md["ts"] (fetch time when the feed has none)."""

    id: str
    title: str
    ts: int
    source: str
    link: str = ""
    summary: str = ""

    @property
    def text(self) -> str:
        """The string that goes into md["texts"]: the headline, or the summary without one."""
        return self.title or self.summary


@runtime_checkable
class TextSource(Protocol):
    """Anything that can be polled for recent items; may also define ``async close()``."""

    name: str

    async def fetch(self) -> list[TextItem]: ...


# ---- symbol matching ----------------------------------------------------------------------

#: Names a headline uses instead of the ticker. Upper-case aliases are matched as tickers
#: (case-sensitive, so "sol" in Spanish text is not Solana); others case-insensitively.
#: Ambiguous English words ("Ripple" effect, "Avalanche" of liquidations) are left out on
#: purpose; pass ``aliases=`` to TextHub to add them.
DEFAULT_ALIASES: Mapping[str, Sequence[str]] = {
    "BTC": ("Bitcoin", "XBT"),
    "ETH": ("Ethereum", "Ether"),
    "SOL": ("Solana",),
    "DOGE": ("Dogecoin",),
    "ADA": ("Cardano",),
    "BNB": ("Binance Coin",),
    "LTC": ("Litecoin",),
    "DOT": ("Polkadot",),
    "LINK": ("Chainlink",),
}

_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH")


def base_asset(symbol: str) -> str:
    """ "BTC/USDT", "BTC/USDT:USDT", "BTC_USDT", "BTCUSDT" -> "BTC"."""
    head = re.split(r"[/:_-]", symbol.strip(), maxsplit=1)[0].upper()
    if head != symbol.strip().upper():
        return head
    for quote in _QUOTES:
        if head.endswith(quote) and len(head) > len(quote):
            return head[: -len(quote)]
    return head


def symbol_pattern(symbol: str, aliases: Mapping[str, Sequence[str]] = DEFAULT_ALIASES) -> re.Pattern[str]:
    """Regex that finds the symbol's base asset as a whole word: ticker, $cashtag or name."""
    base = base_asset(symbol)
    names = [base, *aliases.get(base, ())]
    tickers = [n for n in names if n.isupper()]
    words = [n for n in names if not n.isupper()]
    ticker_alt = "|".join(map(re.escape, tickers))
    parts = [
        rf"(?<![A-Za-z0-9])\$?(?:{ticker_alt})(?![A-Za-z0-9])",
        rf"(?i:\$(?:{ticker_alt}))(?![A-Za-z0-9])",
    ]
    if words:
        parts.append(rf"(?i:\b(?:{'|'.join(map(re.escape, words))})\b)")
    return re.compile("|".join(parts))


# ---- RSS / Atom -----------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_MAX_SUMMARY = 1000


def _field_text(entry: Any, key: str) -> str:
    """Plain text of a feed field; markup is stripped only when feedparser says it is HTML,
    so a plain-text headline like "BTC < 50k > ETH" keeps its characters."""
    raw = entry.get(key, "")
    if "html" in entry.get(f"{key}_detail", {}).get("type", ""):
        raw = html.unescape(_TAG.sub(" ", raw))
    return _SPACE.sub(" ", raw).strip()


def _content_id(title: str, summary: str) -> str:
    """Stable id for entries with neither guid nor link, so they still de-duplicate."""
    return hashlib.sha1(f"{title}\n{summary}".encode(), usedforsecurity=False).hexdigest()


def _entry_ts(entry: Any, now_ms: int) -> int:
    """Published (else updated) time in ms, clamped to now so a future date cannot pin an item."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            return min(calendar.timegm(parsed) * 1000, now_ms)
    return now_ms


def parse_feed(
    body: bytes, source: str, now_ms: int, *, content_type: str = "", max_items: int = 200
) -> list[TextItem]:
    """Parse an RSS/Atom document already downloaded; pure, so it runs in a worker thread.

    A BytesIO is passed because feedparser given ``bytes`` may treat them as a path or URL and
    do I/O itself. Feeds with minor errors but usable entries are accepted (common in the
    wild); a document with no usable entry that is malformed or not a feed is an error.
    """
    parsed = feedparser.parse(io.BytesIO(body), response_headers={"content-type": content_type})
    items: list[TextItem] = []
    for entry in parsed.entries[:max_items]:
        title = _field_text(entry, "title")
        summary = _field_text(entry, "summary")[:_MAX_SUMMARY]
        if not (title or summary):
            continue
        link = entry.get("link", "")
        item_id = entry.get("id") or link or _content_id(title, summary)
        items.append(TextItem(item_id, title, _entry_ts(entry, now_ms), source, link, summary))
    if not items and not parsed.version:
        raise TextSourceError(f"{source}: not an RSS/Atom feed ({parsed.get('bozo_exception')!r})")
    if not items and parsed.bozo:
        raise TextSourceError(f"{source}: malformed feed: {parsed.get('bozo_exception')!r}")
    return items


class RssTextSource:
    """Polls one RSS/Atom URL with aiohttp; parsing runs in a thread to keep the loop free."""

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        max_bytes: int = 2_000_000,
        max_items: int = 200,
        clock: Clock = time.time,
    ) -> None:
        self.url = url
        self.name = name or url
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_bytes = max_bytes
        self._max_items = max_items
        self._clock = clock

    async def fetch(self) -> list[TextItem]:
        """Download and parse the feed; raises on HTTP errors, timeouts and unusable bodies."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.get(self.url, timeout=self._timeout) as resp:
            if resp.status != 200:
                raise TextSourceError(f"{self.name}: HTTP {resp.status}")
            body = await self._read_capped(resp)
            content_type = resp.headers.get("Content-Type", "")
        return await asyncio.to_thread(
            parse_feed,
            body,
            self.name,
            int(self._clock() * 1000),
            content_type=content_type,
            max_items=self._max_items,
        )

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        """Read the body, refusing more than ``max_bytes`` so a bad URL cannot eat memory."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self._max_bytes:
                raise TextSourceError(f"{self.name}: body larger than {self._max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        """Close the session if this source created it; idempotent."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


# ---- hub ------------------------------------------------------------------------------------


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
