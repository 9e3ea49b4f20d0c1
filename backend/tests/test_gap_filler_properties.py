"""Property tests for the gap filler, with the seed implementation as the oracle.

``seed_fill_minute_bars`` below is a verbatim copy of the original pure-Python
loop; on sorted, duplicate-free input the new implementation must produce
exactly its output (same values, same real-row objects).  ``seed_fill`` is the
same loop with the hard-coded minute replaced by ``step`` for other timeframes.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.src.data.gap_filler import (
    fill_bars,
    fill_bars_columns,
    fill_minute_bars,
    grid_floor,
    timeframe_to_ms,
)
from benchmarks.seed_reference import seed_fill, seed_fill_minute_bars

MIN = 60_000
TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]
PROFILE = settings(max_examples=80, deadline=None)


def canonical(rows, step=None):
    """Reference for the input policy: (optionally snap,) last duplicate wins, sort."""
    latest = {}
    for row in rows:
        ts = row[0] if step is None else grid_floor(row[0], step)
        latest[ts] = row if ts == row[0] else [ts, *row[1:]]
    return [latest[ts] for ts in sorted(latest)]


# --------------------------------------------------------------------------- #
# Strategies
# --------------------------------------------------------------------------- #
prices = st.one_of(
    st.floats(min_value=1e-8, max_value=1e7, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=10**6),
)


@st.composite
def bar_values(draw):
    """[open, high, low, close, volume] with low <= open, close <= high."""
    a, b, o, c = (draw(prices) for _ in range(4))
    low, high = min(a, b, o, c), max(a, b, o, c)
    volume = draw(st.one_of(st.floats(0.0, 1e9, allow_nan=False), st.integers(0, 10**9)))
    return [o, high, low, c, volume]


@st.composite
def sorted_bars(draw, step=MIN, on_grid=True, max_bars=40, max_gap_steps=6):
    """Strictly ascending bars; on the step grid, or at arbitrary ms offsets."""
    start = draw(st.integers(0, 2_000_000_000_000))
    if on_grid:
        start = grid_floor(start, step)
        gap = st.integers(1, max_gap_steps).map(lambda k: k * step)
    else:
        gap = st.integers(1, max_gap_steps * step)
    gaps = draw(st.lists(gap, max_size=max_bars - 1))
    stamps = np.cumsum([start, *gaps]).tolist()
    return [[ts, *draw(bar_values())] for ts in stamps]


@st.composite
def messy_bars(draw, step=MIN):
    """Unsorted, with duplicate and off-grid timestamps."""
    rows = draw(sorted_bars(step=step, on_grid=draw(st.booleans())))
    dupes = draw(st.lists(st.sampled_from(rows), max_size=5)) if rows else []
    rows = rows + [[r[0], *draw(bar_values())] for r in dupes]
    return draw(st.permutations(rows))


timeframes = st.sampled_from(TIMEFRAMES)


def _columns(rows):
    ts = np.array([r[0] for r in rows], dtype=np.int64).reshape(-1)
    return (ts, *(np.array([r[i] for r in rows], dtype=np.float64).reshape(-1) for i in range(1, 6)))


# --------------------------------------------------------------------------- #
# Identical to the seed where the seed is defined (sorted, no duplicates)
# --------------------------------------------------------------------------- #
@PROFILE
@given(sorted_bars())
def test_identical_to_seed_on_sorted_on_grid_minutes(rows):
    out = fill_minute_bars(rows)
    expected = seed_fill_minute_bars(rows)
    assert out == expected
    types = [[type(v) for v in row] for row in out]
    assert types == [[type(v) for v in row] for row in expected]
    assert fill_bars(rows, "1m") == expected


@PROFILE
@given(st.data())
def test_identical_to_seed_on_other_timeframes(data):
    step = timeframe_to_ms(data.draw(timeframes))
    rows = data.draw(sorted_bars(step=step))
    assert fill_bars(rows, step) == seed_fill(rows, step)


@PROFILE
@given(sorted_bars(on_grid=False))
def test_identical_to_seed_off_grid_without_snap(rows):
    """Off-grid, snap=False: steps from each bar's own timestamp, like the seed."""
    assert fill_minute_bars(rows) == seed_fill_minute_bars(rows)


# --------------------------------------------------------------------------- #
# Structural properties
# --------------------------------------------------------------------------- #
@PROFILE
@given(st.data())
def test_fill_properties_on_grid(data):
    step = timeframe_to_ms(data.draw(timeframes))
    rows = data.draw(sorted_bars(step=step))
    out, mask = fill_bars(rows, step, return_mask=True)
    if not rows:
        assert out == [] and mask.size == 0
        return
    stamps = [r[0] for r in out]
    # strictly ascending, every gap filled, nothing else added
    assert all(b - a == step for a, b in pairwise(stamps))
    assert len(out) == (rows[-1][0] - rows[0][0]) // step + 1
    assert len(mask) == len(out) and int(mask.sum()) == len(out) - len(rows)
    # real rows: the caller's objects, unchanged and in order
    real = [r for r, synthetic in zip(out, mask.tolist(), strict=True) if not synthetic]
    assert len(real) == len(rows) and all(a is b for a, b in zip(real, rows, strict=True))
    # synthetic rows: flat at the previous close, zero volume
    prev_close = None
    for row, synthetic in zip(out, mask.tolist(), strict=True):
        if synthetic:
            assert row[1:] == [prev_close] * 4 + [0.0]
            assert row[1] is prev_close
        else:
            prev_close = row[4]


@PROFILE
@given(messy_bars())
def test_unsorted_and_duplicate_input_follows_the_documented_policy(rows):
    """Sorted, last occurrence of a timestamp wins, then filled like the seed."""
    reference = canonical(rows)
    out = fill_minute_bars(rows)
    assert out == seed_fill_minute_bars(reference)
    stamps = [r[0] for r in out]
    assert all(b > a for a, b in pairwise(stamps))


@PROFILE
@given(st.data())
def test_snap_puts_every_bar_on_the_grid(data):
    timeframe = data.draw(timeframes)
    step = timeframe_to_ms(timeframe)
    rows = data.draw(messy_bars(step=step))
    out, mask = fill_bars(rows, timeframe, snap=True, return_mask=True)
    assert out == seed_fill(canonical(rows, step), step)
    stamps = np.array([r[0] for r in out], dtype=np.int64)
    assert (grid_floor(stamps, step) == stamps).all()
    assert (np.diff(stamps) == step).all()
    assert int((~mask).sum()) == len(canonical(rows, step))


# --------------------------------------------------------------------------- #
# The columnar entry point agrees with the list entry point
# --------------------------------------------------------------------------- #
@PROFILE
@given(st.data())
def test_columns_agree_with_list_path(data):
    step = timeframe_to_ms(data.draw(timeframes))
    rows = data.draw(messy_bars(step=step))
    snap = data.draw(st.booleans())
    out, mask = fill_bars(rows, step, snap=snap, return_mask=True)
    res = fill_bars_columns(*_columns(rows), step, snap=snap)
    assert res.ts.tolist() == [r[0] for r in out]
    for i, column in enumerate(res[1:6], start=1):
        assert column.tolist() == [float(r[i]) for r in out]
    assert res.synthetic.tolist() == mask.tolist()
