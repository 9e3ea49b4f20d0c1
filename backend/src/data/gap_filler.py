"""Fill missing OHLCV bars with synthetic, zero-volume bars.

Exchanges often simply omit a kline when no trade happened in its interval,
and REST/websocket hiccups drop bars too.  Engines and indicators
that assume one row per interval (rolling windows, bar-count based features,
"N bars ago") silently mis-compute on such holes, so we materialise the
missing bars as *flat* bars: o = h = l = c = previous close, volume = 0.0.
This is the standard convention (freqtrade, ccxt examples): "no trade" means
the price did not move and nothing was traded.

Bars are ``[ms, open, high, low, close, volume]`` lists, as returned by ccxt.

Entry points
------------
``fill_bars(ohlcv, timeframe="1m")``
    list-of-lists in, list-of-lists out (the format everything upstream
    produces).  ``return_mask=True`` additionally returns a boolean numpy
    array marking the synthetic rows, so the 6-column format never changes.
``fill_minute_bars(ohlcv)``
    ``fill_bars(ohlcv, "1m")`` -- the original (seed) API.
``fill_bars_columns(ts, open_, high, low, close, volume, step_ms)``
    columnar numpy fast path, fully vectorised.

All three share one core (``_canonical_order`` -> ``_plan_gaps`` ->
``_GapPlan``); the entry points only differ in how they read the input and
materialise the output.  Per-bar work is done by numpy; the list path only
runs Python code per *gap* (to splice the synthetic rows between slices of the
caller's rows), never per bar -- except with ``snap=True``, which rebuilds
each row whose timestamp it moves.

Input policy (identical for every entry point)
----------------------------------------------
* **Empty input** -> empty output.
* **Unsorted input** is sorted by timestamp (stable sort, so duplicates keep
  their input order for the next rule).  Exchanges and merged caches do
  deliver out-of-order rows; sorting is cheap and the only sensible
  interpretation.  Sorted input is detected in O(n) and not copied.
* **Duplicate timestamps**: the *last occurrence in input order* wins.  A
  repeated timestamp is the exchange re-sending an updated version of the same
  (usually still-forming) bar, and the later message is the newer one.
* **Off-grid timestamps** (e.g. ``1_700_000_000_000`` is 20 s past a
  minute): by default (``snap=False``) synthetic bars are stepped from each
  real bar's *own* timestamp, exactly as the seed implementation did, and real
  bars are never modified.  ``snap=True`` first floors every timestamp to the
  UTC grid of the timeframe (weeks start on Monday 00:00 UTC like exchange
  weekly klines); bars that collide after snapping are then de-duplicated with
  the rule above.  Snapping rewrites timestamps, so it is opt-in only.
* **Gap rule**: between consecutive real bars ``prev`` and ``nxt`` with
  ``gap = nxt.ts - prev.ts``, ``gap // step - 1`` synthetic bars are inserted
  at ``prev.ts + k * step`` (k = 1, 2, ...).  For a gap that is not a multiple
  of the step (only possible off-grid) this inserts every bar whose *whole*
  interval ``[t, t + step)`` ends at or before ``nxt.ts`` -- a synthetic bar
  never overlaps the next real bar; the remaining < 1 step of slack stays
  before ``nxt``.  Gaps ``<= step`` insert nothing.
* **Validation** (``validate=True``, the default): ``high < low``, a NaN
  high/low, or a NaN or negative volume raise ``ValueError`` naming the
  offending bar's index *in the caller's input*; so does a NaN close that
  would be forward-filled into synthetic bars (closes that are not
  propagated are not checked -- they do not create new bars).
  ``validate=False`` skips these value checks for callers that validated
  upstream; it cuts the list path's cost by ~45 % (reading three more columns
  out of a million Python lists costs ~60 ms, more than half the seed's whole
  loop), see docs/BENCHMARKS.md.
* **Timestamps** are integer ms and are always checked: rows that cannot be
  read (too short, non-numeric) raise ``ValueError`` naming the row, and
  float timestamps must be integral and finite.  (List path: a float-typed
  timestamp column -- judged by the first row -- is checked; an int column is
  read straight into int64.)
* **Timeframes**: ``<int><unit>`` with unit ``s``, ``m``, ``h``, ``d``, ``w``
  (``"1m"``, ``"5m"``, ``"60m"``, ``"4h"``, ``"1d"``, ``"1w"``, ...) or an int
  number of milliseconds.  Calendar months (``"1M"``) and years are rejected
  with ``ValueError``: they have no fixed duration, so "gap // step" is
  meaningless for them.

Output aliasing: the list path returns a *new* outer list whose real rows are
the caller's own row objects (like the seed; copying a million rows would
cost more than the fill).  Rows rewritten by ``snap=True`` are new lists.  The
columnar path always returns freshly allocated arrays (one shared block).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any, Literal, NamedTuple, overload

import numpy as np
import numpy.typing as npt

from ..errors import UsageError, UsageTypeError
from ..market_data import MINUTE_MS
from ..timeframes import grid_floor, minute_floor, timeframe_to_ms

logger = logging.getLogger(__name__)

__all__ = [
    "MINUTE_MS",
    "FilledColumns",
    "fill_bars",
    "fill_bars_columns",
    "fill_minute_bars",
    "grid_floor",
    "minute_floor",
    "timeframe_to_ms",
]

# Column positions in a ccxt OHLCV row.
_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
_TS, _OPEN, _HIGH, _LOW, _CLOSE, _VOLUME = range(len(_COLUMNS))

Bar = list[Any]  # [ms, open, high, low, close, volume], as ccxt returns them
Bars = Sequence[Bar]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------- #
# Core: validation, canonical order, gap plan (shared by every entry point)
# --------------------------------------------------------------------------- #
def _as_int_ms(ts: npt.ArrayLike) -> IntArray:
    """Convert timestamps to int64, refusing values that would be truncated.

    Float timestamps are accepted only when integral: silently truncating
    ``1.5`` ms (or NaN) would produce a bar at a time nobody sent.
    """
    arr = np.asarray(ts)
    if arr.ndim != 1:
        raise UsageError(f"timestamps must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind != "f":
        raise UsageTypeError(f"timestamps must be integers (ms), got dtype {arr.dtype}")
    with np.errstate(invalid="ignore"):  # NaN/inf casts are caught just below
        as_int = arr.astype(np.int64)
    bad = np.flatnonzero(as_int != arr)  # catches NaN, inf and fractional ms
    if bad.size:
        i = int(bad[0])
        raise UsageError(f"bar {i}: timestamp {arr[i].item()!r} is not an integral number of ms")
    return as_int


def _check_values(high: FloatArray, low: FloatArray, volume: FloatArray) -> None:
    """Raise ``ValueError`` naming the first bar with impossible values.

    ``not (high >= low)`` rather than ``high < low`` so NaN fails too; same for
    volume.  Such bars mean corrupt upstream data, and passing them on would
    poison every indicator downstream.
    """
    ok = high >= low
    ok &= volume >= 0.0  # in place: one temporary less on a million-bar input
    if ok.all():
        return
    i = int(np.argmin(ok))  # the first False
    if not high[i] >= low[i]:
        raise UsageError(f"bar {i}: high {float(high[i])!r} < low {float(low[i])!r} (or NaN)")
    raise UsageError(f"bar {i}: volume {float(volume[i])!r} is NaN or negative")


def _canonical_order(ts: IntArray) -> IntArray | None:
    """Indices that sort ``ts`` (stable) keeping the last duplicate, or None.

    ``None`` means the input is already strictly ascending (the overwhelmingly
    common case), which lets callers skip every copy.  The check is one
    vectorised ``diff``.
    """
    if ts.size < 2 or bool((ts[1:] > ts[:-1]).all()):
        return None
    order = np.argsort(ts, kind="stable")
    sorted_ts = ts[order]
    keep = np.empty(ts.size, dtype=bool)
    # Within a run of equal timestamps the stable sort preserves input order,
    # so keeping the run's last element keeps the last occurrence.
    np.not_equal(sorted_ts[1:], sorted_ts[:-1], out=keep[:-1])
    keep[-1] = True
    kept = order[keep]
    logger.debug(
        "gap filler: input not strictly ascending; sorted %d bars, dropped %d duplicates",
        ts.size,
        ts.size - kept.size,
    )
    return kept


@dataclass(frozen=True, slots=True)
class _GapPlan:
    """Where the synthetic bars go, computed once from canonical timestamps.

    Attributes are int64 arrays:
      gap_rows  -- index of each real bar followed by a gap (ascending)
      counts    -- synthetic bars after each of those bars (all >= 1)
      src       -- for every synthetic bar, the real bar it forward-fills from
      ts        -- timestamp of every synthetic bar
      pos       -- position of every synthetic bar in the output
    """

    n_real: int
    gap_rows: IntArray
    counts: IntArray
    src: IntArray
    ts: IntArray
    pos: IntArray

    @property
    def n_synthetic(self) -> int:
        return int(self.src.size)

    @property
    def total(self) -> int:
        return self.n_real + self.n_synthetic

    def mask(self) -> BoolArray:
        """Boolean array over the output rows, True for synthetic bars."""
        out = np.zeros(self.total, dtype=bool)
        out[self.pos] = True
        return out


def _check_fill_close(gap_close: FloatArray, plan: _GapPlan, order: IntArray | None) -> None:
    """Refuse to forward-fill a NaN close into synthetic bars.

    Only the closes that are actually propagated are checked (one per gap,
    aligned with ``plan.gap_rows``), which keeps this free for the list path;
    ``order`` maps the canonical row back to the caller's index for the message.
    """
    nan = np.flatnonzero(np.isnan(gap_close))
    if nan.size:
        row = int(plan.gap_rows[nan[0]])
        index = row if order is None else int(order[row])
        raise UsageError(f"bar {index}: close is NaN and would be forward-filled into synthetic bars")


def _plan_gaps(ts: IntArray, step_ms: int) -> _GapPlan:
    """Plan the fill for strictly ascending ``ts`` in O(n), fully vectorised.

    Synthetic bar k (1-based) of a gap after real bar i sits at
    ``ts[i] + k * step``; it lands at output position ``i + r + 1`` where r is
    its 0-based rank among all synthetic bars (every earlier synthetic bar
    shifts it by one).
    """
    deltas = np.diff(ts)
    # Integer division is the slowest op here, so do it only on the (few) gaps.
    gap_rows = np.flatnonzero(deltas >= 2 * step_ms)
    counts = deltas[gap_rows] // step_ms - 1
    n_syn = int(counts.sum())
    rank = np.arange(n_syn, dtype=np.int64)
    if n_syn == gap_rows.size:  # every gap is a single bar: no repeat needed
        src = gap_rows
        k: IntArray | int = 1
    else:
        src = np.repeat(gap_rows, counts)
        first_rank = np.cumsum(counts) - counts
        k = rank - np.repeat(first_rank, counts) + 1
    return _GapPlan(
        n_real=int(ts.size),
        gap_rows=gap_rows,
        counts=counts,
        src=src,
        ts=ts[src] + k * step_ms,
        pos=src + rank + 1,
    )


# --------------------------------------------------------------------------- #
# Columnar entry point
# --------------------------------------------------------------------------- #
class FilledColumns(NamedTuple):
    """Result of :func:`fill_bars_columns`; unpacks as a 7-tuple."""

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    synthetic: BoolArray


def fill_bars_columns(
    ts: npt.ArrayLike,
    open_: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    step_ms: int | str,
    *,
    snap: bool = False,
    validate: bool = True,
) -> FilledColumns:
    """Fill gaps in columnar OHLCV data (numpy in, numpy out).

    This is the fast path for backtests and bulk history: no Python code runs
    per bar or per gap.  ``step_ms`` is a number of ms or a timeframe string.
    Input policy (sorting, duplicates, off-grid, validation) is described in
    the module docstring; error indices refer to the caller's arrays.

    Returns freshly allocated arrays (never views of the inputs) plus a
    ``synthetic`` mask, as a NamedTuple so both ``res.close`` and
    ``ts, o, h, l, c, v, mask = res`` work.  The six value columns are
    contiguous rows of one shared allocation (see the comment in the body), so
    keeping any one of them alive keeps all six; ``.copy()`` a column you
    want to keep on its own.
    """
    step = timeframe_to_ms(step_ms)
    t = _as_int_ms(ts)
    cols = [np.asarray(col, dtype=np.float64) for col in (open_, high, low, close, volume)]
    for name, col in zip(("open", "high", "low", "close", "volume"), cols, strict=True):
        if col.shape != t.shape:
            raise UsageError(f"{name} has shape {col.shape}, timestamps have {t.shape}")
    if validate:
        _check_values(cols[1], cols[2], cols[4])
    if snap:
        t = grid_floor(t, step)
    order = _canonical_order(t)
    if order is not None:
        t = t[order]
        cols = [col[order] for col in cols]
    plan = _plan_gaps(t, step)
    o, h, lo, c, v = cols
    if validate:
        _check_fill_close(c[plan.gap_rows], plan, order)
    fill_close = c[plan.src]
    mask = plan.mask()
    # Output positions of the real bars.  Computed once, integer indices
    # scatter ~15 % faster than re-scanning a boolean mask for every column.
    real = np.flatnonzero(~mask)
    logger.debug("gap filler: %d bars + %d synthetic", plan.n_real, plan.n_synthetic)
    # All six output columns are rows of one (6, total) block, like pandas'
    # consolidated blocks: the kernel has to fault in and zero fresh pages, and
    # one large allocation costs far fewer faults than six (~25 % of the whole
    # fill at 1 M bars).  Each column is still a contiguous 1-D array.
    block = np.empty((6, plan.total), dtype=np.float64)
    outputs = (block[0].view(np.int64), *block[1:])
    sources = ((t, plan.ts), (o, fill_close), (h, fill_close), (lo, fill_close), (c, fill_close), (v, 0.0))
    for out, (real_values, synthetic_values) in zip(outputs, sources, strict=True):
        out[real] = real_values
        out[plan.pos] = synthetic_values
    return FilledColumns(*outputs, synthetic=mask)


# --------------------------------------------------------------------------- #
# List-of-lists entry points
# --------------------------------------------------------------------------- #
def _read_column(rows: Bars, col: int, dtype: type[np.generic] = np.float64) -> np.ndarray:
    """One OHLCV column as a numpy array, naming the row if it cannot be read.

    ``np.fromiter`` over an ``itemgetter`` map runs in C (~20 ns/row), which is
    what makes the list path cheaper than any per-row Python loop.
    """
    try:
        return np.fromiter(map(itemgetter(col), rows), dtype=dtype, count=len(rows))
    except (IndexError, KeyError, TypeError, ValueError, OverflowError) as exc:
        for i, row in enumerate(rows):  # error path only: find the culprit
            try:
                np.array([row[col]], dtype=dtype)
            except (IndexError, KeyError, TypeError, ValueError, OverflowError):
                raise UsageError(
                    f"bar {i}: cannot read {_COLUMNS[col]} (column {col}) as a number from {row!r}"
                ) from exc
        raise


def _read_timestamps(rows: Bars) -> IntArray:
    """The timestamp column as int64.

    Integer timestamps (what ccxt and JSON give) are read straight into int64,
    the cheapest conversion numpy has.  If the column holds floats (judged by
    the first row, e.g. data that went through pandas) it is read as float64
    and checked for integrality, because int64 conversion would silently
    truncate fractional or garbage values.
    """
    try:
        floats = isinstance(rows[0][_TS], float | np.floating)
    except (IndexError, KeyError, TypeError):
        floats = False  # malformed first row: _read_column names it
    if floats:
        return _as_int_ms(_read_column(rows, _TS, np.float64))
    return _read_column(rows, _TS, np.int64)


def _synthetic_rows(rows: Bars, plan: _GapPlan) -> tuple[list[Any], list[Bar]]:
    """The close of each gap's real row, and every synthetic row ``[ts, c, c, c, c, 0.0]``.

    Each close is fetched once per *gap* (not per synthetic bar) and the rows
    are built by ``zip`` + ``list`` in C: with scattered gaps every fetch is a
    cache miss into a different row, so fewer and tighter fetches are what
    counts here.  The rows are built before the output list exists, so the
    garbage collector's young-generation passes triggered by these
    allocations never have to walk a million-entry output list.
    """
    closes = list(map(itemgetter(_CLOSE), map(rows.__getitem__, plan.gap_rows.tolist())))
    fill = closes
    if plan.n_synthetic != len(closes):  # some gaps are longer than one bar
        gap_of_bar = np.repeat(np.arange(len(closes)), plan.counts)
        fill = list(map(closes.__getitem__, gap_of_bar.tolist()))
    return closes, list(map(list, zip(plan.ts.tolist(), fill, fill, fill, fill, repeat(0.0))))


def _splice(rows: Bars, synthetic: list[Bar], plan: _GapPlan) -> list[Bar]:
    """Interleave canonical ``rows`` with ``synthetic`` rows as ``plan`` says.

    Python code runs once per *gap*: ``list.extend`` copies each run of real
    rows and each gap's synthetic rows in C, so the per-bar cost is a pointer
    copy instead of the seed's per-bar interpreter loop.
    """
    out: list[Bar] = []
    extend = out.extend
    prev = first = 0
    ends = (plan.gap_rows + 1).tolist()
    lasts = np.cumsum(plan.counts).tolist()
    for end, last in zip(ends, lasts, strict=True):
        extend(rows[prev:end])
        extend(synthetic[first:last])
        prev, first = end, last
    extend(rows[prev:])
    return out


@overload
def fill_bars(
    ohlcv: Bars,
    timeframe: str | int = ...,
    *,
    snap: bool = ...,
    validate: bool = ...,
    return_mask: Literal[False] = ...,
) -> list[Bar]: ...
@overload
def fill_bars(
    ohlcv: Bars,
    timeframe: str | int = ...,
    *,
    snap: bool = ...,
    validate: bool = ...,
    return_mask: Literal[True],
) -> tuple[list[Bar], BoolArray]: ...
@overload
def fill_bars(
    ohlcv: Bars,
    timeframe: str | int = ...,
    *,
    snap: bool = ...,
    validate: bool = ...,
    return_mask: bool,
) -> list[Bar] | tuple[list[Bar], BoolArray]: ...
def fill_bars(
    ohlcv: Bars,
    timeframe: str | int = "1m",
    *,
    snap: bool = False,
    validate: bool = True,
    return_mask: bool = False,
) -> list[Bar] | tuple[list[Bar], BoolArray]:
    """Insert flat zero-volume bars for every missing ``timeframe`` step.

    ``ohlcv`` is a sequence of ``[ms, open, high, low, close, volume]`` rows
    (extra trailing columns are passed through untouched on real rows).
    Returns a new list; real rows are the caller's row objects, synthetic rows
    are ``[ts, c, c, c, c, 0.0]`` with ``c`` the previous real close.  With
    ``return_mask=True`` returns ``(bars, synthetic_mask)`` where the mask is a
    numpy bool array aligned with ``bars`` -- so callers can tell synthetic
    bars apart without a seventh column breaking the OHLCV format.

    See the module docstring for the input policy (unsorted, duplicates,
    off-grid, ``snap``, validation).  Error indices refer to ``ohlcv``.
    """
    step = timeframe_to_ms(timeframe)
    rows = ohlcv
    if len(rows) == 0:
        return ([], np.zeros(0, dtype=bool)) if return_mask else []
    ts = _read_timestamps(rows)
    if validate:
        _check_values(_read_column(rows, _HIGH), _read_column(rows, _LOW), _read_column(rows, _VOLUME))
    if snap:
        snapped = grid_floor(ts, step)
        moved = np.flatnonzero(snapped != ts)
        if moved.size:
            rows = list(rows)
            for i, t in zip(moved.tolist(), snapped[moved].tolist(), strict=True):
                rows[i] = [t, *rows[i][1:]]
        ts = snapped
    order = _canonical_order(ts)
    if order is not None:
        rows = list(map(rows.__getitem__, order.tolist()))
        ts = ts[order]
    plan = _plan_gaps(ts, step)
    closes, synthetic = _synthetic_rows(rows, plan)
    if validate:
        _check_fill_close(np.asarray(closes, dtype=np.float64), plan, order)
    out = _splice(rows, synthetic, plan)
    logger.debug("gap filler: %d bars + %d synthetic", plan.n_real, plan.n_synthetic)
    return (out, plan.mask()) if return_mask else out


@overload
def fill_minute_bars(
    ohlcv: Bars, *, snap: bool = ..., validate: bool = ..., return_mask: Literal[False] = ...
) -> list[Bar]: ...
@overload
def fill_minute_bars(
    ohlcv: Bars, *, snap: bool = ..., validate: bool = ..., return_mask: Literal[True]
) -> tuple[list[Bar], BoolArray]: ...
@overload
def fill_minute_bars(
    ohlcv: Bars, *, snap: bool = ..., validate: bool = ..., return_mask: bool
) -> list[Bar] | tuple[list[Bar], BoolArray]: ...
def fill_minute_bars(
    ohlcv: Bars, *, snap: bool = False, validate: bool = True, return_mask: bool = False
) -> list[Bar] | tuple[list[Bar], BoolArray]:
    """The original 1-minute API: ``fill_bars(ohlcv, "1m", ...)``.

    Kept because callers (the market feeder) and the acceptance test use it;
    by default it steps from each bar's own timestamp exactly like the seed.
    """
    return fill_bars(ohlcv, "1m", snap=snap, validate=validate, return_mask=return_mask)
