"""KPI grading: boundaries, missing data, targets, a measured feed, smoke-run outage arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from backend.src.data.health import FeedHealth
from backend.src.data.kpis import NA, KpiTargets, kpi_report, overlap

from .test_freshness import feed

# ---- KPIs ------------------------------------------------------------------------------------


def totals_snapshot(
    drop: float | None = 0.0,
    p95: float | None = 1.0,
    uptime: float | None = 100.0,
    recovery: float | None = 1.0,
) -> dict[str, Any]:
    return {
        "totals": {
            "drop_ratio_pct": drop,
            "latency": {"p95_ms": p95},
            "worst_uptime_pct": uptime,
            "max_recovery_s": recovery,
        }
    }


@pytest.mark.parametrize(
    ("field", "kpi", "value", "passed"),
    [
        ("drop", 0, 0.0999, True),
        ("drop", 0, 0.1, False),
        ("p95", 1, 4.999, True),
        ("p95", 1, 5.0, False),
        ("uptime", 2, 99.0, True),
        ("uptime", 2, 98.999, False),
        ("recovery", 3, 9.999, True),
        ("recovery", 3, 10.0, False),
    ],
)
def test_kpi_boundaries(field: str, kpi: int, value: float, passed: bool) -> None:
    rows = kpi_report(totals_snapshot(**{field: value}))
    assert rows[kpi].measured == value
    assert rows[kpi].passed is passed
    assert all(r.passed for i, r in enumerate(rows) if i != kpi)


def test_kpis_without_data_pass_as_na() -> None:
    rows = kpi_report(FeedHealth().snapshot(0.0))
    assert [r.measured for r in rows] == [NA] * 4
    assert all(r.passed for r in rows)


def test_kpi_targets_can_be_overridden() -> None:
    rows = kpi_report(totals_snapshot(p95=4.0), KpiTargets(p95_latency_max_ms=2.0))
    assert rows[1].target == "< 2" and not rows[1].passed


def test_kpis_from_a_measured_feed() -> None:
    """A 10 s hole in 1000 s is exactly 99 % uptime: the boundary passes."""
    health = FeedHealth(stale_after_s=5.0)
    health.freshness("BTC/USDT").start(0.0)
    ch = health.channel("BTC/USDT", "ticker")
    feed(ch, 1.0, 500.0, step=1.0)
    feed(ch, 510.0, 1000.0, step=1.0)
    ch.on_receive(ch.parsed)
    ch.on_drop("queue_full")
    rows = {r.name: r for r in kpi_report(health.snapshot(1000.0))}
    assert rows["uptime (worst symbol)"].measured == 99.0 and rows["uptime (worst symbol)"].passed
    assert rows["dropped messages"].measured == pytest.approx(100 / 991)
    assert not rows["dropped messages"].passed
    assert rows["reconnect recovery (max)"].measured == NA


@pytest.mark.parametrize(
    ("gap", "windows", "seconds"),
    [
        ((0.0, 10.0), [], 0.0),
        ((0.0, 10.0), [(2.0, 4.0)], 2.0),  # window inside the gap
        ((3.0, 5.0), [(0.0, 10.0)], 2.0),  # gap inside the window
        ((0.0, 10.0), [(8.0, 12.0)], 2.0),  # gap ends inside the window
        ((5.0, 10.0), [(0.0, 7.0)], 2.0),  # gap starts inside the window
        ((0.0, 10.0), [(2.0, 4.0), (8.0, 12.0)], 4.0),
        ((0.0, 5.0), [(5.0, 8.0), (-3.0, 0.0)], 0.0),  # touching is not overlapping
        ((0.0, 5.0), [(6.0, 8.0)], 0.0),
    ],
)
def test_overlap_counts_the_seconds_of_a_gap_inside_outage_windows(
    gap: tuple[float, float], windows: list[tuple[float, float]], seconds: float
) -> None:
    assert overlap(gap, windows) == pytest.approx(seconds)
