"""Which MEXC spot markets to stream when the user asks for a universe rather than a list.

"Every USDT market", "only those with a perpetual", "the 200 busiest": a selection over ccxt's
loaded markets and, for a top N, MEXC's 24 h quote volumes. Pure functions over plain data, so
the rules are unit-tested without a network; the adapter fetches the inputs and the feeder
applies the difference between two selections (listings and delistings while running).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from .mexc_instruments import streamable, streamable_perp


@dataclass(frozen=True)
class UniverseSpec:
    """What to stream: streamable spot markets quoted in ``quote`` (enabled on MEXC, whether
    or not its API takes orders: ``mexc_instruments.streamable``); optionally only those with a
    streamable linear perpetual (funding and open interest), optionally the ``top`` N by 24 h
    quote volume; ``exclude`` removes symbols by name."""

    quote: str = "USDT"
    perp_only: bool = False
    top: int | None = None
    exclude: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.quote:
            raise UsageError("UniverseSpec.quote must name a currency, e.g. USDT")
        if self.top is not None and self.top < 1:
            raise UsageError(f"UniverseSpec.top must be at least 1, got {self.top}")

    @property
    def needs_volumes(self) -> bool:
        """A top N needs MEXC's 24 h tickers (one extra request); otherwise none is sent."""
        return self.top is not None


@dataclass(frozen=True)
class Selection:
    """The chosen symbols (busiest first when volumes were given, else by name) and the
    markets of the quote currency left out, each with why."""

    symbols: tuple[str, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)


def select_universe(
    markets: Mapping[str, Mapping[str, Any]],
    spec: UniverseSpec,
    quote_volumes: Mapping[str, float | None] | None = None,
) -> Selection:
    """Apply ``spec`` to ccxt's ``exchange.markets``.

    Markets of other quote currencies and non-spot markets are not candidates at all; candidates
    that are disabled (not ``streamable``: a closed API alone does not count), lack a required
    perpetual, are excluded, or fall outside the top N are in ``skipped`` with the reason, so
    the caller can log them. A market missing from ``quote_volumes`` counts as zero volume: a
    pair MEXC reports no trading for is the least busy.
    """
    if spec.needs_volumes and quote_volumes is None:
        raise UsageError("a top-N universe needs the 24 h quote volumes")
    candidates: list[str] = []
    skipped: dict[str, str] = {}
    for symbol, market in markets.items():
        if not market.get("spot") or market.get("quote") != spec.quote:
            continue
        if not streamable(market):
            skipped[symbol] = "inactive on MEXC"
        elif symbol in spec.exclude:
            skipped[symbol] = "excluded"
        elif spec.perp_only and streamable_perp(markets, symbol) is None:
            skipped[symbol] = "no active perpetual"
        else:
            candidates.append(symbol)
    if quote_volumes is None:
        return Selection(tuple(sorted(candidates)), skipped)
    ranked = sorted(candidates, key=lambda s: (-(quote_volumes.get(s) or 0.0), s))
    chosen = ranked[: spec.top] if spec.top is not None else ranked
    for symbol in ranked[len(chosen) :]:
        skipped[symbol] = f"outside the top {spec.top} by 24 h quote volume"
    return Selection(tuple(chosen), skipped)


def changes(current: Iterable[str], wanted: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(added, removed)`` going from ``current`` to ``wanted``, each in a stable order."""
    now, target = list(dict.fromkeys(current)), list(dict.fromkeys(wanted))
    now_set, target_set = set(now), set(target)
    return [s for s in target if s not in now_set], [s for s in now if s not in target_set]
