"""BarRing: the last ``maxlen`` bars, their synthetic flags and the exact rolling 24 h volume,
against a plain-list reference on random bar sequences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.src.data.bar_ring import DAY_MINUTES, MINUTE_MS, BarRing

T0 = 1_700_000_000_000 // MINUTE_MS * MINUTE_MS


def bar(minute: int, volume: float) -> list[float]:
    return [T0 + minute * MINUTE_MS, 1.0 + minute, 2.0 + minute, 0.5 + minute, 1.5 + minute, volume]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(1, 700), st.floats(0, 1e6, allow_nan=False), st.booleans()), max_size=900
    ),
    maxlen=st.integers(1, 1600),
)
def test_matches_a_list_reference(steps: list[tuple[int, float, bool]], maxlen: int) -> None:
    ring, reference, minute = BarRing(maxlen), [], 0
    for gap, volume, synthetic in steps:
        minute += gap if len(steps) < 300 else 1  # long runs: consecutive minutes, the live case
        ring.append(bar(minute, volume), synthetic)
        reference.append((bar(minute, volume), synthetic))
    visible = reference[-maxlen:]
    assert list(ring) == [b for b, _ in visible] and len(ring) == len(visible)
    assert [ring.is_synthetic(i) for i in range(len(ring))] == [s for _, s in visible]
    if reference:
        horizon = reference[-1][0][0] - (DAY_MINUTES - 1) * MINUTE_MS
        expected = sum(b[5] for b, _ in reference if b[0] >= horizon)
        assert ring.window_volume == pytest.approx(expected, rel=1e-9, abs=1e-6)
        assert ring.newest(4) == reference[-1][0][4] and ring[-1] == reference[-1][0]


def test_a_day_of_bars_is_kept_for_the_volume_even_when_fewer_are_visible() -> None:
    ring = BarRing(10)
    for minute in range(3 * DAY_MINUTES):
        ring.append(bar(minute, 1.0))
    assert len(ring) == 10 and ring[0][0] == T0 + (3 * DAY_MINUTES - 10) * MINUTE_MS
    assert ring.window_volume == DAY_MINUTES  # the last 1440 minutes, not the 10 visible bars


def test_reads_are_copies_and_open_times_are_ints() -> None:
    ring = BarRing(3)
    ring.append(bar(1, 5.0))
    first = ring[0]
    first[4] = -1.0
    assert ring[0][4] == 2.5 and isinstance(ring[0][0], int)
    with pytest.raises(IndexError):
        ring[1]
    ring.clear()
    assert len(ring) == 0 and ring.window_volume == 0.0
    with pytest.raises(ValueError):
        BarRing(0)


def test_memory_is_a_fraction_of_lists() -> None:
    """1500 bars in flat storage: 6 doubles and a flag byte each (the point of the ring)."""
    ring = BarRing(1500)
    assert len(ring._data) * ring._data.itemsize + len(ring._synthetic) == (6 * 8 + 1) * 1500


@pytest.mark.parametrize("maxlen", [1, 1439, 1440, 1500, 2000])
def test_wrapping_around_with_gaps_keeps_the_window_exact(maxlen: int) -> None:
    ring, reference, minute = BarRing(maxlen), [], 0
    for i in range(5000):
        minute += 1 + (i % 7 == 0) + 3 * (i % 113 == 0)  # gaps of 1, 2 and 5 minutes
        ring.append(bar(minute, float(i % 10)), i % 3 == 0)
        reference.append(bar(minute, float(i % 10)))
        horizon = reference[-1][0] - (DAY_MINUTES - 1) * MINUTE_MS
        if i % 250 == 0 or i > 4990:
            assert ring.window_volume == sum(b[5] for b in reference if b[0] >= horizon)
    assert list(ring) == reference[-maxlen:]


class ListRing:
    """The ring's contract on a plain list: every bar ever appended (minus truncated ones), and
    the number below which the storage has overwritten them."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen, self.capacity = maxlen, max(maxlen, DAY_MINUTES)
        self.bars: list[tuple[list[float], bool]] = []
        self.floor = 0

    def append(self, b: list[float], synthetic: bool) -> None:
        self.bars.append((b, synthetic))
        self.floor = max(self.floor, len(self.bars) - self.capacity)

    def truncate(self, first_open: int) -> list[tuple[list[float], bool]]:
        keep = len(self.bars)
        while keep > self.floor and self.bars[keep - 1][0][0] >= first_open:
            keep -= 1
        removed, self.bars = self.bars[keep:], self.bars[:keep]
        return removed

    def check(self, ring: BarRing) -> None:
        stored = self.bars[self.floor :]
        visible = stored[-self.maxlen :] if stored else []
        assert list(ring) == [b for b, _ in visible] and len(ring) == len(visible)
        assert [ring.is_synthetic(i) for i in range(len(ring))] == [s for _, s in visible]
        expected = 0.0
        if stored:
            horizon = stored[-1][0][0] - (DAY_MINUTES - 1) * MINUTE_MS
            expected = sum(b[5] for b, _ in stored if b[0] >= horizon)
        assert ring.window_volume == pytest.approx(expected, rel=1e-9, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.integers(1, 900), st.floats(0, 1e6, allow_nan=False)),
            st.tuples(st.just("truncate"), st.integers(0, 1500), st.just(0.0)),
        ),
        max_size=300,
    ),
    maxlen=st.sampled_from([1, 5, 1439, 1500]),
)
def test_truncate_takes_back_the_newest_bars_and_restores_the_window(
    steps: list[tuple[str, int, float]], maxlen: int
) -> None:
    """Appends with large gaps wrap the storage; a truncation moves the 24 h window back over
    the bars still stored, never over overwritten ones."""
    ring, reference, minute = BarRing(maxlen), ListRing(maxlen), 0
    for op, n, volume in steps:
        if op == "append":
            minute += n
            ring.append(bar(minute, volume), n % 2 == 0)
            reference.append(bar(minute, volume), n % 2 == 0)
        else:
            first = T0 + (minute - n) * MINUTE_MS
            assert ring.truncate(first) == reference.truncate(first)
            minute = max(minute - n, 0)  # appends go on after the cut, as a merge's do
        reference.check(ring)


@settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 3), min_size=1, max_size=1700),
    maxlen=st.sampled_from([1, 10, 1440, 1500]),
    synthetic=st.booleans(),
    before=st.integers(0, 3),
)
def test_extend_is_append_by_append(gaps: list[int], maxlen: int, synthetic: bool, before: int) -> None:
    """A bootstrap's history in one call: the same bars, flags and window as one append each,
    into an empty ring (the bulk copy) or behind bars already held."""
    minutes = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    bars = [bar(m, float(m % 7)) for m in minutes]
    bulk, single = BarRing(maxlen), BarRing(maxlen)
    for m in range(-before, 0):
        bulk.append(bar(m, 1.0))
        single.append(bar(m, 1.0))
    bulk.extend(bars, synthetic)
    for b in bars:
        single.append(b, synthetic)
    assert list(bulk) == list(single)
    flags = [single.is_synthetic(i) for i in range(len(single))]
    assert [bulk.is_synthetic(i) for i in range(len(bulk))] == flags
    assert bulk.window_volume == pytest.approx(single.window_volume, rel=1e-12)
    bulk.append(bar(minutes[-1] + 1, 2.0))  # and it goes on as a ring
    single.append(bar(minutes[-1] + 1, 2.0))
    assert list(bulk) == list(single) and bulk.window_volume == pytest.approx(single.window_volume)
