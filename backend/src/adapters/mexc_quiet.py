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
#: The quiet check falls due after between ``1 - QUIET_SPREAD`` and 1 times its silence
#: (randomly, per wait), so the markets one snapshot confirmed do not all wake together again.
QUIET_SPREAD = 0.2

Books = Mapping[str, Mapping[str, Any]]


class BookSnapshots:
    """The latest all-pairs REST book tickers, fetched at most once per ``ttl`` seconds however
    many streams ask at the same time.

    Askers share the fetch in flight (one task, shielded: an asker's own timeout cannot cancel
    it for the others) rather than queueing on a lock. A lock hands the snapshot on to one
    waiter per event-loop iteration: with two thousand silent streams on a loaded loop the last
    waiters used to give up after the quiet check's 5 s, and a failed fetch was repeated by
    each waiter in turn."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Books]],
        ttl: float = SNAPSHOT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.ttl = ttl
        self._clock = clock
        self._pending: asyncio.Future[Books] | None = None
        self._books: Books = {}
        self._fetched_at: float | None = None
        #: REST requests made, to show what confirming quiet markets costs.
        self.fetches = 0

    async def get(self) -> Books:
        """The snapshot, fetched first when older than ``ttl`` (or joining the fetch under way)."""
        if self._fetched_at is not None and self._clock() - self._fetched_at <= self.ttl:
            return self._books
        if self._pending is None:
            self.fetches += 1
            self._pending = asyncio.ensure_future(self._refresh())
            # every asker may have timed out by the time it fails: the error is theirs, not a
            # "never retrieved" complaint at garbage collection
            self._pending.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(self._pending)

    async def _refresh(self) -> Books:
        try:
            self._books = await self._fetch()
            self._fetched_at = self._clock()
            return self._books
        finally:
            self._pending = None


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
