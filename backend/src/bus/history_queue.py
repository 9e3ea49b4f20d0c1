"""Bar histories waiting for the bus: one per symbol, packed, never dropped.

Why: a feeder node that bootstraps the whole universe hands its bus publisher ~2,000 histories
of 1,500 bars within half a minute, faster than they can be published. Queued as bar dicts
(about 0.9 MB a symbol) they had to share a bounded outbox, which dropped most of them (2.1 M
of 3 M bars, ``docs/BENCHMARKS.md`` "Scale-out") — and an engine host cannot tell a history
that lost its oldest part from a short one. Packed as 8 floats a bar (96 KB per 1,500 bars:
about 190 MB for the whole universe, for as long as the backlog lasts) nothing needs dropping.
At most one history per symbol waits: a newer one (the symbol bootstrapped again) replaces
the one not yet published, which it makes obsolete, in the older one's place.

Pure and synchronous; the publisher decides when each history goes out.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from ..market_data import Bar, make_bar

#: ts, open, high, low, close, volume, synthetic, revision (exact as doubles: ts < 2**53)
_FIELDS = 8


def _pack(bars: Sequence[Bar]) -> array:
    packed = array("d")
    for bar in bars:
        packed.extend(
            (
                bar["ts"],
                bar["open"],
                bar["high"],
                bar["low"],
                bar["close"],
                bar["volume"],
                bar["synthetic"],
                bar.get("revision", False),
            )
        )
    return packed


def _unpack(symbol: str, packed: array) -> list[Bar]:
    return [
        make_bar(symbol, packed[i : i + 6], bool(packed[i + 6]), bool(packed[i + 7]))
        for i in range(0, len(packed), _FIELDS)
    ]


class HistoryQueue:
    """Histories by symbol in the order they first came; ``bars`` counts what waits."""

    def __init__(self) -> None:
        self._pending: dict[str, array] = {}
        #: bars waiting in all
        self.bars = 0
        #: histories that replaced one of the same symbol before it was published
        self.replaced = 0

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._pending

    def put(self, symbol: str, bars: Sequence[Bar]) -> None:
        """Queue ``symbol``'s history (replacing a waiting one of the same symbol)."""
        packed = _pack(bars)
        old = self._pending.get(symbol)
        if old is not None:
            self.replaced += 1
            self.bars -= len(old) // _FIELDS
        self._pending[symbol] = packed
        self.bars += len(bars)

    def take(self, symbol: str) -> list[Bar] | None:
        """``symbol``'s waiting history (and it no longer waits), or None."""
        packed = self._pending.pop(symbol, None)
        if packed is None:
            return None
        self.bars -= len(packed) // _FIELDS
        return _unpack(symbol, packed)

    def take_oldest(self) -> tuple[str, list[Bar]] | None:
        """The history waiting longest, as ``(symbol, bars)``; None when none waits."""
        symbol = next(iter(self._pending), None)
        if symbol is None:
            return None
        bars = self.take(symbol)
        assert bars is not None  # just seen waiting
        return symbol, bars
