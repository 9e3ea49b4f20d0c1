"""Short smoke runs (adapter → feeder → engines on the simulator, faults on schedule), graded
against the Epic's KPIs."""

from __future__ import annotations

from typing import Any

import pytest

from backend.src.data.kpis import NA
from backend.src.ops.fault_schedule import FaultEvent, parse_schedule
from backend.src.ops.smoke import SmokeConfig, SmokeResult, SmokeRun


async def smoke(schedule: str, duration_s: float, **options: Any) -> SmokeResult:
    """One BTC/USDT smoke run on a fresh simulator; ``options`` are further SmokeConfig fields."""
    events = parse_schedule(schedule, duration_s)
    return await SmokeRun(SmokeConfig(["BTC/USDT"], duration_s, events, **options)).run()


@pytest.mark.asyncio
async def test_tcp_drop_passes_every_kpi_with_one_fast_recovery() -> None:
    result = await smoke("drop@2s", 6)
    assert result.passed, result.rows
    assert all(row.measured != NA for row in result.rows), result.rows  # every KPI was measured
    (recovery,) = result.info["recoveries"]
    assert recovery["fault"] == "drop" and recovery["at_s"] == 2.0
    assert 0.0 < recovery["recovery_s"] < 2.0
    assert result.rows[3].measured == recovery["recovery_s"]
    assert result.info["engine_queue_drops"] == 0 and result.info["delivered"] > 0
    assert result.snapshot["totals"]["reconnects"] >= 1


@pytest.mark.asyncio
async def test_refused_connections_are_the_exchanges_downtime_not_the_feeds() -> None:
    # The book ticker's gap is the outage plus the backoff's last wait (6 s cap): a 10 s stale
    # threshold keeps the verdict independent of the jitter drawn.
    result = await smoke("refuse@1s:2s", 6, stale_after_s=10.0)
    assert result.info["exchange_outage_s"] == pytest.approx(2.0, abs=0.2)
    uptime = next(row for row in result.rows if row.name.startswith("uptime"))
    assert isinstance(uptime.measured, float) and uptime.measured >= 99.0 and uptime.passed


@pytest.mark.asyncio
async def test_a_fault_schedule_needs_the_simulator() -> None:
    config = SmokeConfig(["BTC/USDT"], 1.0, schedule=[FaultEvent(0.5, "drop")], use_sim=False)
    with pytest.raises(ValueError, match="simulator"):
        await SmokeRun(config).run()
