"""Prometheus exporter for :class:`~backend.src.data.health.FeedHealth` — off by default.

Nothing here touches the hot path: a custom collector takes one ``FeedHealth.snapshot`` per
scrape and turns it into metric families, so per-message cost stays the plain counters of
``health.py`` whether or not anyone scrapes. The collector lives in its own
``CollectorRegistry`` (not prometheus_client's global one) so several feeds or tests in one
process never collide, and the endpoint serves exactly the ``levibot_md_*`` families.

Values are converted to Prometheus base units (seconds, ratios 0..1). The HTTP server binds
127.0.0.1 unless told otherwise: health data is for the operator's scraper, not the network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from backend.src.data.health import FeedHealth

from ..errors import LevibotError

PREFIX = "levibot_md_"
_QUANTILES = (("0.5", "p50_ms"), ("0.95", "p95_ms"), ("0.99", "p99_ms"))
_CHANNEL_LABELS = ("symbol", "channel")
_CHANNEL_COUNTERS = (
    ("received", "Frames received."),
    ("parsed", "Messages parsed into md."),
    ("delivered", "md delivered to engines."),
    ("reconnects", "Disconnects/resets of the stream."),
)


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


class FeedHealthCollector(Collector):
    """Reads a :class:`FeedHealth` snapshot at scrape time; ``clock`` must be the monotonic
    clock the feed passes to ``health`` as ``now``."""

    def __init__(self, health: FeedHealth, clock: Callable[[], float] = time.monotonic) -> None:
        self.health = health
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        snap = self.health.snapshot(self.clock())
        channels = [
            (sym, ch, data)
            for sym, sym_data in snap["symbols"].items()
            for ch, data in sym_data["channels"].items()
        ]
        yield from self._channel_metrics(channels)
        yield from self._symbol_metrics(snap["symbols"])
        offset = snap["clock_offset_ms"]
        if offset is not None:
            yield GaugeMetricFamily(
                PREFIX + "clock_offset_seconds", "Exchange clock minus local clock.", value=offset / 1000.0
            )

    @staticmethod
    def _channel_metrics(channels: list[tuple[str, str, dict[str, Any]]]) -> Iterator[Metric]:
        for key, doc in _CHANNEL_COUNTERS:
            family = CounterMetricFamily(PREFIX + key, doc, labels=_CHANNEL_LABELS)
            for sym, ch, data in channels:
                family.add_metric([sym, ch], data[key])
            yield family

        dropped = CounterMetricFamily(
            PREFIX + "dropped", "Messages dropped, by reason.", labels=(*_CHANNEL_LABELS, "reason")
        )
        latency = SummaryMetricFamily(
            PREFIX + "parse_latency_seconds", "Frame received to md ready.", labels=_CHANNEL_LABELS
        )
        recoveries = CounterMetricFamily(
            PREFIX + "recoveries", "Completed reconnect recoveries.", labels=_CHANNEL_LABELS
        )
        recovery_max = GaugeMetricFamily(
            PREFIX + "recovery_max_seconds",
            "Longest disconnect-to-fresh-data time, a pending one included.",
            labels=_CHANNEL_LABELS,
        )
        for sym, ch, data in channels:
            for reason, n in data["dropped"].items():
                dropped.add_metric([sym, ch, reason], n)
            summary = data["latency"]
            for quantile, key in _QUANTILES:
                value = _seconds(summary[key])
                if value is not None:
                    labels = {"symbol": sym, "channel": ch, "quantile": quantile}
                    latency.add_sample(latency.name, labels, value)
            latency.add_metric([sym, ch], summary["count"], summary["sum_ms"] / 1000.0)
            recoveries.add_metric([sym, ch], data["recoveries"]["count"])
            if data["recoveries"]["max_s"] is not None:
                recovery_max.add_metric([sym, ch], data["recoveries"]["max_s"])
        yield from (dropped, latency, recoveries, recovery_max)

    @staticmethod
    def _symbol_metrics(symbols: dict[str, dict[str, Any]]) -> Iterator[Metric]:
        labels = ["symbol"]
        uptime = GaugeMetricFamily(PREFIX + "uptime_ratio", "Share of time with fresh data.", labels=labels)
        stale = GaugeMetricFamily(PREFIX + "stale", "1 while the symbol's data is stale.", labels=labels)
        age = GaugeMetricFamily(
            PREFIX + "last_message_age_seconds", "Age of the freshest-channel message.", labels=labels
        )
        for sym, data in symbols.items():
            if data["uptime_pct"] is not None:
                uptime.add_metric([sym], data["uptime_pct"] / 100.0)
            stale.add_metric([sym], 1.0 if data["stale"] else 0.0)
            if data["last_message_age_s"] is not None:
                age.add_metric([sym], data["last_message_age_s"])
        yield from (uptime, stale, age)


@dataclass
class ExporterHandle:
    """A running exporter; :meth:`stop` shuts the HTTP server down and frees the port."""

    server: WSGIServer
    thread: threading.Thread
    registry: CollectorRegistry
    host: str
    port: int  # the bound port (useful when 0 was asked for)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket. Blocks up to the server's 0.5 s poll interval."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout)

    def __enter__(self) -> ExporterHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_exporter(
    health: FeedHealth, port: int, host: str = "127.0.0.1", clock: Callable[[], float] = time.monotonic
) -> ExporterHandle:
    """Serve ``health`` as Prometheus metrics on ``host:port`` (port 0: any free port) from a
    daemon thread; call ``stop()`` on the returned handle when done."""
    registry = CollectorRegistry()
    registry.register(FeedHealthCollector(health, clock))
    started = start_http_server(port, addr=host, registry=registry)
    if started is None:  # prometheus_client < 0.17 returned nothing; pyproject requires newer
        raise LevibotError("prometheus_client too old: start_http_server returned no server")
    server, thread = started
    return ExporterHandle(server, thread, registry, host, server.server_port)
