"""The feeder's monitor: what no single message reveals, checked on a timer.

Silence is a matter of time passing, not of an event, so a task sweeps every
``monitor_interval``: a symbol whose book ticker stayed silent past its threshold is marked
``stale`` (one md with ``stale=True``, so engines never trade on silently old data); frames the
websocket client skipped as malformed and trades lost in ccxt's bounded cache are counted as
drops (they never reach a stream); and the clock offset to MEXC is refreshed every
``time_sync_interval``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from ..adapters.transient import is_transient
from ..market_data import Channel
from .feeder_config import FeederConfig
from .health import FeedHealth
from .md_mapping import SymbolState

if TYPE_CHECKING:
    from ..adapters.mexc_ccxt import MexcAdapter

log = logging.getLogger(__name__)


class FeedMonitor:
    """Periodic checks of one feeder's streams (see the module doc)."""

    def __init__(
        self,
        adapter: MexcAdapter,
        health: FeedHealth,
        clock: Callable[[], float],
        config: FeederConfig,
    ) -> None:
        self.adapter = adapter
        self.health = health
        self.clock = clock
        self.interval = config.monitor_interval
        self.time_sync_interval = config.time_sync_interval

    async def run(
        self,
        states: Callable[[], Mapping[str, SymbolState]],
        republish: Callable[[SymbolState], Awaitable[None]],
    ) -> None:
        """Sweep forever. ``states`` reads the feeder's current symbol states; ``republish``
        delivers a symbol's md again once it was marked stale."""
        next_sync = self.clock() + self.time_sync_interval
        malformed_seen = 0
        overflow_seen: Counter[str] = Counter()
        while True:
            await asyncio.sleep(self.interval)
            await self.adapter.pacer.mark("monitor")
            now = self.clock()
            for symbol, state in list(states().items()):
                if not state.stale and self.health.freshness(symbol).is_stale(now):
                    state.stale = True
                    log.warning(
                        "%s: no fresh data for %.1fs: md marked stale", symbol, self.health.stale_after_s
                    )
                    if state.ready():
                        await republish(state)
            malformed = self.adapter.malformed_frames()
            if malformed > malformed_seen:
                self.health.channel("*", "ws").on_receive(malformed - malformed_seen)
                self.health.channel("*", "ws").on_drop("malformed", malformed - malformed_seen)
                malformed_seen = malformed
            self._count_trade_overflow(overflow_seen)
            if now >= next_sync:
                next_sync = now + self.time_sync_interval
                await self.sync_clock()

    def _count_trade_overflow(self, seen: Counter[str]) -> None:
        """Trades lost in ccxt's bounded cache (a consumer far behind) are drops of the symbol's
        trade stream: received and dropped, so the drop ratio shows them."""
        for symbol, lost in self.adapter.trades_overflow().items():
            if lost > seen[symbol]:
                health = self.health.channel(symbol, Channel.TRADES)
                health.on_receive(lost - seen[symbol])
                health.on_drop("cache_overflow", lost - seen[symbol])
                seen[symbol] = lost

    async def sync_clock(self) -> None:
        """Measure the offset to MEXC's clock; a transient failure keeps the last one."""
        try:
            await self.adapter.fetch_time()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("clock sync failed: %s", exc)
            return
        self.health.clock_offset_ms = self.adapter.clock.offset_ms
