"""The core every gap-filler entry point shares: timestamp checks, canonical order, gap plan.

Why a module of its own: :mod:`.gap_filler`'s list path and columnar path read their input and
build their output differently, but must apply one input policy (sorting, last duplicate wins,
value validation, where synthetic bars go) bar for bar; keeping that policy here, in numpy and
free of either path's data layout, is what guarantees both paths agree. The policy itself is
documented in :mod:`.gap_filler`'s docstring, next to the entry points users call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import UsageError, UsageTypeError

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def as_int_ms(ts: npt.ArrayLike) -> IntArray:
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


def check_values(high: FloatArray, low: FloatArray, volume: FloatArray) -> None:
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


def canonical_order(ts: IntArray) -> IntArray | None:
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
class GapPlan:
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


def check_fill_close(gap_close: FloatArray, plan: GapPlan, order: IntArray | None) -> None:
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


def plan_gaps(ts: IntArray, step_ms: int) -> GapPlan:
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
    return GapPlan(
        n_real=int(ts.size),
        gap_rows=gap_rows,
        counts=counts,
        src=src,
        ts=ts[src] + k * step_ms,
        pos=src + rank + 1,
    )
