"""``Markets``: MEXC's market table, loaded once, reloaded on demand, and what is picked from it.

Why apart: validating a symbol, finding its perpetual and choosing a universe all read the
same loaded markets under one lock; the REST fetches and the streams only ask for an
:class:`Instrument`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ... import validation
from ...errors import UnknownSymbolError
from ..mexc_instruments import Instrument, InstrumentProvider
from ..mexc_universe import Selection, UniverseSpec, select_universe
from . import all_pairs
from .rest import RestClient


class Markets:
    """Instruments of the REST client's markets; ``on_reload`` hands reloaded ones to the
    websocket clients, so a symbol listed since start can be streamed."""

    def __init__(self, rest: RestClient, on_reload: Callable[[], None]) -> None:
        self._rest = rest
        self._on_reload = on_reload
        self._instruments: InstrumentProvider | None = None
        #: symbols whose closed API (no API orders) was logged once, across market reloads
        self._api_closed_noted: set[str] = set()
        self._lock = asyncio.Lock()

    async def instruments(self) -> InstrumentProvider:
        """Load markets once (retrying transient failures) and index them."""
        async with self._lock:
            if self._instruments is None:
                await self._rest.retry("load_markets", self._rest.client.load_markets)
                self._instruments = InstrumentProvider(self._rest.client.markets, self._api_closed_noted)
        return self._instruments

    async def instrument(self, symbol: str) -> Instrument:
        """Validated spot instrument; raises :class:`UnknownSymbolError` at once, never retried."""
        return (await self.instruments()).require_spot(symbol)

    async def reload(self) -> InstrumentProvider:
        """Load MEXC's markets afresh (listings, delistings, status changes) and hand them to
        every websocket client."""
        async with self._lock:
            await self._rest.retry("load_markets", self._rest.client.load_markets, True)
            self._instruments = InstrumentProvider(self._rest.client.markets, self._api_closed_noted)
            self._on_reload()
        return self._instruments

    async def select_universe(self, spec: UniverseSpec) -> Selection:
        """The symbols ``spec`` picks from freshly loaded markets (plus MEXC's 24 h tickers, one
        request for all pairs, when it asks for a top N)."""
        await self.reload()
        volumes = None
        if spec.needs_volumes:
            tickers = await all_pairs.fetch_day_tickers(self._rest)
            volumes = {
                s: validation.sane_or_none(t.get("quoteVolume"), allow_zero=True) for s, t in tickers.items()
            }
        return select_universe(self._rest.client.markets, spec, volumes)

    async def validate(self, symbols: list[str]) -> tuple[list[Instrument], dict[str, UnknownSymbolError]]:
        """Split ``symbols`` into valid instruments and per-symbol errors."""
        valid, invalid = [], {}
        for symbol in symbols:
            try:
                valid.append(await self.instrument(symbol))
            except UnknownSymbolError as exc:
                invalid[symbol] = exc
        return valid, invalid
