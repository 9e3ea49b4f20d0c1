from backend.src.data.gap_filler import fill_minute_bars


def test_fill_bars_inserts_missing_minutes():
    """Test that gap filler inserts synthetic bars for missing minutes."""
    base = 1_700_000_000_000
    # 3-minute gap between bars
    ohlcv = [
        [base, 1, 2, 0.5, 1.5, 10],
        [base + 3 * 60_000, 1.6, 2, 1.2, 1.8, 12],
    ]
    out = fill_minute_bars(ohlcv)
    
    # Should have: base, +1m (synthetic), +2m (synthetic), +3m
    assert len(out) == 4
    assert out[1][0] == base + 60_000
    assert out[2][0] == base + 2 * 60_000
    assert out[1][4] == 1.5  # Forward-fill from last close
    assert out[2][4] == 1.5
    assert out[1][5] == 0.0  # Zero volume


# --------------------------------------------------------------------------- #
# Further unit tests (the acceptance test above is kept verbatim).
# --------------------------------------------------------------------------- #
import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from backend.src.data.gap_filler import (  # noqa: E402
    FilledColumns,
    fill_bars,
    fill_bars_columns,
    grid_floor,
    minute_floor,
    timeframe_to_ms,
)

BASE = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC: 20 s past a minute
MIN = 60_000
ON_GRID = BASE - 20_000  # the minute BASE falls in


def bar(ts, close=1.0, volume=1.0, high=None, low=None, open_=None):
    """A valid bar around ``close``."""
    return [
        ts,
        close if open_ is None else open_,
        close + 1 if high is None else high,
        close - 1 if low is None else low,
        close,
        volume,
    ]


# ---- timestamps and timeframes ------------------------------------------------


def test_minute_floor():
    assert minute_floor(BASE) == ON_GRID
    assert minute_floor(ON_GRID) == ON_GRID
    assert minute_floor(ON_GRID + MIN - 1) == ON_GRID
    assert minute_floor(-1) == -MIN  # floors towards -inf, not towards zero
    assert isinstance(minute_floor(np.int64(BASE)), int)


@pytest.mark.parametrize(
    ("timeframe", "ms"),
    [
        ("1s", 1_000),
        ("1m", MIN),
        ("5m", 5 * MIN),
        ("15m", 15 * MIN),
        ("30m", 30 * MIN),
        ("60m", 60 * MIN),
        ("1h", 60 * MIN),
        ("4h", 240 * MIN),
        ("1d", 1440 * MIN),
        ("1w", 7 * 1440 * MIN),
        (" 1m ", MIN),
        (90_000, 90_000),
    ],
)
def test_timeframe_to_ms(timeframe, ms):
    assert timeframe_to_ms(timeframe) == ms


@pytest.mark.parametrize("timeframe", ["1M", "3M", "1y"])
def test_calendar_timeframes_are_rejected(timeframe):
    with pytest.raises(ValueError, match="calendar"):
        timeframe_to_ms(timeframe)
    with pytest.raises(ValueError, match="calendar"):
        fill_bars([bar(BASE)], timeframe)


@pytest.mark.parametrize("timeframe", ["", "m", "0m", "-1m", "1x", "1.5m", "1 m", 0, -60_000])
def test_bad_timeframes_are_rejected(timeframe):
    with pytest.raises(ValueError):
        timeframe_to_ms(timeframe)


@pytest.mark.parametrize("timeframe", [True, None, 1.5])
def test_timeframe_type_errors(timeframe):
    with pytest.raises(TypeError):
        timeframe_to_ms(timeframe)


def test_grid_floor_weeks_start_on_monday():
    tuesday = 1_699_920_000_000  # 2023-11-14 00:00 UTC
    monday = tuesday - 86_400_000
    assert grid_floor(tuesday + 123, timeframe_to_ms("1w")) == monday
    assert grid_floor(monday, timeframe_to_ms("1w")) == monday
    assert grid_floor(tuesday + 123, timeframe_to_ms("1d")) == tuesday
    arr = np.array([tuesday + 1, monday], dtype=np.int64)
    assert grid_floor(arr, timeframe_to_ms("1w")).tolist() == [monday, monday]


# ---- the basic fill -------------------------------------------------------------


def test_empty_input_gives_empty_output():
    assert fill_bars([]) == []
    bars, mask = fill_bars([], return_mask=True)
    assert bars == [] and mask.dtype == bool and mask.size == 0
    assert fill_minute_bars([]) == []


def test_single_bar_is_returned_in_a_new_list():
    rows = [bar(BASE)]
    out = fill_bars(rows)
    assert out == rows and out is not rows and out[0] is rows[0]


def test_no_gap_no_synthetic_bars():
    rows = [bar(ON_GRID + i * MIN, close=i + 1) for i in range(5)]
    out, mask = fill_bars(rows, return_mask=True)
    assert out == rows
    assert not mask.any()


def test_real_rows_are_the_callers_objects_and_input_is_untouched():
    rows = [bar(BASE), bar(BASE + 4 * MIN, close=2.0)]
    snapshot = [list(r) for r in rows]
    out = fill_bars(rows)
    assert out[0] is rows[0] and out[-1] is rows[1]
    assert rows == snapshot and len(rows) == 2


def test_synthetic_rows_are_flat_zero_volume_bars_from_the_previous_close():
    rows = [bar(ON_GRID, close=1.5), bar(ON_GRID + 3 * MIN, close=1.8), bar(ON_GRID + 5 * MIN, close=2.1)]
    out, mask = fill_bars(rows, return_mask=True)
    assert [r[0] for r in out] == [ON_GRID + i * MIN for i in range(6)]
    assert mask.tolist() == [False, True, True, False, True, False]
    assert out[1] == [ON_GRID + MIN, 1.5, 1.5, 1.5, 1.5, 0.0]
    assert out[2] == [ON_GRID + 2 * MIN, 1.5, 1.5, 1.5, 1.5, 0.0]
    assert out[4] == [ON_GRID + 4 * MIN, 1.8, 1.8, 1.8, 1.8, 0.0]
    assert all(type(r[0]) is int for r in out)


def test_fill_minute_bars_is_fill_bars_1m():
    rows = [bar(BASE), bar(BASE + 7 * MIN), bar(BASE + 9 * MIN)]
    assert fill_minute_bars(rows) == fill_bars(rows, "1m") == fill_bars(rows)
    a, ma = fill_minute_bars(rows, return_mask=True)
    b, mb = fill_bars(rows, "1m", return_mask=True)
    assert a == b and mb.tolist() == ma.tolist()


@pytest.mark.parametrize("timeframe", ["5m", "15m", "30m", "1h", "60m", "4h", "1d", "1w"])
def test_other_timeframes(timeframe):
    step = timeframe_to_ms(timeframe)
    start = grid_floor(BASE, step)
    rows = [bar(start, close=3.0), bar(start + 4 * step, close=4.0)]
    out, mask = fill_bars(rows, timeframe, return_mask=True)
    assert [r[0] for r in out] == [start + i * step for i in range(5)]
    assert mask.tolist() == [False, True, True, True, False]
    assert all(r[1:] == [3.0, 3.0, 3.0, 3.0, 0.0] for r in out[1:4])


def test_60m_and_1h_agree():
    rows = [bar(ON_GRID), bar(ON_GRID + 5 * 3_600_000)]
    assert fill_bars(rows, "60m") == fill_bars(rows, "1h") == fill_bars(rows, 3_600_000)


# ---- off-grid timestamps and snapping ------------------------------------------


def test_off_grid_steps_from_each_bars_own_timestamp_by_default():
    # Both bars sit 20 s past a minute: synthetic bars do too, like the seed.
    rows = [bar(BASE), bar(BASE + 3 * MIN)]
    assert [r[0] for r in fill_bars(rows)] == [BASE + i * MIN for i in range(4)]


def test_non_multiple_gap_never_overlaps_the_next_bar():
    # A 2.5-step gap: one synthetic bar at +1 step; a second one at +2 steps would
    # cover [+2, +3) and overlap the real bar at +2.5, so it is not inserted.
    rows = [bar(BASE), bar(BASE + 150_000)]
    out = fill_bars(rows)
    assert [r[0] for r in out] == [BASE, BASE + MIN, BASE + 150_000]
    # Gaps of at most one step insert nothing.
    assert fill_bars([bar(BASE), bar(BASE + 90_000)]) == [bar(BASE), bar(BASE + 90_000)]
    assert len(fill_bars([bar(BASE), bar(BASE + 30_000)])) == 2
    assert len(fill_bars([bar(BASE), bar(BASE + MIN)])) == 2


def test_snap_floors_to_the_grid_and_fills_on_grid():
    rows = [bar(BASE, close=1.5), bar(BASE + 3 * MIN + 5_000, close=1.8)]
    out, mask = fill_bars(rows, snap=True, return_mask=True)
    assert [r[0] for r in out] == [ON_GRID + i * MIN for i in range(4)]
    assert mask.tolist() == [False, True, True, False]
    assert out[0] == [ON_GRID, *rows[0][1:]]  # a new row with the snapped timestamp
    assert out[0] is not rows[0]
    assert rows[0][0] == BASE  # the caller's row is not modified


def test_snap_leaves_on_grid_rows_as_the_callers_objects():
    rows = [bar(ON_GRID), bar(ON_GRID + 2 * MIN)]
    out = fill_bars(rows, snap=True)
    assert out[0] is rows[0] and out[2] is rows[1]


def test_snap_collisions_keep_the_last_occurrence():
    rows = [bar(ON_GRID + 10_000, close=1.0), bar(ON_GRID + 40_000, close=2.0), bar(ON_GRID + 2 * MIN)]
    out = fill_bars(rows, snap=True)
    assert [r[0] for r in out] == [ON_GRID, ON_GRID + MIN, ON_GRID + 2 * MIN]
    assert out[0][4] == 2.0 and out[1][4] == 2.0


# ---- unsorted input and duplicates --------------------------------------------


def test_unsorted_input_is_sorted():
    a, b, c = bar(ON_GRID, close=1.0), bar(ON_GRID + 2 * MIN, close=2.0), bar(ON_GRID + 5 * MIN, close=3.0)
    out = fill_bars([c, a, b])
    assert out == fill_bars([a, b, c])
    assert out[0] is a and out[2] is b and out[5] is c


def test_duplicates_keep_the_last_occurrence():
    first = bar(ON_GRID + MIN, close=1.0, volume=1.0)
    update = bar(ON_GRID + MIN, close=1.2, volume=3.0)  # the exchange's newer version
    rows = [bar(ON_GRID), first, bar(ON_GRID + 3 * MIN), update]
    out = fill_bars(rows)
    assert [r[0] for r in out] == [ON_GRID + i * MIN for i in range(4)]
    assert out[1] is update
    assert out[2] == [ON_GRID + 2 * MIN, 1.2, 1.2, 1.2, 1.2, 0.0]


def test_duplicates_in_sorted_input():
    rows = [bar(ON_GRID, close=1.0), bar(ON_GRID, close=2.0), bar(ON_GRID, close=3.0)]
    assert fill_bars(rows) == [rows[2]]


# ---- validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (bar(BASE + MIN, high=1.0, low=2.0), r"bar 1: high 1\.0 < low 2\.0"),
        (bar(BASE + MIN, high=math.nan), r"bar 1: high nan"),
        (bar(BASE + MIN, low=math.nan), r"bar 1: high"),
        (bar(BASE + MIN, volume=-1.0), r"bar 1: volume -1\.0 is NaN or negative"),
        (bar(BASE + MIN, volume=math.nan), r"bar 1: volume nan is NaN or negative"),
        (bar(BASE + MIN, volume=None), r"bar 1: volume nan"),
    ],
)
def test_invalid_bars_raise_naming_the_index(bad, message):
    rows = [bar(BASE), bad, bar(BASE + 5 * MIN)]
    with pytest.raises(ValueError, match=message):
        fill_bars(rows)
    with pytest.raises(ValueError, match=message):
        fill_bars_columns(*_columns(rows), MIN)
    # validate=False is the explicit opt-out for data validated upstream.
    assert len(fill_bars(rows, validate=False)) == 6


def test_error_index_refers_to_the_callers_order():
    rows = [bar(BASE + 5 * MIN), bar(BASE), bar(BASE + 2 * MIN, high=0.0, low=1.0)]
    with pytest.raises(ValueError, match="bar 2:"):
        fill_bars(rows)


def test_nan_close_that_would_be_forward_filled_raises():
    rows = [bar(BASE + 5 * MIN), bar(BASE)]
    rows[1][4] = math.nan  # the bar at BASE is followed by a gap, in canonical order
    with pytest.raises(ValueError, match="bar 1: close is NaN"):
        fill_bars(rows)
    with pytest.raises(ValueError, match="bar 1: close is NaN"):
        fill_bars_columns(*_columns(rows), MIN)
    out = fill_bars(rows, validate=False)
    assert math.isnan(out[1][4])


def test_nan_close_not_followed_by_a_gap_passes_through():
    # Only closes that get propagated are checked (documented): the last bar here.
    rows = [bar(BASE), bar(BASE + MIN)]
    rows[1][4] = math.nan
    assert fill_bars(rows)[1] is rows[1]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([BASE + MIN, 1, 2, 0.5, 1.5], r"bar 1: cannot read volume"),
        ([BASE + MIN, 1, "x", 0.5, 1.5, 1], r"bar 1: cannot read high"),
        ([None, 1, 2, 0.5, 1.5, 1], r"bar 1: cannot read timestamp"),
    ],
)
def test_malformed_rows_raise_naming_the_index(bad, message):
    with pytest.raises(ValueError, match=message):
        fill_bars([bar(BASE), bad])


def test_malformed_first_row():
    with pytest.raises(ValueError, match="bar 0: cannot read timestamp"):
        fill_bars([[], bar(BASE)])


def test_float_timestamps_must_be_integral():
    rows = [bar(float(ON_GRID)), bar(float(ON_GRID + 2 * MIN))]
    out = fill_bars(rows)
    assert [r[0] for r in out] == [ON_GRID, ON_GRID + MIN, ON_GRID + 2 * MIN]
    with pytest.raises(ValueError, match=r"bar 1: timestamp 1700000100000\.5 is not an integral"):
        fill_bars([bar(float(ON_GRID)), bar(ON_GRID + 2 * MIN + 0.5)])
    with pytest.raises(ValueError, match="bar 0: timestamp nan"):
        fill_bars([bar(math.nan), bar(float(ON_GRID))])


def test_extra_columns_on_real_rows_pass_through():
    rows = [[ON_GRID, 1, 2, 0, 1, 5, "extra"], [ON_GRID + 2 * MIN, 1, 2, 0, 1, 5, "extra"]]
    out = fill_bars(rows)
    assert out[0] is rows[0] and out[1] == [ON_GRID + MIN, 1, 1, 1, 1, 0.0]


# ---- the columnar entry point -----------------------------------------------------


def _columns(rows):
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    return (ts, *(np.array([r[i] for r in rows], dtype=np.float64) for i in range(1, 6)))


def test_columns_match_the_list_path():
    rows = [bar(ON_GRID + m * MIN, close=float(m)) for m in (0, 1, 4, 5, 9, 10, 11, 20)]
    res = fill_bars_columns(*_columns(rows), MIN)
    assert isinstance(res, FilledColumns)
    out, mask = fill_bars(rows, return_mask=True)
    assert res.ts.dtype == np.int64 and res.ts.tolist() == [r[0] for r in out]
    for i, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        assert getattr(res, name).tolist() == [float(r[i]) for r in out]
    assert res.synthetic.tolist() == mask.tolist()
    ts, o, h, lo, c, v, syn = res  # unpacks like the 7-tuple of the spec
    assert len(ts) == len(o) == len(h) == len(lo) == len(c) == len(v) == len(syn) == 21
    assert syn.sum() == 21 - len(rows)


def test_columns_never_alias_the_inputs():
    cols = _columns([bar(ON_GRID), bar(ON_GRID + MIN)])
    res = fill_bars_columns(*cols, "1m")
    for out, inp in zip(res[:6], cols, strict=True):
        assert not np.shares_memory(out, inp)
        assert out.flags.c_contiguous and out.dtype == inp.dtype


def test_columns_policies_match_the_list_path():
    rows = [bar(BASE + 5 * MIN, close=5.0), bar(BASE, close=1.0), bar(BASE + 5 * MIN, close=6.0)]
    out, mask = fill_bars(rows, snap=True, return_mask=True)
    res = fill_bars_columns(*_columns(rows), MIN, snap=True)
    assert res.ts.tolist() == [r[0] for r in out]
    assert res.close.tolist() == [r[4] for r in out] == [1.0] * 5 + [6.0]
    assert res.synthetic.tolist() == mask.tolist()


def test_columns_empty_and_errors():
    empty = fill_bars_columns(np.array([], dtype=np.int64), *([np.array([])] * 5), MIN)
    assert all(a.size == 0 for a in empty)
    ts, o, h, lo, c, v = _columns([bar(ON_GRID), bar(ON_GRID + MIN)])
    with pytest.raises(ValueError, match="close has shape"):
        fill_bars_columns(ts, o, h, lo, c[:1], v, MIN)
    with pytest.raises(ValueError, match="not an integral"):
        fill_bars_columns(ts + 0.5, o, h, lo, c, v, MIN)
    with pytest.raises(ValueError, match="calendar"):
        fill_bars_columns(ts, o, h, lo, c, v, "1M")
