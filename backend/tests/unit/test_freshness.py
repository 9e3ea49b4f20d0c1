"""Freshness: stale gaps counted from the last message, uptime over the rolling 24 h window.

Time is always an argument, so every scenario below is exact arithmetic, no sleeping.
"""

from __future__ import annotations

from typing import Protocol

import pytest

from backend.src.data.freshness import Freshness


class _Fed(Protocol):
    def on_data(self, now: float) -> None: ...


# ---- Freshness -------------------------------------------------------------------------------


def feed(fresh: _Fed, start: float, stop: float, step: float = 0.1) -> None:
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


def test_freshness_logs_each_stale_gap_for_outage_attribution() -> None:
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
