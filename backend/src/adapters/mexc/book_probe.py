"""``BookProbe``: asks MEXC's all-pairs REST book whether a silent book ticker is quiet or dead.

Why apart: it is the ``judge`` the supervisor calls for the ticker channel (``mexc_quiet``
decides; this owns the shared snapshot and the timestamp the confirmation carries).
"""

from __future__ import annotations

import time

from .. import mexc_quiet
from ..mexc_quiet import BookSnapshots, Verdict, judge_silence
from . import all_pairs
from .rest import RestClient
from .runtime import MexcRuntime


class BookProbe:
    """One all-pairs REST book snapshot, shared by every silent stream (``mexc_quiet``)."""

    def __init__(self, runtime: MexcRuntime, rest: RestClient) -> None:
        self._runtime = runtime
        self._rest = rest
        # the clock looked up now, not when mexc_quiet was imported: a replay runs it virtually
        self.books = BookSnapshots(self._fetch_books, clock=time.monotonic)
        self._books_as_of_ms = 0

    async def _fetch_books(self) -> mexc_quiet.Books:
        """MEXC's REST book tickers of every spot pair, one request."""
        as_of = self._runtime.clock.now_ms()  # the books are at least this recent, in exchange time
        books = await all_pairs.fetch_book_tickers(self._rest)
        self._books_as_of_ms = as_of
        return books

    async def judge(self, symbol: str, last: dict | None) -> tuple[Verdict, dict | None]:
        """What MEXC's REST book says about ``symbol``'s silent book ticker."""
        books = await self.books.get()
        # Stamped when the snapshot was asked for, less the clock estimate's error: a push that
        # follows must never look older than the confirmation (the feeder would drop it as
        # out of order), and the confirmation must never look older than the push it confirms.
        as_of = self._books_as_of_ms - self._runtime.config.confirm_margin_ms
        pushed = last.get("timestamp") if last is not None else None
        return judge_silence(books.get(symbol), last, max(as_of, pushed or as_of))
