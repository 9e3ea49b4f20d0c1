"""An RSS/Atom :class:`~.text_sources.TextSource`: download with aiohttp, parse with feedparser.

Why parsing is a pure function apart from the download: feedparser is CPU-bound and
synchronous, so :class:`RssTextSource` runs :func:`parse_feed` in a worker thread and the
event loop that builds md never waits on it; the size cap keeps a wrong URL from eating memory.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import html
import io
import re
import time
from typing import Any

import aiohttp
import feedparser

from ..errors import TextSourceError
from .text_sources import Clock, TextItem

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
