"""Feed health: histogram accuracy, uptime arithmetic, recoveries, drops, snapshot and KPIs.

Time is always an argument, so every scenario below is exact arithmetic, no sleeping.
"""

from __future__ import annotations

import io
import json
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from backend.src.data.health import (
    NA,
    ChannelHealth,
    FeedHealth,
    Freshness,
    KpiTargets,
    LatencyHistogram,
    _rank,
    format_kpi_table,
    format_kpi_text,
    kpi_report,
)

#: Adjacent bucket bounds differ by this factor: the documented worst-case overestimate.
BUCKET_RATIO = 10 ** (1 / 20)

# Latencies spread over the whole 1 µs … 60 s range on a log scale, as real ones are.
log_latency = st.floats(min_value=-6.0, max_value=np.log10(60.0)).map(lambda e: 10.0**e)


def histogram_of(values: list[float]) -> LatencyHistogram:
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    return h


# ---- LatencyHistogram ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(log_latency, min_size=1, max_size=300),
    q=st.sampled_from([0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0]),
)
def test_percentile_is_conservative_and_within_12_percent_of_numpy(values: list[float], q: float) -> None:
    exact = float(np.percentile(values, q, method="inverted_cdf"))
    estimate = histogram_of(values).percentile(q)
    assert estimate is not None
    assert exact <= estimate <= exact * BUCKET_RATIO * (1 + 1e-12)
    assert BUCKET_RATIO - 1 < 0.123


def test_nearest_rank_is_exact_where_floating_point_is_not() -> None:
    """numpy's inverted_cdf agrees with us for the list sizes above, but computes ranks in
    floating point, which goes one rank high in cases like these."""
    assert _rank(7, 200) == 14  # 0.07 * 200 == 14.000000000000002
    assert _rank(0.1, 1000) == 1
    assert _rank(99.9, 1000) == 999
    assert (_rank(0, 5), _rank(100, 5)) == (1, 5)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        _rank(101, 5)


def test_every_bound_lands_in_its_own_bucket() -> None:
    """A value exactly on a bound belongs to the bucket it closes (log10 rounding aside)."""
    for bound in LatencyHistogram().bounds:
        h = histogram_of([bound, 1000.0])
        assert h.percentile(50) == bound


def test_out_of_range_values() -> None:
    h = histogram_of([1e-9, -0.5])  # sub-µs and a clock step backwards
    assert h.percentile(100) == 1e-9
    assert h.max == 1e-9
    h.record(120.0)  # beyond the last bucket: the exact maximum is reported
    assert h.percentile(100) == 120.0
    assert h.summary()["max_ms"] == 120_000.0


def test_memory_is_bounded_whatever_the_count() -> None:
    h = LatencyHistogram()
    buckets = len(h._counts)
    rng = random.Random(3)
    for _ in range(20_000):
        h.record(10 ** rng.uniform(-9, 4))
    assert len(h._counts) == buckets == len(h.bounds) + 1 < 200
    assert h.count == 20_000


def test_empty_summary_has_no_percentiles() -> None:
    assert LatencyHistogram().summary() == {
        "count": 0,
        "sum_ms": 0.0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "max_ms": None,
    }


def test_merge_equals_recording_everything_in_one() -> None:
    rng = random.Random(5)
    a = [10 ** rng.uniform(-5, -2) for _ in range(500)]
    b = [10 ** rng.uniform(-3, 0) for _ in range(300)]
    merged = LatencyHistogram().merge(histogram_of(a)).merge(histogram_of(b))
    whole = histogram_of(a + b)
    assert merged.summary() == pytest.approx(whole.summary())
    assert [merged.percentile(q) for q in (10, 50, 99)] == [whole.percentile(q) for q in (10, 50, 99)]


def test_merge_refuses_a_different_layout() -> None:
    with pytest.raises(ValueError, match="layout"):
        LatencyHistogram().merge(LatencyHistogram(per_decade=10))


# ---- Freshness -------------------------------------------------------------------------------


def feed(fresh: Freshness | ChannelHealth, start: float, stop: float, step: float = 0.1) -> None:
    """Messages every ``step`` s from ``start`` to ``stop`` inclusive (exact tenths)."""
    for i in range(round(start / step), round(stop / step) + 1):
        fresh.on_data(i * step)


def test_silence_counts_from_the_last_message() -> None:
    fresh = Freshness(threshold_s=5.0)
    fresh.start(0.0)
    feed(fresh, 0.1, 100.0)
    feed(fresh, 130.0, 200.0)
    assert fresh.downtime(200.0) == pytest.approx(30.0)
    assert fresh.uptime(200.0) == pytest.approx(0.85)
    assert not fresh.is_stale(200.0)


def test_ongoing_silence_is_counted_at_report_time() -> None:
    fresh = Freshness(threshold_s=5.0)
    fresh.start(0.0)
    feed(fresh, 0.1, 100.0)
    assert not fresh.is_stale(105.0) and fresh.downtime(105.0) == 0.0  # at the threshold: fine
    assert fresh.is_stale(130.0)
    assert fresh.stale_since(130.0) == 100.0
    assert fresh.downtime(130.0) == pytest.approx(30.0)
    assert fresh.uptime(130.0) == pytest.approx(100.0 / 130.0)


def test_gaps_up_to_the_threshold_cost_nothing() -> None:
    fresh = Freshness(threshold_s=5.0)
    fresh.start(0.0)
    for t in (4.9, 9.8, 14.8, 19.8):  # 4.9 s and exactly 5 s gaps
        fresh.on_data(t)
    assert fresh.downtime(20.0) == 0.0
    assert fresh.uptime(20.0) == 1.0
    assert fresh.stale_since(20.0) is None


def test_a_stream_that_never_delivers_is_down_from_its_start() -> None:
    fresh = Freshness(threshold_s=5.0)
    fresh.start(10.0)
    fresh.start(15.0)  # ignored: total time counts from the first start
    assert fresh.stale_since(30.0) == 10.0
    assert fresh.downtime(30.0) == 20.0
    assert fresh.uptime(30.0) == 0.0


def test_first_message_starts_an_unstarted_symbol() -> None:
    fresh = Freshness(threshold_s=5.0)
    assert not fresh.is_stale(100.0) and fresh.uptime(100.0) == 1.0
    fresh.on_data(50.0)
    assert fresh.started_at == 50.0
    assert fresh.downtime(60.0) == 10.0  # silent since 50


# ---- ChannelHealth: recoveries and drops -----------------------------------------------------


def test_recovery_runs_from_disconnect_to_first_data() -> None:
    ch = ChannelHealth()
    ch.on_data(5.0)
    ch.on_disconnect(10.0)
    ch.on_disconnect(12.0)  # a failed reconnect attempt inside the same outage
    assert ch.recovery_summary(14.0)["pending_s"] == 4.0
    ch.on_data(15.5, latency_s=0.002)
    ch.on_data(16.0)  # no pending recovery: nothing to close
    assert ch.reconnects == 2
    assert list(ch.recoveries) == [5.5]
    assert ch.recovery_summary(20.0) == {
        "count": 1,
        "max_s": 5.5,
        "p95_s": 5.5,
        "last_s": 5.5,
        "pending_s": None,
    }


def test_pending_outage_counts_in_the_max() -> None:
    ch = ChannelHealth()
    ch.on_disconnect(0.0)
    ch.on_data(2.0)
    ch.on_disconnect(10.0)
    summary = ch.recovery_summary(40.0)
    assert summary["count"] == 1 and summary["p95_s"] == 2.0
    assert summary["pending_s"] == 30.0 and summary["max_s"] == 30.0


def test_recoveries_are_bounded_but_count_and_max_are_all_time() -> None:
    ch = ChannelHealth(max_recoveries=3)
    t = 0.0
    for duration in (9.0, 1.0, 2.0, 3.0, 4.0):
        ch.on_disconnect(t)
        ch.on_data(t + duration)
        t += 100.0
    assert list(ch.recoveries) == [2.0, 3.0, 4.0]
    summary = ch.recovery_summary(t)
    assert summary["count"] == 5 and summary["max_s"] == 9.0 and summary["last_s"] == 4.0


def test_recovery_p95_is_nearest_rank() -> None:
    ch = ChannelHealth()
    for i in range(1, 21):
        ch.on_disconnect(i * 100.0)
        ch.on_data(i * 100.0 + i)
    assert ch.recovery_summary(5000.0)["p95_s"] == 19.0


def test_drops_by_reason_and_ratio() -> None:
    ch = ChannelHealth()
    ch.on_receive(2000)
    ch.on_drop("malformed")
    ch.on_drop("queue_full", 2)
    snap = ch.snapshot(0.0)
    assert snap["dropped"] == {"malformed": 1, "queue_full": 2}
    assert snap["dropped_total"] == 3 == ch.dropped_total
    assert snap["drop_ratio_pct"] == pytest.approx(0.15)
    assert ChannelHealth().snapshot(0.0)["drop_ratio_pct"] is None


# ---- FeedHealth ------------------------------------------------------------------------------


def busy_feed() -> FeedHealth:
    """Two symbols, three channels, drops, a reconnect and a stale ETH by t=100."""
    health = FeedHealth(stale_after_s=5.0)
    for sym in ("BTC/USDT", "ETH/USDT"):
        health.freshness(sym).start(0.0)
    btc, trades = health.channel("BTC/USDT", "ticker"), health.channel("BTC/USDT", "trades")
    eth = health.channel("ETH/USDT", "ticker")
    for i in range(1, 1001):
        t = i / 10
        btc_silent = 500 < i < 530  # BTC's book ticker reset at 50.0, back at 53.0
        for ch in [c for c, on in ((btc, not btc_silent), (trades, i % 2)) if on]:
            ch.on_receive()
            ch.on_data(t, latency_s=0.0005)
            ch.on_deliver()
        if i == 500:
            btc.on_disconnect(t)
        if t <= 60.0:
            eth.on_receive()
            eth.on_data(t, latency_s=0.004)
    trades.on_drop("queue_full")
    eth.on_drop("malformed", 2)
    health.clock_offset_ms = -12.5
    return health


def test_only_the_freshness_channel_feeds_uptime() -> None:
    health = FeedHealth(stale_after_s=5.0)
    health.freshness("BTC/USDT").start(0.0)
    health.channel("BTC/USDT", "trades").on_data(1.0)
    assert health.freshness("BTC/USDT").last_data_at is None
    health.channel("BTC/USDT", "ticker").on_data(2.0)
    assert health.freshness("BTC/USDT").last_data_at == 2.0
    assert health.freshness("BTC/USDT", threshold_s=1.0).is_stale(3.5)


def test_disconnect_of_one_symbol_leaves_the_others_alone() -> None:
    health = FeedHealth()
    health.channel("BTC/USDT", "ticker")
    health.channel("ETH/USDT", "ticker")
    health.on_disconnect(1.0, "BTC/USDT")
    assert health.channel("BTC/USDT", "ticker").reconnects == 1
    assert health.channel("ETH/USDT", "ticker").reconnects == 0
    health.on_disconnect(2.0)
    assert health.channel("ETH/USDT", "ticker").reconnects == 1


def test_snapshot_is_plain_json() -> None:
    snap = busy_feed().snapshot(100.0)
    assert json.loads(json.dumps(snap, allow_nan=False)) == snap
    assert snap["clock_offset_ms"] == -12.5


def test_snapshot_per_symbol_and_totals() -> None:
    snap = busy_feed().snapshot(100.0)
    btc, eth = snap["symbols"]["BTC/USDT"], snap["symbols"]["ETH/USDT"]
    assert set(btc["channels"]) == {"ticker", "trades"}
    assert btc["uptime_pct"] == 100.0 and not btc["stale"]
    assert btc["channels"]["ticker"]["recoveries"]["max_s"] == 3.0
    assert eth["stale"] and eth["last_message_age_s"] == pytest.approx(40.0)
    assert eth["uptime_pct"] == pytest.approx(60.0)
    assert eth["channels"]["ticker"]["dropped"] == {"malformed": 2}

    totals = snap["totals"]
    assert totals["received"] == totals["parsed"] == totals["delivered"] + 600 == 971 + 500 + 600
    assert totals["dropped"] == 3
    assert totals["drop_ratio_pct"] == pytest.approx(300 / 2071)
    assert totals["latency"]["count"] == 2071
    assert 4.0 <= totals["latency"]["p95_ms"] <= 4.0 * BUCKET_RATIO  # ETH's 4 ms are > 5 % of samples
    assert totals["worst_uptime_pct"] == pytest.approx(60.0)
    assert totals["stale_symbols"] == ["ETH/USDT"]
    assert totals["reconnects"] == 1 and totals["recoveries"] == 1
    assert totals["max_recovery_s"] == 3.0


def test_empty_feed_snapshot() -> None:
    snap = FeedHealth().snapshot(0.0)
    assert snap["symbols"] == {}
    assert snap["totals"]["drop_ratio_pct"] is None and snap["totals"]["worst_uptime_pct"] is None


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


def test_kpi_renderers() -> None:
    rows = kpi_report(totals_snapshot(drop=0.5, recovery=None))
    text = format_kpi_text(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["KPI", "target", "measured", "status"]
    assert len(lines) == 5 and len({len(line) for line in lines}) == 1  # aligned columns
    assert "0.5 %" in lines[1] and lines[1].endswith("FAIL")
    assert "n/a" in lines[4] and lines[4].endswith("PASS")

    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(format_kpi_table(rows))
    rendered = out.getvalue()
    assert "dropped messages" in rendered and "FAIL" in rendered and "≥ 99 %" in rendered


def test_freshness_logs_each_stale_gap_for_outage_attribution() -> None:
    from backend.src.data.health import Freshness

    fresh = Freshness(threshold_s=5.0)
    fresh.start(0.0)
    for t in (1.0, 2.0, 20.0, 21.0, 40.0):
        fresh.on_data(t)
    assert list(fresh.gaps) == [(2.0, 20.0), (21.0, 40.0)]
    assert fresh.downtime(40.0) == 37.0


# ---- rolling 24 h uptime ------------------------------------------------------------------

H = 3600.0


def fed(fresh: Freshness, start: float, end: float, every: float = 1.0) -> None:
    """Fresh data every ``every`` seconds from ``start`` to ``end``."""
    t = start
    while t <= end:
        fresh.on_data(t)
        t += every


def test_uptime_is_over_the_last_24_hours_not_the_whole_run() -> None:
    fresh = Freshness(threshold_s=10.0)
    fresh.start(0.0)
    fed(fresh, 0.0, 2 * H, every=5.0)
    fed(fresh, 4 * H, 30 * H, every=60.0 * 0.1)  # a 2 h outage 26 h before the end
    assert fresh.downtime(30 * H) == pytest.approx(2 * H)  # still counted over the run
    assert fresh.uptime(30 * H) == 1.0  # but the KPI window has left it behind
    assert fresh.uptime(25 * H) == pytest.approx(1 - 2 * H / (24 * H), abs=1e-4)  # all of it inside
    assert fresh.uptime(27 * H) == pytest.approx(1 - 1 * H / (24 * H), abs=1e-4)  # half of it


def test_an_outage_inside_the_window_counts_exactly_and_an_ongoing_one_too() -> None:
    fresh = Freshness(threshold_s=10.0)
    fresh.start(0.0)
    fed(fresh, 0.0, 24.5 * H, every=6.0)
    fed(fresh, 25.5 * H, 26 * H, every=6.0)  # an hour down inside the window
    assert fresh.uptime(26 * H) == pytest.approx(1 - H / (24 * H), abs=1e-4)
    # now silent for 30 min: that counts from the last message
    assert fresh.uptime(26.5 * H) == pytest.approx(1 - 1.5 * H / (24 * H), abs=1e-4)


def test_minute_buckets_stay_bounded_over_days_of_flapping() -> None:
    fresh = Freshness(threshold_s=5.0)
    fresh.start(0.0)
    t = 0.0
    while t < 10 * 24 * H:  # data every 2 s, but a 20 s hole every minute, for ten days
        fresh.on_data(t)
        t += 20.0 if t % 60 == 0 else 2.0
    assert len(fresh._down_minutes) <= 24 * 60 + 2  # a day's worth, not ten
    assert fresh.uptime(t) == pytest.approx(1 - 20 / 60, abs=1e-3)
