"""Telling a quiet market from a dead stream, with one REST request for every symbol.

MEXC's aggregated book ticker is pushed only when the best bid or ask changes. An illiquid
pair (most of MEXC's two thousand USDT pairs) can stay silent for minutes on a perfectly
healthy connection, and a dead subscription is silent too. Treating silence as death resets
healthy connections and marks quiet symbols stale; ignoring it lets a dead stream serve a
stale price. So after ``QUIET_AFTER`` seconds of silence the supervisor asks the exchange:
MEXC's REST book ticker for all pairs (``GET /api/v3/ticker/bookTicker``, one request, shared
by every silent stream for ``SNAPSHOT_TTL`` seconds) either still shows the book we last
streamed — the market is quiet, and that is confirmed fresh data — or it has moved on without
us, and the stream is broken; or it has no book for the symbol at all (trading halted or
delisted), and there is nothing a reconnect could fix.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any

#: Seconds of book-ticker silence before the exchange is asked; well under the feeder's 10 s
#: stale threshold, so a quiet symbol is confirmed before it would be reported stale.
QUIET_AFTER = 5.0
#: How long one all-pairs snapshot answers every silent stream.
SNAPSHOT_TTL = 2.0

Books = Mapping[str, Mapping[str, Any]]


class BookSnapshots:
    """The latest all-pairs REST book tickers, fetched at most once per ``ttl`` seconds however
    many streams ask at the same time."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Books]],
        ttl: float = SNAPSHOT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._books: Books = {}
        self._fetched_at: float | None = None
        #: REST requests made, to show what confirming quiet markets costs.
        self.fetches = 0

    async def get(self) -> Books:
        async with self._lock:
            if self._fetched_at is None or self._clock() - self._fetched_at > self.ttl:
                self.fetches += 1
                self._books = await self._fetch()
                self._fetched_at = self._clock()
        return self._books


class Verdict(Enum):
    """What the exchange's book says about a silent book-ticker stream."""

    QUIET = "quiet"  # unchanged: the market is quiet and the stream healthy
    MOVED = "moved"  # changed without a push: the stream missed it
    ABSENT = "absent"  # no two-sided book: not trading (halted, delisted), nothing to stream


def judge_silence(
    book: Mapping[str, Any] | None, last: Mapping[str, Any] | None, now_ms: int
) -> tuple[Verdict, dict[str, Any] | None]:
    """The verdict and, for a quiet market, the ticker confirming it.

    ``book`` is the exchange's REST book ticker of the symbol (None when it is not listed),
    ``last`` the last streamed ticker (None before the first push: MEXC pushes nothing on
    subscribe, so a quiet pair's first book comes from here). The confirmation is the REST
    book stamped ``now_ms`` in exchange time: it is what MEXC says the book is now.
    """
    if book is None or book.get("bid") is None or book.get("ask") is None:
        return Verdict.ABSENT, None
    if last is not None and (float(book["bid"]), float(book["ask"])) != (last.get("bid"), last.get("ask")):
        return Verdict.MOVED, None
    return Verdict.QUIET, {**book, "timestamp": now_ms}
