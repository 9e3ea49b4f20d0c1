"""KPI grading: the Epic's four targets and every rule that decides pass or fail.

Kept in one place so that a target or a grading rule changes in one module: the grading of a
health snapshot (:func:`kpi_report`, used by tests, the CLI and monitoring) and the smoke run's
adjustments to it (:func:`smoke_measurements`: engine queue drops count as drops, downtime
inside a scheduled exchange outage is the exchange's, recovery is timed per fault). Pure and
synchronous; rendering the rows is the CLI's (``ops.render``).

The four KPIs and how they are measured (binding definitions of the Epic):

* **dropped messages** — dropped / received over every stream, in percent.
* **p95 parse latency** — frame received → md ready, p95 of every record.
* **uptime** — the worst symbol's share of the last 24 h with fresh data (``freshness``).
* **reconnect recovery** — the longest recovery, an outage still pending included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from .freshness import Freshness
from .health import ratio_pct

#: dropped / received must stay below this, in percent.
DROP_RATIO_MAX_PCT = 0.1
#: p95 of receive → md-ready latency must stay below this, in milliseconds.
P95_LATENCY_MAX_MS = 5.0
#: every symbol's share of fresh time must be at least this, in percent (over 24 h).
UPTIME_MIN_PCT = 99.0
#: every reconnect must deliver fresh data again within this many seconds.
RECOVERY_MAX_S = 10.0

#: What a KPI without data yet reports as measured.
NA = "n/a"

Window = tuple[float, float]


@dataclass(frozen=True)
class KpiTargets:
    """The thresholds :func:`grade` judges against; defaults are the Epic's."""

    drop_ratio_max_pct: float = DROP_RATIO_MAX_PCT
    p95_latency_max_ms: float = P95_LATENCY_MAX_MS
    uptime_min_pct: float = UPTIME_MIN_PCT
    recovery_max_s: float = RECOVERY_MAX_S


@dataclass(frozen=True)
class KpiMeasurements:
    """The four figures the KPIs grade; ``None`` where nothing was measured yet."""

    drop_ratio_pct: float | None
    p95_latency_ms: float | None
    worst_uptime_pct: float | None
    max_recovery_s: float | None

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> KpiMeasurements:
        """The figures of a ``FeedHealth.snapshot`` (its ``totals``)."""
        totals = snapshot["totals"]
        return cls(
            drop_ratio_pct=totals["drop_ratio_pct"],
            p95_latency_ms=totals["latency"]["p95_ms"],
            worst_uptime_pct=totals["worst_uptime_pct"],
            max_recovery_s=totals["max_recovery_s"],
        )


class KpiRow(NamedTuple):
    """One graded KPI. ``target`` reads like ``"< 5"``; ``measured`` is ``"n/a"`` without data."""

    name: str
    target: str
    measured: float | str
    unit: str
    passed: bool


def _row(name: str, unit: str, value: float | None, target: float, *, at_least: bool) -> KpiRow:
    """``at_least``: ``value >= target`` passes; otherwise ``value < target`` does."""
    label = f"{'≥' if at_least else '<'} {target:g}"
    if value is None:  # nothing to judge yet (no message, no reconnect): nothing failed
        return KpiRow(name, label, NA, unit, True)
    return KpiRow(name, label, value, unit, value >= target if at_least else value < target)


def grade(measured: KpiMeasurements, targets: KpiTargets | None = None) -> list[KpiRow]:
    """The four KPIs, in the Epic's order: drops, p95 latency, uptime, recovery.

    A KPI without data yet — no message received, no reconnect happened, no symbol started —
    passes with ``measured == "n/a"``: there is no evidence of a violation, and a fresh
    process must not report failure.
    """
    t = targets or KpiTargets()
    return [
        _row("dropped messages", "%", measured.drop_ratio_pct, t.drop_ratio_max_pct, at_least=False),
        _row("p95 parse latency", "ms", measured.p95_latency_ms, t.p95_latency_max_ms, at_least=False),
        _row("uptime (worst symbol)", "%", measured.worst_uptime_pct, t.uptime_min_pct, at_least=True),
        _row("reconnect recovery (max)", "s", measured.max_recovery_s, t.recovery_max_s, at_least=False),
    ]


def kpi_report(snapshot: dict[str, Any], targets: KpiTargets | None = None) -> list[KpiRow]:
    """Grade a ``FeedHealth.snapshot``. Uptime is the worst symbol's over its observed window
    (the Epic's 24 h once the process has run that long); recovery is the longest one,
    including an outage still pending."""
    return grade(KpiMeasurements.from_snapshot(snapshot), targets)


def all_passed(rows: Iterable[KpiRow]) -> bool:
    """Every KPI met (what a smoke run's exit status says)."""
    return all(row.passed for row in rows)


# ---- smoke runs: the exchange's own outages are not the feed's --------------------------------


def overlap(gap: Window, windows: list[Window]) -> float:
    """Seconds of ``gap`` that fall inside any of ``windows`` (windows do not overlap)."""
    start, end = gap
    return sum(max(0.0, min(end, w_end) - max(start, w_start)) for w_start, w_end in windows)


def uptime_excluding_pct(fresh: Freshness, outages: list[Window], now: float) -> float | None:
    """A symbol's uptime in percent with the ``outages`` windows taken out of both the downtime
    and the observed time (the exchange was down, not the feed); ``None`` before its start."""
    if fresh.started_at is None:
        return None
    gaps = list(fresh.gaps)
    if fresh.is_stale(now):
        gaps.append((fresh.last_data_at or fresh.started_at, now))
    excluded = sum(overlap(g, outages) for g in gaps)
    windows = sum(max(0.0, min(now, e) - max(fresh.started_at, s)) for s, e in outages)
    total = now - fresh.started_at - windows
    return 100.0 * (total - (fresh.downtime(now) - excluded)) / total if total > 0 else 100.0


def smoke_measurements(
    snapshot: dict[str, Any],
    *,
    queue_drops: int,
    freshness: Iterable[Freshness],
    outages: list[Window],
    recoveries_s: Iterable[float],
    now: float,
) -> KpiMeasurements:
    """A smoke run's figures: the snapshot's, except that engine queue drops count as drops,
    uptime leaves out the scheduled exchange ``outages`` (worst symbol over ``freshness``), and
    recovery is the worst one the run timed from each fault's end (``recoveries_s``)."""
    totals = snapshot["totals"]
    uptimes = [u for fresh in freshness if (u := uptime_excluding_pct(fresh, outages, now)) is not None]
    return replace(
        KpiMeasurements.from_snapshot(snapshot),
        drop_ratio_pct=ratio_pct(totals["dropped"] + queue_drops, totals["received"]),
        worst_uptime_pct=min(uptimes, default=None),
        max_recovery_s=max(recoveries_s, default=None),
    )
