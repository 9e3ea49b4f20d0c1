"""News/social texts for ``md["texts"]``: what a text item is and what a text source must offer.

The pieces live in one module each: :mod:`.text_symbols` (which headline mentions which
symbol), :mod:`.text_rss` (an RSS/Atom source) and :mod:`.text_hub` (:class:`~.text_hub.TextHub`,
which polls the sources in the background). This module holds only the types they share, so
a new kind of source depends on nothing but them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: Seconds since the epoch, like ``time.time``; injectable so tests control "now".
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
