"""Prometheus exporter: scrape-time collection from a FeedHealth, own registry, HTTP on 127.0.0.1."""

from __future__ import annotations

import urllib.error
import urllib.request

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from backend.src.data.health import FeedHealth
from backend.src.data.metrics import FeedHealthCollector, start_exporter

NOW = 100.0


def sample_health() -> FeedHealth:
    health = FeedHealth(stale_after_s=5.0)
    health.freshness("BTC/USDT").start(0.0)
    ticker = health.channel("BTC/USDT", "ticker")
    for i in range(1, 11):
        ticker.on_receive()
        ticker.on_data(90.0 + i, latency_s=0.002)
        ticker.on_deliver()
    ticker.on_drop("malformed")
    health.on_disconnect(95.0)
    ticker.on_data(97.5)
    health.channel("ETH/USDT", "swap").on_drop("queue_full", 3)
    health.clock_offset_ms = 250.0
    return health


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``(name, labels) -> value`` of every sample in an exposition text."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(health: FeedHealth, now: float = NOW) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(FeedHealthCollector(health, clock=lambda: now))
    return samples(generate_latest(registry).decode())


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def btc(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    """Key of a sample of BTC's book-ticker channel."""
    return key(name, symbol="BTC/USDT", channel="ticker", **labels)


def test_channel_counters_and_drops_by_reason() -> None:
    got = scrape(sample_health())
    assert got[btc("levibot_md_received_total")] == 10
    assert got[btc("levibot_md_parsed_total")] == 11
    assert got[btc("levibot_md_delivered_total")] == 10
    assert got[btc("levibot_md_reconnects_total")] == 1
    assert got[btc("levibot_md_recoveries_total")] == 1
    assert got[btc("levibot_md_recovery_max_seconds")] == 2.5
    assert got[btc("levibot_md_dropped_total", reason="malformed")] == 1
    eth = key("levibot_md_dropped_total", symbol="ETH/USDT", channel="swap", reason="queue_full")
    assert got[eth] == 3


def test_latency_summary_in_seconds() -> None:
    got = scrape(sample_health())
    p95 = got[btc("levibot_md_parse_latency_seconds", quantile="0.95")]
    assert 0.002 <= p95 <= 0.002 * 1.123
    assert got[btc("levibot_md_parse_latency_seconds_count")] == 10
    assert got[btc("levibot_md_parse_latency_seconds_sum")] == pytest.approx(0.02)
    # ETH's swap channel has no latency samples: count 0, no made-up quantiles
    eth = dict(symbol="ETH/USDT", channel="swap")
    assert got[key("levibot_md_parse_latency_seconds_count", **eth)] == 0
    assert key("levibot_md_parse_latency_seconds", quantile="0.5", **eth) not in got


def test_symbol_gauges_and_clock_offset() -> None:
    got = scrape(sample_health(), now=110.0)
    sym = {"symbol": "BTC/USDT"}
    assert got[key("levibot_md_stale", **sym)] == 1.0  # book ticker silent since 100
    assert got[key("levibot_md_last_message_age_seconds", **sym)] == 10.0
    # down 0..91 (started at 0, first message at 91) and 100..110
    assert got[key("levibot_md_uptime_ratio", **sym)] == pytest.approx(9 / 110)
    assert got[key("levibot_md_clock_offset_seconds")] == 0.25


def test_values_are_read_at_scrape_time() -> None:
    health = sample_health()
    registry = CollectorRegistry()
    registry.register(FeedHealthCollector(health, clock=lambda: NOW))
    before = samples(generate_latest(registry).decode())[btc("levibot_md_received_total")]
    health.channel("BTC/USDT", "ticker").on_receive(5)
    after = samples(generate_latest(registry).decode())[btc("levibot_md_received_total")]
    assert after - before == 5


def test_exporter_serves_on_localhost_and_stops() -> None:
    handle = start_exporter(sample_health(), port=0, clock=lambda: NOW)
    try:
        assert handle.server.server_address[0] == "127.0.0.1" and handle.port > 0
        url = f"http://127.0.0.1:{handle.port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
        assert 'levibot_md_received_total{channel="ticker",symbol="BTC/USDT"} 10.0' in text
        assert all(
            line.startswith("levibot_md_") for line in text.splitlines() if line and not line.startswith("#")
        )
    finally:
        handle.stop()
    assert not handle.thread.is_alive()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=1)
    # its own registry: the process-wide default one never sees the feed
    assert "levibot_md_" not in generate_latest(prometheus_client.REGISTRY).decode()
