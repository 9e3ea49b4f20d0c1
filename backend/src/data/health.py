"""Feed health: the measurements behind the Epic's KPIs, kept by the library about itself.

Pure and synchronous. Time is always passed in (``now``, seconds of a monotonic clock): nothing
here reads a clock, so every number is reproducible in a unit test without sleeping, and the
caller decides which clock is authoritative (the same one must be used for every call).

What is measured, per symbol and channel (the KPIs are graded in ``kpis``):

* **dropped messages** — by reason; drop ratio = dropped / received.
* **parse latency** — frame received (local monotonic clock) → md ready, in a
  :class:`~.latency.LatencyHistogram` (bounded memory, p50/p95/p99).
* **uptime** — per symbol, by its :class:`~.freshness.Freshness` (rolling 24 h window).
* **reconnect recovery** — from a disconnect/reset until the first fresh data after it
  (:class:`ChannelHealth`), every recovery kept (bounded) with max/p95.

:class:`FeedHealth` owns one :class:`ChannelHealth` per symbol+channel and one
:class:`~.freshness.Freshness` per symbol; :meth:`FeedHealth.snapshot` turns them into a plain
JSON-able dict (what the CLI, the Prometheus exporter and ``kpis.kpi_report`` read).

Thread-safety: the Prometheus exporter (``metrics.py``) calls :meth:`FeedHealth.snapshot` from
its HTTP thread while the event loop keeps counting. Snapshots copy every mutable container
with a single C-level call (``list(...)``, ``dict(...)``) before iterating, so a concurrent
update can never raise "changed size during iteration"; a scrape may be off by the messages
in flight, which monitoring tolerates.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

from ..market_data import Channel
from .freshness import DEFAULT_STALE_AFTER_S, MAX_RECOVERIES, Freshness
from .latency import LatencyHistogram, nearest_rank

#: The channel whose messages decide freshness: the book ticker is the most frequent stream.
FRESHNESS_CHANNEL = Channel.TICKER


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
            "p95_s": nearest_rank(sorted(kept), 95),
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
            "drop_ratio_pct": ratio_pct(dropped_total, self.received),
            "latency": self.latency.summary(),
            "last_message_age_s": _age(now, self.last_data_at),
            "reconnects": self.reconnects,
            "recoveries": self.recovery_summary(now),
        }


def ratio_pct(part: int, whole: int) -> float | None:
    """``part`` as a percentage of ``whole``; ``None`` without a whole (nothing to judge)."""
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
                "drop_ratio_pct": ratio_pct(dropped, received),
                "latency": merged.summary(),
                "worst_uptime_pct": min(uptimes) if uptimes else None,
                "stale_symbols": sorted(s for s, v in symbols.items() if v["stale"]),
                "reconnects": sum(h.reconnects for h in healths),
                "recoveries": sum(h.recovery_count for h in healths),
                "max_recovery_s": max(max_recoveries) if max_recoveries else None,
                "p95_recovery_s": nearest_rank(recoveries, 95),
            },
        }
