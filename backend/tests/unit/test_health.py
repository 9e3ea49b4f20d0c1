"""Feed health: recoveries and drops per channel, the registry, its snapshot.

Time is always an argument, so every scenario below is exact arithmetic, no sleeping.
"""

from __future__ import annotations

import json

import pytest

from backend.src.data.health import ChannelHealth, FeedHealth

from .test_latency import BUCKET_RATIO

# ---- ChannelHealth: recoveries and drops -----------------------------------------------------


def test_recovery_runs_from_disconnect_to_first_data() -> None:
    ch = ChannelHealth()
    ch.on_data(5.0)
    ch.on_disconnect(10.0)
    ch.on_disconnect(12.0)  # a failed reconnect attempt inside the same outage
    assert ch.recovery_summary(14.0)["pending_s"] == 4.0
    ch.on_data(15.5, latency_s=0.002)
    ch.on_data(16.0)  # no pending recovery: nothing to close
    assert ch.reconnects == 2
    assert list(ch.recoveries) == [5.5]
    assert ch.recovery_summary(20.0) == {
        "count": 1,
        "max_s": 5.5,
        "p95_s": 5.5,
        "last_s": 5.5,
        "pending_s": None,
    }


def test_pending_outage_counts_in_the_max() -> None:
    ch = ChannelHealth()
    ch.on_disconnect(0.0)
    ch.on_data(2.0)
    ch.on_disconnect(10.0)
    summary = ch.recovery_summary(40.0)
    assert summary["count"] == 1 and summary["p95_s"] == 2.0
    assert summary["pending_s"] == 30.0 and summary["max_s"] == 30.0


def test_recoveries_are_bounded_but_count_and_max_are_all_time() -> None:
    ch = ChannelHealth(max_recoveries=3)
    t = 0.0
    for duration in (9.0, 1.0, 2.0, 3.0, 4.0):
        ch.on_disconnect(t)
        ch.on_data(t + duration)
        t += 100.0
    assert list(ch.recoveries) == [2.0, 3.0, 4.0]
    summary = ch.recovery_summary(t)
    assert summary["count"] == 5 and summary["max_s"] == 9.0 and summary["last_s"] == 4.0


def test_recovery_p95_is_nearest_rank() -> None:
    ch = ChannelHealth()
    for i in range(1, 21):
        ch.on_disconnect(i * 100.0)
        ch.on_data(i * 100.0 + i)
    assert ch.recovery_summary(5000.0)["p95_s"] == 19.0


def test_drops_by_reason_and_ratio() -> None:
    ch = ChannelHealth()
    ch.on_receive(2000)
    ch.on_drop("malformed")
    ch.on_drop("queue_full", 2)
    snap = ch.snapshot(0.0)
    assert snap["dropped"] == {"malformed": 1, "queue_full": 2}
    assert snap["dropped_total"] == 3 == ch.dropped_total
    assert snap["drop_ratio_pct"] == pytest.approx(0.15)
    assert ChannelHealth().snapshot(0.0)["drop_ratio_pct"] is None


# ---- FeedHealth ------------------------------------------------------------------------------


def busy_feed() -> FeedHealth:
    """Two symbols, three channels, drops, a reconnect and a stale ETH by t=100."""
    health = FeedHealth(stale_after_s=5.0)
    for sym in ("BTC/USDT", "ETH/USDT"):
        health.freshness(sym).start(0.0)
    btc, trades = health.channel("BTC/USDT", "ticker"), health.channel("BTC/USDT", "trades")
    eth = health.channel("ETH/USDT", "ticker")
    for i in range(1, 1001):
        t = i / 10
        btc_silent = 500 < i < 530  # BTC's book ticker reset at 50.0, back at 53.0
        for ch in [c for c, on in ((btc, not btc_silent), (trades, i % 2)) if on]:
            ch.on_receive()
            ch.on_data(t, latency_s=0.0005)
            ch.on_deliver()
        if i == 500:
            btc.on_disconnect(t)
        if t <= 60.0:
            eth.on_receive()
            eth.on_data(t, latency_s=0.004)
    trades.on_drop("queue_full")
    eth.on_drop("malformed", 2)
    health.clock_offset_ms = -12.5
    return health


def test_only_the_freshness_channel_feeds_uptime() -> None:
    health = FeedHealth(stale_after_s=5.0)
    health.freshness("BTC/USDT").start(0.0)
    health.channel("BTC/USDT", "trades").on_data(1.0)
    assert health.freshness("BTC/USDT").last_data_at is None
    health.channel("BTC/USDT", "ticker").on_data(2.0)
    assert health.freshness("BTC/USDT").last_data_at == 2.0
    assert health.freshness("BTC/USDT", threshold_s=1.0).is_stale(3.5)


def test_disconnect_of_one_symbol_leaves_the_others_alone() -> None:
    health = FeedHealth()
    health.channel("BTC/USDT", "ticker")
    health.channel("ETH/USDT", "ticker")
    health.on_disconnect(1.0, "BTC/USDT")
    assert health.channel("BTC/USDT", "ticker").reconnects == 1
    assert health.channel("ETH/USDT", "ticker").reconnects == 0
    health.on_disconnect(2.0)
    assert health.channel("ETH/USDT", "ticker").reconnects == 1


def test_snapshot_is_plain_json() -> None:
    snap = busy_feed().snapshot(100.0)
    assert json.loads(json.dumps(snap, allow_nan=False)) == snap
    assert snap["clock_offset_ms"] == -12.5


def test_snapshot_per_symbol_and_totals() -> None:
    snap = busy_feed().snapshot(100.0)
    btc, eth = snap["symbols"]["BTC/USDT"], snap["symbols"]["ETH/USDT"]
    assert set(btc["channels"]) == {"ticker", "trades"}
    assert btc["uptime_pct"] == 100.0 and not btc["stale"]
    assert btc["channels"]["ticker"]["recoveries"]["max_s"] == 3.0
    assert eth["stale"] and eth["last_message_age_s"] == pytest.approx(40.0)
    assert eth["uptime_pct"] == pytest.approx(60.0)
    assert eth["channels"]["ticker"]["dropped"] == {"malformed": 2}

    totals = snap["totals"]
    assert totals["received"] == totals["parsed"] == totals["delivered"] + 600 == 971 + 500 + 600
    assert totals["dropped"] == 3
    assert totals["drop_ratio_pct"] == pytest.approx(300 / 2071)
    assert totals["latency"]["count"] == 2071
    assert 4.0 <= totals["latency"]["p95_ms"] <= 4.0 * BUCKET_RATIO  # ETH's 4 ms are > 5 % of samples
    assert totals["worst_uptime_pct"] == pytest.approx(60.0)
    assert totals["stale_symbols"] == ["ETH/USDT"]
    assert totals["reconnects"] == 1 and totals["recoveries"] == 1
    assert totals["max_recovery_s"] == 3.0


def test_empty_feed_snapshot() -> None:
    snap = FeedHealth().snapshot(0.0)
    assert snap["symbols"] == {}
    assert snap["totals"]["drop_ratio_pct"] is None and snap["totals"]["worst_uptime_pct"] is None
