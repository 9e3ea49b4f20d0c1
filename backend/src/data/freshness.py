"""Freshness of one symbol: when its data went stale, and its uptime over a rolling 24 h window.

Pure and synchronous; time is always passed in (``now``, seconds of a monotonic clock). The
uptime KPI is defined here: a silent stream is down *from its last message*, not from when the
silence was noticed, and only the last 24 h count, so a week-old outage no longer hides a fresh
one and a long healthy run cannot dilute today's.
"""

from __future__ import annotations

from collections import deque

#: A symbol's book ticker silent for longer than this makes the symbol stale. A listed MEXC
#: spot book changes several times a second, so 10 s of silence means the data can no longer
#: be traded on; it is also the recovery budget, so a reconnect within target does not count
#: as downtime while a slow one does. Override per symbol via ``FeedHealth.freshness``.
DEFAULT_STALE_AFTER_S = 10.0
#: Stale gaps (and, in ``health``, recoveries) kept for reports; counts and maxima are all-time.
MAX_RECOVERIES = 1000
#: The uptime KPI's window: "uptime >= 99 % over 24 h".
UPTIME_WINDOW_S = 86_400.0


class Freshness:
    """Uptime of one symbol: the share of a rolling window (24 h, or the time since
    :meth:`start` if shorter) its data was fresh.

    Data is stale once the freshness channel has been silent longer than ``threshold_s``, and
    a stale period counts as down from the last message (or from :meth:`start`, if nothing
    came yet) until the next one — the whole gap, not just the part after detection. Gaps of
    at most ``threshold_s`` are normal pacing and cost nothing. Closed gaps are booked into
    per-minute buckets (only minutes with downtime, at most a window's worth), so the rolling
    uptime costs O(minutes down) and is exact but for the one minute the window's start cuts,
    which is prorated (at most 60 s in 24 h, 0.07 %).
    """

    __slots__ = (
        "_anchor",
        "_down_minutes",
        "_downtime",
        "gaps",
        "last_data_at",
        "started_at",
        "threshold_s",
        "window_s",
    )

    def __init__(
        self,
        threshold_s: float = DEFAULT_STALE_AFTER_S,
        max_gaps: int = MAX_RECOVERIES,
        window_s: float = UPTIME_WINDOW_S,
    ) -> None:
        self.threshold_s = threshold_s
        self.window_s = window_s
        #: the latest stale gaps as ``(start, end)``, so a report can tell which downtime fell
        #: inside a known exchange outage (e.g. a smoke run's scheduled faults).
        self.gaps: deque[tuple[float, float]] = deque(maxlen=max_gaps)
        self.started_at: float | None = None
        self.last_data_at: float | None = None
        self._anchor = 0.0  # last message, or the start before the first one
        self._downtime = 0.0  # closed stale gaps, since the start
        self._down_minutes: dict[int, float] = {}  # minute number → seconds down in it (closed gaps)

    def start(self, now: float) -> None:
        """The symbol starts streaming: total time counts from here. Later calls are ignored,
        so a restart inside the feeder cannot hide earlier downtime."""
        if self.started_at is None:
            self.started_at = now
            self._anchor = now

    def on_data(self, now: float) -> None:
        """A fresh message arrived: closes a stale gap (counting all of it) if one was open."""
        if self.started_at is None:
            self.start(now)
        gap = now - self._anchor
        if gap > self.threshold_s:
            self._downtime += gap
            self.gaps.append((self._anchor, now))
            self._book(self._anchor, now)
        if now > self._anchor:
            self._anchor = now
        self.last_data_at = self._anchor

    def _book(self, start: float, end: float) -> None:
        """Add the closed gap ``start..end`` to the minute buckets; forget minutes the window
        has left behind."""
        minute = int(start // 60.0)
        while start < end:
            edge = min(end, (minute + 1) * 60.0)
            self._down_minutes[minute] = self._down_minutes.get(minute, 0.0) + (edge - start)
            start, minute = edge, minute + 1
        horizon = int((end - self.window_s) // 60.0) - 1
        for old in [m for m in self._down_minutes if m < horizon]:
            del self._down_minutes[old]

    def _ongoing_gap(self, now: float) -> float:
        if self.started_at is None:
            return 0.0
        gap = now - self._anchor
        return gap if gap > self.threshold_s else 0.0

    def is_stale(self, now: float) -> bool:
        """Silent longer than the threshold at ``now`` (never before :meth:`start`)."""
        return self._ongoing_gap(now) > 0.0

    def stale_since(self, now: float) -> float | None:
        """When the current stale period began (the last message, or the start), else ``None``.
        Takes ``now`` because staleness is a matter of time passing, not of an event."""
        return self._anchor if self.is_stale(now) else None

    def downtime(self, now: float) -> float:
        """Seconds without fresh data since the start, including an ongoing stale gap."""
        return self._downtime + self._ongoing_gap(now)

    def uptime(self, now: float) -> float:
        """Fresh share of the window ending at ``now``, 0..1; 1.0 before any time has passed."""
        if self.started_at is None:
            return 1.0
        since = max(self.started_at, now - self.window_s)
        total = now - since
        if total <= 0.0:
            return 1.0
        if since == self.started_at:  # the whole life fits the window: exact
            down = self.downtime(now)
        else:
            first = int(since // 60.0)
            down = sum(v for m, v in list(self._down_minutes.items()) if m > first)
            down += self._down_minutes.get(first, 0.0) * ((first + 1) * 60.0 - since) / 60.0
            if self._ongoing_gap(now):
                down += now - max(self._anchor, since)
        return max(0.0, (total - down) / total)
