"""Universe reload: keep a feeder's symbols in step with MEXC's listings while it runs.

A :class:`~..adapters.mexc_universe.UniverseSpec` ("every active USDT market", "the top N by
24 h quote volume") is resolved at start and again every ``reload_interval`` seconds: delisted
or outranked symbols stop, listed or ranked-up ones start, and a symbol whose perpetual was
listed or delisted since its bootstrap restarts (funding and open interest come or go). A
failed reload keeps the current universe; the next one tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from ..adapters.mexc_universe import Selection, UniverseSpec, changes
from ..adapters.transient import is_transient
from .feeder_config import FeederConfig

if TYPE_CHECKING:
    from ..adapters.mexc_ccxt import MexcAdapter

log = logging.getLogger(__name__)


class Streaming(Protocol):
    """What the reload changes: the feeder's running symbol set."""

    symbols: list[str]

    async def add_symbols(self, symbols: Iterable[str]) -> list[str]: ...

    async def remove_symbols(self, symbols: Iterable[str]) -> list[str]: ...


class UniverseReload:
    """Resolves ``spec`` for a feeder (:meth:`select`) and keeps it current (:meth:`run`).

    ``has_perp`` is the feeder's own symbol → "streams its perpetual" map (shared, not copied):
    a change there since bootstrap is what makes a symbol restart.
    """

    def __init__(
        self,
        spec: UniverseSpec,
        adapter: MexcAdapter,
        feeder: Streaming,
        has_perp: Mapping[str, bool],
        config: FeederConfig,
    ) -> None:
        self.spec = spec
        self.adapter = adapter
        self.feeder = feeder
        self.interval = config.reload_interval
        self.perpetuals = config.perpetuals
        self._has_perp = has_perp
        #: markets already logged as left out, so each is logged once
        self._skipped: set[str] = set()

    async def select(self) -> list[str]:
        """Resolve the universe now (at start); log it; the symbols in it."""
        selection = await self.adapter.select_universe(self.spec)
        self._log_selection(selection)
        return list(selection.symbols)

    def _log_selection(self, selection: Selection) -> None:
        """Log the universe and, once each, the markets it leaves out and why."""
        fresh = {s: why for s, why in selection.skipped.items() if s not in self._skipped}
        for symbol, why in sorted(fresh.items()):
            log.info("market %s not streamed: %s", symbol, why)
        self._skipped = set(selection.skipped)
        log.info("universe %s: %d symbols", self.spec, len(selection.symbols))

    async def run(self) -> None:
        """Every ``interval``: reload MEXC's markets, stop delisted symbols, start new ones."""
        while True:
            await asyncio.sleep(self.interval)
            await self.adapter.pacer.mark("universe")
            try:
                selection = await self.adapter.select_universe(self.spec)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("market reload failed (%s); the current universe stays", exc)
                continue
            self._log_selection(selection)
            added, removed = changes(self.feeder.symbols, selection.symbols)
            if removed:
                log.info("leaving the universe (delisted, inactive or outranked): %s", removed)
                await self.feeder.remove_symbols(removed)
            if added:
                log.info("joining the universe (listed or ranked up): %s", added)
                await self.feeder.add_symbols(added)
            await self._restart_perp_changes()

    async def _restart_perp_changes(self) -> None:
        """Restart symbols whose perpetual was listed or delisted since their bootstrap: a new
        one brings funding and open interest, a gone one must not leave its last figures in
        every md (nor a swap stream waiting for pushes that never come)."""
        changed = []
        for symbol, had in list(self._has_perp.items()):
            inst = await self.adapter.instrument(symbol)
            if (self.perpetuals and inst.perp_symbol is not None) != had:
                changed.append(symbol)
        if changed:
            log.info("perpetual listed or delisted, restarting: %s", changed)
            await self.feeder.remove_symbols(changed)
            await self.feeder.add_symbols(changed)
