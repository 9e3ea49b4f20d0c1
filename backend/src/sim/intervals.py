"""Kline interval arithmetic shared by the REST routes, the streams and the bar store.

MEXC names one interval three ways (REST spot ``60m``, spot websocket ``Min60``, contract
``Min60``) and aligns weeks to Monday and months to the calendar, so this lives in one place
instead of being re-derived by every endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday; MEXC's weekly bars open on Monday 00:00 UTC.
_MONDAY_OFFSET_MS = 4 * DAY_MS


@dataclass(frozen=True)
class Interval:
    """One bar length with its MEXC ids; ``ms`` is None for calendar months."""

    spot_id: str | None
    ws_id: str
    ms: int | None

    @property
    def swap_id(self) -> str:
        """Contract REST and websocket use the same ids as the spot websocket."""
        return self.ws_id

    def floor(self, ts_ms: int) -> int:
        """Open time of the bar that contains ``ts_ms``."""
        if self.ms is None:
            dt = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
            return int(datetime(dt.year, dt.month, 1, tzinfo=UTC).timestamp() * 1000)
        if self.ms == WEEK_MS:
            return (ts_ms - _MONDAY_OFFSET_MS) // WEEK_MS * WEEK_MS + _MONDAY_OFFSET_MS
        return ts_ms // self.ms * self.ms

    def next_open(self, open_ms: int) -> int:
        """Open time of the following bar (MEXC's ``closeTime`` for REST rows)."""
        if self.ms is not None:
            return open_ms + self.ms
        dt = datetime.fromtimestamp(open_ms / 1000, tz=UTC)
        year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
        return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


INTERVALS: tuple[Interval, ...] = (
    Interval("1m", "Min1", MINUTE_MS),
    Interval("5m", "Min5", 5 * MINUTE_MS),
    Interval("15m", "Min15", 15 * MINUTE_MS),
    Interval("30m", "Min30", 30 * MINUTE_MS),
    Interval("60m", "Min60", HOUR_MS),
    Interval("4h", "Hour4", 4 * HOUR_MS),
    Interval(None, "Hour8", 8 * HOUR_MS),  # contracts only; spot REST has no 8h
    Interval("1d", "Day1", DAY_MS),
    Interval("1W", "Week1", WEEK_MS),
    Interval("1M", "Month1", None),
)

BY_SPOT_ID: dict[str, Interval] = {i.spot_id: i for i in INTERVALS if i.spot_id is not None}
BY_WS_ID: dict[str, Interval] = {i.ws_id: i for i in INTERVALS}
ONE_MINUTE = BY_SPOT_ID["1m"]
