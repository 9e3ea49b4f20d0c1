from __future__ import annotations

from backend.src.adapters.time_sync import ClockSync


def test_offset_is_round_trip_midpoint_median() -> None:
    sync = ClockSync(window=5, clock_ms=lambda: 1_000_000.0)
    assert not sync.synced and sync.offset_ms == 0.0
    sync.add_sample(1000.0, 3100.0, 1200.0)  # midpoint 1100 → +2000
    sync.add_sample(1000.0, 3050.0, 1100.0)  # midpoint 1050 → +2000
    sync.add_sample(1000.0, 9000.0, 1000.0)  # an outlier
    assert sync.offset_ms == 2000.0
    assert sync.now_ms() == 1_002_000
    assert sync.rtt_ms == 100.0


def test_window_forgets_old_samples() -> None:
    sync = ClockSync(window=2)
    for server in (10_000.0, -500.0, -500.0):
        sync.add_sample(0.0, server, 0.0)
    assert sync.offset_ms == -500.0
