"""Kline paging for MEXC spot: which requests give the N most recent *closed* bars.

Pure arithmetic, no I/O. Why it exists: MEXC spot returns at most 500 klines per request (ccxt
caps pages at 500 — "in practice it's 500"), so ``fetch_ohlcv(limit=1500)`` in one call returns
500 bars, not 1500; and the last row MEXC returns is the still-forming bar, which must not be
handed to a strategy as if it were final.

Each page is requested with an explicit ``since`` and ``until`` (ccxt sends
``startTime=since``, ``endTime=until+1`` since MEXC's endTime is exclusive) so pages never
overlap and do not depend on the local clock, which may be skewed from the exchange's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import UsageError
from ..timeframes import grid_floor, timeframe_to_ms

PAGE_LIMIT = 500

#: Fixed-length spot timeframes (ccxt's unified names; ccxt maps 1h→60m and 1w→1W on the wire).
SPOT_TIMEFRAMES: tuple[str, ...] = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")
#: Calendar months have no fixed length: served from the latest page only (see adapter).
MONTHLY = "1M"


def timeframe_ms(timeframe: str) -> int:
    """Bar length in ms; ``ValueError`` for timeframes MEXC spot does not offer (e.g. 8h)."""
    if timeframe not in SPOT_TIMEFRAMES:
        offered = ", ".join([*SPOT_TIMEFRAMES, MONTHLY])
        raise UsageError(f"timeframe {timeframe!r} is not offered by MEXC spot ({offered})")
    return timeframe_to_ms(timeframe)


def bar_open(ts_ms: int, timeframe: str) -> int:
    """Open time of the bar of ``timeframe`` that contains ``ts_ms`` (weeks open on Monday)."""
    return int(grid_floor(ts_ms, timeframe_ms(timeframe)))


def last_closed_open(server_now_ms: int, timeframe: str) -> int:
    """Open time of the most recent bar that has closed at ``server_now_ms``."""
    return bar_open(server_now_ms, timeframe) - timeframe_ms(timeframe)


def plan_pages(end_open: int, count: int, step_ms: int, page: int = PAGE_LIMIT) -> list[tuple[int, int, int]]:
    """``(since, until, limit)`` requests covering the ``count`` bar slots ending at ``end_open``.

    Oldest page first; ``until`` is the open time of the page's last slot (inclusive).
    """
    if count <= 0:
        return []
    first = end_open - (count - 1) * step_ms
    pages = []
    for start_index in range(0, count, page):
        n = min(page, count - start_index)
        since = first + start_index * step_ms
        pages.append((since, since + (n - 1) * step_ms, n))
    return pages


def merge_closed(rows: Iterable[Sequence[float]], first_open: int, last_open: int) -> list[list[float]]:
    """Bars with ``first_open <= ts <= last_open``, ascending, one per timestamp.

    When pages overlap or the exchange repeats a row, the later occurrence wins (it is the
    exchange's newer version of that bar). Rows are normalised to ``[int ms, o, h, l, c, v]``.
    """
    by_ts: dict[int, list[float]] = {}
    for row in rows:
        ts = int(row[0])
        if first_open <= ts <= last_open:
            by_ts[ts] = [ts, float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5])]
    return [by_ts[ts] for ts in sorted(by_ts)]


def misplaced(rows: Iterable[Sequence[float]], since: int, until: int, expected: int) -> bool:
    """True when a page asked for ``since..until`` (``expected`` slots) came back short *and*
    with rows outside that window: MEXC answered another window than the one asked for.

    Why: asked with ``startTime``, ``endTime`` and ``limit``, MEXC once answered with rows
    starting about 41 h before ``startTime`` (recorded ``spot_klines_btcusdt_5m_limit100``).
    Filtering keeps the values right, but the page is then short, and a short page must be
    asked again, not read as minutes without trades. A page short with every row inside its
    window is an illiquid market (nothing to ask again); extra rows outside a complete page
    are harmless.
    """
    inside = outside = 0
    for row in rows:
        if since <= int(row[0]) <= until:
            inside += 1
        else:
            outside += 1
    return outside > 0 and inside < expected
