"""Fault schedules for smoke runs: durations, the ``KIND@AT[:FOR]`` / ``KIND/EVERY`` grammar,
and the Epic's default schedule."""

from __future__ import annotations

import itertools

import pytest

from backend.src.ops.fault_schedule import (
    EXCHANGE_OUTAGES,
    KINDS,
    FaultEvent,
    default_schedule,
    parse_duration,
    parse_schedule,
)

HALF_HOUR = 1800.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800.0),
        ("90s", 90.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        ("2d", 172_800.0),
        ("12", 12.0),
        ("0.5", 0.5),
        (" 5s ", 5.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "5x", "-1s", "1 m", "1m30s", "five", "1e3s"])
def test_parse_duration_rejects_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_one_off_faults_are_sorted_with_their_lengths() -> None:
    events = parse_schedule("refuse@22m:30s, drop@5m,silence@17m:20s,close@12m", HALF_HOUR)
    assert events == [
        FaultEvent(300.0, "drop"),
        FaultEvent(720.0, "close"),
        FaultEvent(1020.0, "silence", 20.0),
        FaultEvent(1320.0, "refuse", 30.0),
    ]
    assert [e.healthy_at_s for e in events] == [300.0, 720.0, 1040.0, 1350.0]


@pytest.mark.parametrize("kind", KINDS)
def test_exchange_outages_last_30s_by_default_other_faults_are_instant(kind: str) -> None:
    (event,) = parse_schedule(f"{kind}@1m", HALF_HOUR)
    assert event == FaultEvent(60.0, kind, 30.0 if kind in EXCHANGE_OUTAGES else 0.0)


def test_repeating_fault_every_period_strictly_inside_the_run() -> None:
    assert [e.at_s for e in parse_schedule("drop/5m", HALF_HOUR)] == [300.0, 600.0, 900.0, 1200.0, 1500.0]
    assert [e.at_s for e in parse_schedule("drop/7m", HALF_HOUR)] == [420.0, 840.0, 1260.0, 1680.0]
    assert parse_schedule("nopong/10m:5s", HALF_HOUR)[0] == FaultEvent(600.0, "nopong", 5.0)
    assert parse_schedule("drop/1h", HALF_HOUR) == []


def test_faults_at_or_after_the_end_of_the_run_and_empty_items_are_left_out() -> None:
    assert parse_schedule("drop@30m,close@31m", HALF_HOUR) == []
    assert parse_schedule("", HALF_HOUR) == []
    assert parse_schedule(" , drop@1s,, ", HALF_HOUR) == [FaultEvent(1.0, "drop")]


@pytest.mark.parametrize(
    "text",
    ["boom@1s", "drop", "drop 5m", "DROP@5m", "drop@", "drop@5x", "silence@1m:abc", "drop/", "drop/0s"],
)
def test_bad_schedules_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(text, HALF_HOUR)


def test_default_schedule_for_thirty_minutes_is_the_epics_acceptance_run() -> None:
    events = parse_schedule(default_schedule(HALF_HOUR), HALF_HOUR)
    drops = [e.at_s for e in events if e.kind == "drop"]
    assert len(drops) == 6  # a TCP drop every 5 minutes ...
    assert all(b - a == 300.0 for a, b in itertools.pairwise(drops))
    assert all(0.0 < at < HALF_HOUR for at in drops)  # ... each inside the run
    others = [e for e in events if e.kind != "drop"]
    assert [(e.kind, e.for_s) for e in others] == [("close", 0.0), ("silence", 20.0), ("refuse", 30.0)]
    assert all(e.healthy_at_s < HALF_HOUR for e in events)  # every fault ends before the run does
    outages = [(e.at_s, e.healthy_at_s) for e in events if e.kind in EXCHANGE_OUTAGES]
    assert not [e for e in events if any(start < e.at_s < end for start, end in outages)]  # one at a time


@pytest.mark.parametrize("run_s", [2.0, 60.0, 600.0, 3600.0, 86_400.0])
def test_default_schedule_parses_for_any_run_length(run_s: float) -> None:
    events = parse_schedule(default_schedule(run_s), run_s)
    assert {e.kind for e in events} == {"drop", "close", "silence", "refuse"}
    assert events == sorted(events)
