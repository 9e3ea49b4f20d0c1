"""Feed health: the measurements behind the Epic's KPIs, kept by the library about itself.

Pure and synchronous. Time is always passed in (``now``, seconds of a monotonic clock): nothing
here reads a clock, so every number is reproducible in a unit test without sleeping, and the
caller decides which clock is authoritative (the same one must be used for every call).

The four KPIs and how they are measured (binding definitions of the Epic):

* **dropped messages** — per symbol and channel, by reason; drop ratio = dropped / received.
* **p95 parse latency** — frame received (local monotonic clock) → md ready, recorded in a
  log-bucketed :class:`LatencyHistogram` (bounded memory, p50/p95/p99).
* **uptime** — share of the last 24 h (or of the time since the symbol started, if shorter) a
  symbol had fresh data (:class:`Freshness`). A silent stream is down *from its last
  message*, not from when the silence was noticed: downtime is the sum of the whole
  inter-message gaps longer than the threshold, plus the ongoing gap at report time if it
  already exceeds the threshold. A rolling window, so a week-old outage no longer hides a
  fresh one, and a long healthy run cannot dilute today's.
* **reconnect recovery** — from a disconnect/reset until the first fresh data after it
  (:class:`ChannelHealth`), every recovery kept (bounded) with max/p95.

:class:`FeedHealth` owns one :class:`ChannelHealth` per symbol+channel and one
:class:`Freshness` per symbol; :meth:`FeedHealth.snapshot` turns them into a plain JSON-able
dict which :func:`kpi_report` grades against the targets.

Thread-safety: the Prometheus exporter (``metrics.py``) calls :meth:`FeedHealth.snapshot` from
its HTTP thread while the event loop keeps counting. Snapshots copy every mutable container
with a single C-level call (``list(...)``, ``dict(...)``) before iterating, so a concurrent
update can never raise "changed size during iteration"; a scrape may be off by the messages
in flight, which monitoring tolerates.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, NamedTuple

from rich.table import Table

from ..errors import UsageError
from ..market_data import Channel

# ---- KPI targets (Epic) -------------------------------------------------------------------

#: dropped / received must stay below this, in percent.
DROP_RATIO_MAX_PCT = 0.1
#: p95 of receive → md-ready latency must stay below this, in milliseconds.
P95_LATENCY_MAX_MS = 5.0
#: every symbol's share of fresh time must be at least this, in percent (over 24 h).
UPTIME_MIN_PCT = 99.0
#: every reconnect must deliver fresh data again within this many seconds.
RECOVERY_MAX_S = 10.0

#: A symbol's book ticker silent for longer than this makes the symbol stale. A listed MEXC
#: spot book changes several times a second, so 10 s of silence means the data can no longer
#: be traded on; it is also the recovery budget, so a reconnect within target does not count
#: as downtime while a slow one does. Override per symbol via :meth:`FeedHealth.freshness`.
DEFAULT_STALE_AFTER_S = 10.0
#: The channel whose messages decide freshness: the book ticker is the most frequent stream.
FRESHNESS_CHANNEL = Channel.TICKER
#: Recoveries kept per channel for p95 (count and max are kept over all of them).
MAX_RECOVERIES = 1000
#: The uptime KPI's window: "uptime >= 99 % over 24 h".
UPTIME_WINDOW_S = 86_400.0

_MS = 1000.0


def _nearest_rank(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by nearest rank: the smallest value with at least
    ``q`` % of the values at or below it (numpy's ``method="inverted_cdf"``, but see
    :func:`_rank`). An observed value, never an interpolation, so a KPI is never judged on a
    number nobody measured."""
    n = len(sorted_values)
    if n == 0:
        return None
    return sorted_values[_rank(q, n) - 1]


def _rank(q: float, n: int) -> int:
    """1-based nearest rank of percentile ``q`` among ``n`` values, in exact arithmetic on the
    decimal ``q`` as written: 7 % of 200 values is rank 14, where floating point
    (``0.07 * 200 == 14.000000000000002``, numpy's ``inverted_cdf`` included) says 15."""
    if not 0.0 <= q <= 100.0:
        raise UsageError(f"percentile must be within 0..100, got {q}")
    return min(n, max(1, math.ceil(Fraction(repr(q)) * n / 100)))


@lru_cache(maxsize=8)
def _log_bounds(lowest: float, highest: float, per_decade: int) -> tuple[float, ...]:
    """Bucket upper bounds ``lowest * 10**(i/per_decade)`` up to the first one ≥ ``highest``;
    cached so every histogram of a layout shares one tuple (memory, and cheap merge checks)."""
    n = math.ceil(math.log10(highest / lowest) * per_decade - 1e-9)
    return tuple(lowest * 10.0 ** (i / per_decade) for i in range(n + 1))


class LatencyHistogram:
    """Log-bucketed latency histogram: O(1) :meth:`record`, fixed memory whatever the count.

    Buckets: ``[0, lowest]``, then ``(b[i-1], b[i]]`` with ``b[i] = lowest * 10**(i/per_decade)``
    up to ``highest``, then one overflow bucket. With the default 20 buckets per decade
    (1 µs … 60 s: 158 counters) adjacent bounds differ by ``10**(1/20) ≈ 1.122``.

    :meth:`percentile` returns the upper bound of the bucket holding the nearest-rank sample,
    clamped to the largest value recorded. That is *conservative* — never below the exact
    nearest-rank percentile (numpy ``method="inverted_cdf"``, rank computed exactly) — and at
    most 12.2 % above it for values within ``lowest``…``highest``. A KPI ceiling can therefore
    only fail spuriously near the boundary, never pass spuriously. Values below ``lowest``
    report ``lowest`` or the maximum if smaller (sub-µs precision is meaningless here); values
    above ``highest`` report the exact maximum.
    """

    __slots__ = ("_bounds", "_counts", "count", "max", "sum")

    def __init__(self, lowest: float = 1e-6, highest: float = 60.0, per_decade: int = 20) -> None:
        if not 0.0 < lowest < highest or per_decade < 1:
            raise UsageError("need 0 < lowest < highest and per_decade >= 1")
        self._bounds = _log_bounds(lowest, highest, per_decade)
        self._counts = [0] * (len(self._bounds) + 1)  # last one: overflow
        self.count = 0
        self.sum = 0.0
        self.max = 0.0

    @property
    def bounds(self) -> tuple[float, ...]:
        """Bucket upper bounds in seconds (the values :meth:`percentile` can report)."""
        return self._bounds

    def record(self, seconds: float) -> None:
        """Count one latency. Negative values (clock steps) count as 0.

        The bucket is a binary search over the stored bounds (``bisect`` runs in C): it runs
        once per md, and is both faster than a ``log10`` and exact at every bound.
        """
        if not seconds > 0.0:  # negative (or NaN): counts as 0, as max(0.0, seconds) would
            seconds = 0.0
        self._counts[bisect_left(self._bounds, seconds)] += 1
        self.count += 1
        self.sum += seconds
        if seconds > self.max:
            self.max = seconds

    def percentile(self, q: float) -> float | None:
        """Percentile ``q`` (0..100) in seconds, conservative (see the class doc); ``None``
        when nothing was recorded."""
        counts = list(self._counts)  # one consistent copy even if a record() runs concurrently
        total = sum(counts)
        if total == 0:
            return None
        rank = _rank(q, total)
        seen = 0
        bucket = 0
        while seen + counts[bucket] < rank:
            seen += counts[bucket]
            bucket += 1
        if bucket >= len(self._bounds):
            return self.max
        return min(self._bounds[bucket], self.max)

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add ``other``'s samples into this histogram (same bucket layout); returns self so
        totals across channels read ``LatencyHistogram().merge(a).merge(b)``."""
        if other._bounds != self._bounds:
            raise UsageError("cannot merge histograms with different bucket layouts")
        for i, c in enumerate(list(other._counts)):
            self._counts[i] += c
        self.count += other.count
        self.sum += other.sum
        self.max = max(self.max, other.max)
        return self

    def summary(self) -> dict[str, float | int | None]:
        """``count, sum_ms, p50_ms, p95_ms, p99_ms, max_ms``; percentiles ``None`` when empty."""

        def ms(q: float) -> float | None:
            v = self.percentile(q)
            return None if v is None else v * _MS

        return {
            "count": self.count,
            "sum_ms": self.sum * _MS,
            "p50_ms": ms(50),
            "p95_ms": ms(95),
            "p99_ms": ms(99),
            "max_ms": self.max * _MS if self.count else None,
        }


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


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else max(0.0, now - at)


class ChannelHealth:
    """Counters, latency and reconnect recoveries of one symbol+channel stream.

    Counting contract (caller side): :meth:`on_receive` per frame that arrived, :meth:`on_data`
    per message parsed into an md, :meth:`on_deliver` per md handed to the engines,
    :meth:`on_drop` per message lost with its reason (``"malformed"``, ``"queue_full"``,
    ``"stale"``, ...). The counters are plain attributes, so a caller may also bump them.

    A recovery starts at the first :meth:`on_disconnect` and ends at the next :meth:`on_data`.
    Further disconnects while one is pending (failed reconnect attempts) count as reconnects
    but do not restart the clock: the outage lasted from the first one.
    """

    __slots__ = (
        "_down_at",
        "_freshness",
        "delivered",
        "dropped",
        "last_data_at",
        "latency",
        "parsed",
        "received",
        "reconnects",
        "recoveries",
        "recovery_count",
        "recovery_max",
    )

    def __init__(self, freshness: Freshness | None = None, max_recoveries: int = MAX_RECOVERIES) -> None:
        #: the symbol's freshness, fed by this channel's data when it is the freshness channel
        self._freshness = freshness
        self.received = 0
        self.parsed = 0
        self.delivered = 0
        self.dropped: Counter[str] = Counter()
        self.latency = LatencyHistogram()
        self.last_data_at: float | None = None
        self.reconnects = 0
        self.recoveries: deque[float] = deque(maxlen=max_recoveries)
        self.recovery_count = 0  # all recoveries, the deque keeps only the latest
        self.recovery_max = 0.0  # over all recoveries
        self._down_at: float | None = None

    def on_receive(self, n: int = 1) -> None:
        """Frames arrived (the denominator of the drop ratio)."""
        self.received += n

    def on_data(self, now: float, latency_s: float | None = None) -> None:
        """A message parsed into an md at ``now``; ``latency_s`` is receive → md ready.
        Closes a pending recovery and feeds the symbol's freshness."""
        self.parsed += 1
        if latency_s is not None:
            self.latency.record(latency_s)
        self.last_data_at = now
        if self._down_at is not None:
            recovery = max(0.0, now - self._down_at)
            self._down_at = None
            self.recoveries.append(recovery)
            self.recovery_count += 1
            self.recovery_max = max(self.recovery_max, recovery)
        if self._freshness is not None:
            self._freshness.on_data(now)

    def on_deliver(self, n: int = 1) -> None:
        """mds handed to the engines."""
        self.delivered += n

    def on_drop(self, reason: str, n: int = 1) -> None:
        """Messages lost, by reason."""
        self.dropped[reason] += n

    def on_disconnect(self, now: float) -> None:
        """The stream's connection was lost or reset at ``now``: a recovery starts."""
        self.reconnects += 1
        if self._down_at is None:
            self._down_at = now

    @property
    def dropped_total(self) -> int:
        return sum(list(self.dropped.values()))

    def pending_recovery(self, now: float) -> float | None:
        """Seconds since an unrecovered disconnect, else ``None``."""
        return _age(now, self._down_at)

    def recovery_summary(self, now: float) -> dict[str, float | int | None]:
        """``count, max_s, p95_s, last_s, pending_s``. ``max_s`` includes a pending recovery:
        an outage still open after 30 s has already taken at least 30 s."""
        kept = list(self.recoveries)
        pending = self.pending_recovery(now)
        maxima = [v for v in (self.recovery_max if self.recovery_count else None, pending) if v is not None]
        return {
            "count": self.recovery_count,
            "max_s": max(maxima) if maxima else None,
            "p95_s": _nearest_rank(sorted(kept), 95),
            "last_s": kept[-1] if kept else None,
            "pending_s": pending,
        }

    def snapshot(self, now: float) -> dict[str, Any]:
        """Plain-dict view of this channel at ``now``."""
        dropped = dict(self.dropped)
        dropped_total = sum(dropped.values())
        return {
            "received": self.received,
            "parsed": self.parsed,
            "delivered": self.delivered,
            "dropped": dict(sorted(dropped.items())),
            "dropped_total": dropped_total,
            "drop_ratio_pct": _ratio_pct(dropped_total, self.received),
            "latency": self.latency.summary(),
            "last_message_age_s": _age(now, self.last_data_at),
            "reconnects": self.reconnects,
            "recoveries": self.recovery_summary(now),
        }


def _ratio_pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


class FeedHealth:
    """Registry of every stream's health, and the snapshot the CLI, exporter and KPIs read.

    Channels and freshness records are created on demand. Data on ``freshness_channel`` (the
    book ticker) also feeds the symbol's :class:`Freshness`; call
    ``freshness(symbol).start(now)`` when the symbol starts streaming so that a stream that
    never delivers counts as down from the start (otherwise the first message starts it).
    """

    def __init__(
        self,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        freshness_channel: str = FRESHNESS_CHANNEL,
        max_recoveries: int = MAX_RECOVERIES,
    ) -> None:
        self.stale_after_s = stale_after_s
        self.freshness_channel = freshness_channel
        self.max_recoveries = max_recoveries
        #: exchange clock minus local clock in ms, as measured by time sync; reported as is
        self.clock_offset_ms: float | None = None
        self._channels: dict[tuple[str, str], ChannelHealth] = {}
        self._freshness: dict[str, Freshness] = {}
        #: channels of symbols no longer streamed (delisted, handed to another feeder): they
        #: leave the per-symbol view and the uptime KPI, but their counts stay in the totals.
        self._retired: list[ChannelHealth] = []

    def freshness(self, symbol: str, threshold_s: float | None = None) -> Freshness:
        """The symbol's freshness (created on demand); ``threshold_s`` overrides its threshold."""
        fresh = self._freshness.get(symbol)
        if fresh is None:
            fresh = self._freshness[symbol] = Freshness(self.stale_after_s)
        if threshold_s is not None:
            fresh.threshold_s = threshold_s
        return fresh

    def channel(self, symbol: str, channel: str) -> ChannelHealth:
        """The symbol+channel health (created on demand). Cache it on the hot path."""
        key = (symbol, channel)
        health = self._channels.get(key)
        if health is None:
            fresh = self.freshness(symbol) if channel == self.freshness_channel else None
            health = self._channels[key] = ChannelHealth(fresh, self.max_recoveries)
        return health

    def on_disconnect(self, now: float, symbol: str | None = None) -> None:
        """A connection reset: every known channel of ``symbol`` (all symbols if ``None``)
        starts a recovery — one socket carries many streams."""
        for (sym, _), health in list(self._channels.items()):
            if symbol is None or sym == symbol:
                health.on_disconnect(now)

    def retire(self, symbol: str) -> None:
        """``symbol`` stopped streaming on purpose: drop it from the per-symbol view (so it is
        neither stale nor down from now on) while its received/dropped counts and latencies
        stay in the totals. Streaming it again later starts a fresh record."""
        self._freshness.pop(symbol, None)
        for key in [k for k in self._channels if k[0] == symbol]:
            self._retired.append(self._channels.pop(key))

    @property
    def symbols(self) -> list[str]:
        return sorted({s for s, _ in list(self._channels)} | set(list(self._freshness)))

    def _symbol_snapshot(self, symbol: str, channels: dict[str, ChannelHealth], now: float) -> dict[str, Any]:
        fresh = self._freshness.get(symbol)
        started = fresh is not None and fresh.started_at is not None
        return {
            "uptime_pct": 100.0 * fresh.uptime(now) if fresh is not None and started else None,
            "downtime_s": fresh.downtime(now) if fresh is not None else 0.0,
            "observed_s": now - fresh.started_at if fresh is not None and started else 0.0,
            "stale": fresh.is_stale(now) if fresh is not None else False,
            "stale_after_s": fresh.threshold_s if fresh is not None else self.stale_after_s,
            "last_message_age_s": _age(now, fresh.last_data_at) if fresh is not None else None,
            "channels": {ch: health.snapshot(now) for ch, health in sorted(channels.items())},
        }

    def snapshot(self, now: float) -> dict[str, Any]:
        """Everything at ``now`` as plain JSON-serialisable data (see the module doc).

        ``totals`` holds what the KPIs grade: the overall drop ratio, the merged latency
        summary, the worst symbol's uptime and the longest recovery (pending ones included).
        """
        by_symbol: dict[str, dict[str, ChannelHealth]] = {s: {} for s in self.symbols}
        for (sym, ch), health in list(self._channels.items()):
            by_symbol[sym][ch] = health
        symbols = {s: self._symbol_snapshot(s, channels, now) for s, channels in by_symbol.items()}
        healths = [*self._channels.values(), *self._retired]
        received = sum(h.received for h in healths)
        dropped = sum(h.dropped_total for h in healths)
        merged = LatencyHistogram()
        for h in healths:
            merged.merge(h.latency)
        recoveries = sorted(v for h in healths for v in list(h.recoveries))
        max_recoveries = [
            s["recoveries"]["max_s"]
            for sym in symbols.values()
            for s in sym["channels"].values()
            if s["recoveries"]["max_s"] is not None
        ]
        uptimes = [s["uptime_pct"] for s in symbols.values() if s["uptime_pct"] is not None]
        return {
            "clock_offset_ms": self.clock_offset_ms,
            "symbols": symbols,
            "totals": {
                "received": received,
                "parsed": sum(h.parsed for h in healths),
                "delivered": sum(h.delivered for h in healths),
                "dropped": dropped,
                "drop_ratio_pct": _ratio_pct(dropped, received),
                "latency": merged.summary(),
                "worst_uptime_pct": min(uptimes) if uptimes else None,
                "stale_symbols": sorted(s for s, v in symbols.items() if v["stale"]),
                "reconnects": sum(h.reconnects for h in healths),
                "recoveries": sum(h.recovery_count for h in healths),
                "max_recovery_s": max(max_recoveries) if max_recoveries else None,
                "p95_recovery_s": _nearest_rank(recoveries, 95),
            },
        }


# ---- KPI report -----------------------------------------------------------------------------

NA = "n/a"


@dataclass(frozen=True)
class KpiTargets:
    """The thresholds :func:`kpi_report` grades against; defaults are the Epic's."""

    drop_ratio_max_pct: float = DROP_RATIO_MAX_PCT
    p95_latency_max_ms: float = P95_LATENCY_MAX_MS
    uptime_min_pct: float = UPTIME_MIN_PCT
    recovery_max_s: float = RECOVERY_MAX_S


class KpiRow(NamedTuple):
    """One graded KPI. ``target`` reads like ``"< 5"``; ``measured`` is ``"n/a"`` without data."""

    name: str
    target: str
    measured: float | str
    unit: str
    passed: bool


@dataclass(frozen=True)
class _Kpi:
    name: str
    unit: str
    measured: Callable[[dict[str, Any]], float | None]
    target: Callable[[KpiTargets], float]
    at_least: bool  # True: measured >= target passes; False: measured < target passes

    def grade(self, totals: dict[str, Any], targets: KpiTargets) -> KpiRow:
        target = self.target(targets)
        value = self.measured(totals)
        label = f"{'≥' if self.at_least else '<'} {target:g}"
        if value is None:  # nothing to judge yet (no message, no reconnect): nothing failed
            return KpiRow(self.name, label, NA, self.unit, True)
        passed = value >= target if self.at_least else value < target
        return KpiRow(self.name, label, value, self.unit, passed)


_KPIS: tuple[_Kpi, ...] = (
    _Kpi("dropped messages", "%", lambda t: t["drop_ratio_pct"], lambda k: k.drop_ratio_max_pct, False),
    _Kpi("p95 parse latency", "ms", lambda t: t["latency"]["p95_ms"], lambda k: k.p95_latency_max_ms, False),
    _Kpi("uptime (worst symbol)", "%", lambda t: t["worst_uptime_pct"], lambda k: k.uptime_min_pct, True),
    _Kpi("reconnect recovery (max)", "s", lambda t: t["max_recovery_s"], lambda k: k.recovery_max_s, False),
)


def kpi_report(snapshot: dict[str, Any], targets: KpiTargets | None = None) -> list[KpiRow]:
    """Grade a :meth:`FeedHealth.snapshot` against the four KPIs.

    A KPI without data yet — no message received, no reconnect happened, no symbol started —
    passes with ``measured == "n/a"``: there is no evidence of a violation, and a fresh
    process must not report failure. Uptime is the worst symbol's over its observed window
    (the Epic's 24 h once the process has run that long); recovery is the longest one,
    including an outage still pending.
    """
    targets = targets or KpiTargets()
    totals = snapshot["totals"]
    return [kpi.grade(totals, targets) for kpi in _KPIS]


def _cells(row: KpiRow) -> tuple[str, str, str, str]:
    measured = row.measured if isinstance(row.measured, str) else f"{row.measured:.6g} {row.unit}"
    return row.name, f"{row.target} {row.unit}", measured, "PASS" if row.passed else "FAIL"


_HEADERS = ("KPI", "target", "measured", "status")


def format_kpi_table(rows: Iterable[KpiRow], title: str = "Feed health KPIs") -> Table:
    """Rich table of the graded KPIs, status in green/red, for the CLI to print."""
    table = Table(title=title)
    for header in _HEADERS:
        table.add_column(header, justify="left" if header == "KPI" else "right")
    for row in rows:
        *cells, status = _cells(row)
        table.add_row(*cells, f"[{'green' if row.passed else 'bold red'}]{status}[/]")
    return table


def format_kpi_text(rows: Iterable[KpiRow]) -> str:
    """The same table as plain aligned text (logs, non-terminal output)."""
    lines = [_HEADERS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEADERS))]
    return "\n".join(
        "  ".join([name.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])
        for name, *rest in lines
    )
