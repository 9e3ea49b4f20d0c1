"""Bar timeframes and their UTC grid: ``"1m"`` → ms, floor a timestamp to its bar's open.

Why its own module: the adapter's kline paging and the gap filler both need them, and the
adapter must not import the data layer for arithmetic.
"""

from __future__ import annotations

import re
from typing import overload

import numpy as np
import numpy.typing as npt

from .errors import UsageError, UsageTypeError
from .market_data import MINUTE_MS

IntArray = npt.NDArray[np.int64]

_UNIT_MS = {
    "s": 1_000,
    "m": MINUTE_MS,
    "h": 60 * MINUTE_MS,
    "d": 24 * 60 * MINUTE_MS,
    "w": 7 * 24 * 60 * MINUTE_MS,
}
_WEEK_MS = _UNIT_MS["w"]
# The Unix epoch was a Thursday; exchange weekly klines open on Monday 00:00 UTC
# (1970-01-05), so week-multiple grids are anchored there.
_MONDAY_ORIGIN_MS = 4 * _UNIT_MS["d"]
_TIMEFRAME_RE = re.compile(r"(\d+)([a-zA-Z])")


def timeframe_to_ms(timeframe: str | int) -> int:
    """Return the duration of ``timeframe`` in milliseconds.

    Accepts ccxt-style strings (``"1m"``, ``"60m"``, ``"4h"``, ``"1w"``) or a
    positive int of milliseconds.  ``"1M"`` (calendar month) and ``"1y"`` are
    rejected rather than approximated: a 30-day "month" would insert or drop
    bars around every month boundary, i.e. silently produce wrong bars.
    """
    if isinstance(timeframe, bool):  # bool is an int subclass; never a step
        raise UsageTypeError("timeframe must be a string like '1m' or an int of ms, not bool")
    if isinstance(timeframe, int | np.integer):
        step = int(timeframe)
        if step <= 0:
            raise UsageError(f"step must be a positive number of ms, got {step}")
        return step
    if not isinstance(timeframe, str):
        raise UsageTypeError(f"timeframe must be str or int, got {type(timeframe).__name__}")
    match = _TIMEFRAME_RE.fullmatch(timeframe.strip())
    if match is None:
        raise UsageError(f"unparseable timeframe {timeframe!r}; expected e.g. '1m', '4h', '1d'")
    amount, unit = int(match.group(1)), match.group(2)
    if unit in ("M", "y", "Y"):
        raise UsageError(
            f"timeframe {timeframe!r} is calendar-based (months/years have no fixed "
            "duration) and is not supported by the gap filler; fill at '1d' and "
            "aggregate instead"
        )
    if unit not in _UNIT_MS:
        raise UsageError(f"unknown timeframe unit {unit!r} in {timeframe!r}; use s, m, h, d or w")
    if amount <= 0:
        raise UsageError(f"timeframe {timeframe!r} must be a positive duration")
    return amount * _UNIT_MS[unit]


def _grid_origin(step_ms: int) -> int:
    """Grid anchor for ``step_ms``: Monday for week multiples, else the epoch."""
    return _MONDAY_ORIGIN_MS if step_ms % _WEEK_MS == 0 else 0


@overload
def grid_floor(ts_ms: int, step_ms: int) -> int: ...
@overload
def grid_floor(ts_ms: IntArray, step_ms: int) -> IntArray: ...
def grid_floor(ts_ms: int | IntArray, step_ms: int) -> int | IntArray:
    """Floor ``ts_ms`` (int or int64 array) to the UTC grid of ``step_ms``.

    Uses floor semantics (``%`` of Python ints and numpy both round towards
    -inf), so pre-1970 timestamps floor correctly too.  Week multiples are
    anchored on Monday, matching exchange weekly klines.
    """
    origin = _grid_origin(step_ms)
    return ts_ms - (ts_ms - origin) % step_ms


def minute_floor(ts_ms: int) -> int:
    """Floor a millisecond timestamp to the start of its UTC minute."""
    return int(grid_floor(int(ts_ms), MINUTE_MS))
