"""Smoke run: the whole feed (adapter → feeder → engines) for a while, under a fault schedule,
graded against the Epic's four KPIs.

Against MEXC (network) it just runs and measures; offline it starts the loopback simulator and
breaks it on schedule (``fault_schedule``). How each KPI is graded (rules in ``data.kpis``):

* **dropped** = feeder drops (malformed, stale) + engine queue drops, over records received.
* **p95 parse latency** = frame received → md ready, over every record of the run.
* **uptime** = per symbol, the share of time with fresh data (``freshness.Freshness``), worst
  symbol. Downtime inside a scheduled *exchange* outage (refused connections, a silent or
  pong-less server) is the exchange's, not the feed's: it is excluded from the graded figure
  and shown in a second, ungraded row.
* **recovery** = for each fault, from the moment the exchange is healthy again (the fault's
  end; at once for drops and closes) to the first fresh book-ticker data of every symbol on a
  new connection; worst case over the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ..adapters.mexc_ccxt import MexcAdapter
from ..data.health import FeedHealth
from ..data.kpis import KpiRow, all_passed, grade, smoke_measurements
from ..data.market_feeder import MarketFeeder
from ..engine.manager import EngineManager
from ..errors import UsageError
from ..market_data import Channel
from .fault_schedule import EXCHANGE_OUTAGES, FaultEvent

log = logging.getLogger(__name__)

#: A recovery not seen within this long is recorded as this long (a failed KPI, not a hang).
RECOVERY_GIVE_UP_S = 60.0


@dataclass
class SmokeConfig:
    symbols: list[str]
    duration_s: float
    schedule: list[FaultEvent] = field(default_factory=list)
    use_sim: bool = True
    #: a book ticker silent this long makes a symbol stale (uptime) ...
    stale_after_s: float = 5.0
    #: ... and this long makes the adapter reset the connection (watchdog).
    watchdog_s: float = 10.0


@dataclass
class SmokeResult:
    rows: list[KpiRow]
    info: dict[str, Any]
    snapshot: dict[str, Any]

    @property
    def passed(self) -> bool:
        return all_passed(self.rows)


@contextlib.asynccontextmanager
async def _exchange(use_sim: bool) -> AsyncIterator[Any]:
    if not use_sim:
        yield None
        return
    from ..sim.server import MexcSimulator

    async with MexcSimulator() as sim:
        yield sim


class SmokeRun:
    """One smoke run; ``progress(elapsed_s, status)`` is called about once a second."""

    def __init__(self, config: SmokeConfig, progress: Callable[[float, dict[str, Any]], None] | None = None):
        self.config = config
        self.progress = progress
        self.health = FeedHealth(stale_after_s=config.stale_after_s)
        self.recoveries: list[dict[str, Any]] = []
        self.outages: list[tuple[float, float]] = []
        self.engine_stats: dict[str, Any] = {}
        self._t0 = 0.0

    async def run(self) -> SmokeResult:
        cfg = self.config
        if cfg.schedule and not cfg.use_sim:
            raise UsageError("a fault schedule needs the simulator (--sim): MEXC is not ours to break")
        async with _exchange(cfg.use_sim) as sim:
            adapter = MexcAdapter(
                cfg.symbols,
                rate_limit=sim is None,
                urls=sim.urls if sim is not None else None,
                stale_after={Channel.TICKER: cfg.watchdog_s},
            )
            feeder = MarketFeeder(cfg.symbols, adapter=adapter, health=self.health)
            manager = EngineManager(cfg.symbols, feeder=feeder)
            await manager.start()
            self._t0 = time.monotonic()
            faults = asyncio.create_task(self._play(sim)) if sim is not None else None
            try:
                await self._wait(cfg.duration_s)
            finally:
                if faults is not None:
                    faults.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await faults
                self.engine_stats = manager.stats()
                await manager.stop()
        return self._grade(feeder.health())

    async def _wait(self, duration_s: float) -> None:
        end = self._t0 + duration_s
        while (now := time.monotonic()) < end:
            if self.progress is not None:
                snap = self.health.snapshot(now)["totals"]
                self.progress(now - self._t0, snap)
            await asyncio.sleep(min(1.0, end - now))

    # ------------------------------------------------------------------ faults
    async def _play(self, sim: Any) -> None:
        for event in self.config.schedule:
            await asyncio.sleep(max(0.0, self._t0 + event.at_s - time.monotonic()))
            before = {s: self.health.channel(s, Channel.TICKER).reconnects for s in self.config.symbols}
            log.info("fault: %s for %.0fs", event.kind, event.for_s)
            start = time.monotonic()
            if event.kind in EXCHANGE_OUTAGES:  # clipped to "now" when graded mid-outage
                self.outages.append((start, start + event.for_s))
            await self._inject(sim, event)
            healthy_at = time.monotonic()
            if event.kind in EXCHANGE_OUTAGES:
                self.outages[-1] = (start, healthy_at)
            if event.kind in ("drop", "close", *EXCHANGE_OUTAGES):
                await self._measure_recovery(event, healthy_at, before)

    async def _inject(self, sim: Any, event: FaultEvent) -> None:
        faults = sim.faults
        if event.kind == "drop":
            faults.drop_ws()
        elif event.kind == "close":
            await faults.close_ws()
        elif event.kind == "malformed":
            await faults.send_malformed("garbage")
        elif event.kind == "jump":
            faults.jump_price(self.config.symbols[0], 5.0)
        elif event.kind == "refuse":
            faults.refuse_connections(event.for_s)
            await asyncio.sleep(event.for_s)
        else:
            toggle = faults.silence if event.kind == "silence" else faults.stop_pong
            toggle(True)
            try:
                await asyncio.sleep(event.for_s)
            finally:
                toggle(False)

    async def _measure_recovery(self, event: FaultEvent, healthy_at: float, before: dict[str, int]) -> None:
        """Seconds from ``healthy_at`` until every symbol has fresh ticker data again."""
        worst = 0.0
        for symbol in self.config.symbols:
            channel = self.health.channel(symbol, Channel.TICKER)
            deadline = healthy_at + RECOVERY_GIVE_UP_S
            while True:
                last = channel.last_data_at
                if channel.reconnects > before[symbol] and last is not None and last > healthy_at:
                    worst = max(worst, last - healthy_at)
                    break
                if time.monotonic() > deadline:
                    worst = RECOVERY_GIVE_UP_S
                    break
                await asyncio.sleep(0.01)
        self.recoveries.append(
            {"fault": event.kind, "at_s": round(event.at_s, 1), "recovery_s": round(worst, 3)}
        )
        log.info("fault %s: fresh data %.3fs after the exchange was healthy", event.kind, worst)

    # ------------------------------------------------------------------ grading
    def _grade(self, snapshot: dict[str, Any]) -> SmokeResult:
        """Grade the run (rules in ``data.kpis.smoke_measurements``) and collect what the report
        shows beside the KPIs."""
        now = time.monotonic()
        totals = snapshot["totals"]
        queue_drops = sum(
            e.get("dropped_queue_full", 0) for e in self.engine_stats.get("engines", {}).values()
        )
        measured = smoke_measurements(
            snapshot,
            queue_drops=queue_drops,
            freshness=[self.health.freshness(symbol) for symbol in self.config.symbols],
            outages=self.outages,
            recoveries_s=[r["recovery_s"] for r in self.recoveries],
            now=now,
        )
        info = {
            "uptime_incl_exchange_outages_pct": totals["worst_uptime_pct"],
            "exchange_outage_s": round(sum(min(end, now) - start for start, end in self.outages), 1),
            "recoveries": self.recoveries,
            "engine_queue_drops": queue_drops,
            "received": totals["received"],
            "delivered": totals["delivered"],
        }
        return SmokeResult(grade(measured), info, snapshot)
