from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.src.data.live_bars import DAY_MINUTES, MINUTE_MS, LiveBars

T0 = 1_700_000_040_000  # a minute boundary


def test_trades_build_ohlcv_of_their_minute() -> None:
    bars = LiveBars([[T0 - MINUTE_MS, 9, 9, 9, 9, 1]])
    assert bars.add_trade(T0 + 1_000, 10.0, 1.0) == []
    bars.add_trade(T0 + 2_000, 12.0, 0.5)
    bars.add_trade(T0 + 3_000, 8.0, 0.25)
    bars.add_trade(T0 + 59_999, 11.0, 2.0)
    assert bars.forming == [T0, 10.0, 12.0, 8.0, 11.0, 3.75]
    closed = bars.add_trade(T0 + MINUTE_MS, 11.5, 1.0)
    assert closed == [[T0, 10.0, 12.0, 8.0, 11.0, 3.75]]
    assert bars.last_close == 11.5


def test_quiet_minutes_become_synthetic_bars() -> None:
    bars = LiveBars([[T0, 1, 2, 0.5, 1.5, 10]])
    closed = bars.add_trade(T0 + 3 * MINUTE_MS + 5, 2.0, 1.0)
    assert closed == [
        [T0 + MINUTE_MS, 1.5, 1.5, 1.5, 1.5, 0.0],
        [T0 + 2 * MINUTE_MS, 1.5, 1.5, 1.5, 1.5, 0.0],
    ]
    assert bars.synthetic == {T0 + MINUTE_MS, T0 + 2 * MINUTE_MS}


def test_late_trade_for_a_closed_minute_is_not_folded_in() -> None:
    bars = LiveBars([[T0, 1, 1, 1, 1, 1]])
    bars.add_trade(T0 + MINUTE_MS, 2.0, 1.0)
    bars.add_trade(T0 + 5, 99.0, 1.0)  # belongs to a closed bar: REST backfill owns it
    assert bars.closed[-1] == [T0, 1.0, 1.0, 1.0, 1.0, 1.0] and bars.forming[2] == 2.0


def test_rolling_volume_is_last_1440_closed_bars_plus_forming() -> None:
    history = [[T0 + i * MINUTE_MS, 1, 1, 1, 1, 1.0] for i in range(1500)]
    bars = LiveBars(history)
    assert bars.rolling_volume() == DAY_MINUTES
    bars.add_trade(T0 + 1500 * MINUTE_MS, 1.0, 0.5)
    assert bars.rolling_volume() == DAY_MINUTES + 0.5
    bars.add_trade(T0 + 1501 * MINUTE_MS, 1.0, 0.25)  # closes the 0.5 bar, evicts the oldest
    assert bars.rolling_volume() == pytest.approx(DAY_MINUTES - 1 + 0.5 + 0.25)


def test_closed_bars_are_bounded() -> None:
    bars = LiveBars([[T0 + i * MINUTE_MS, 1, 1, 1, 1, 1] for i in range(10)], max_bars=4)
    assert len(bars.closed) == 4 and bars.closed[0][0] == T0 + 6 * MINUTE_MS


@given(st.lists(st.tuples(st.integers(0, 3 * DAY_MINUTES * MINUTE_MS), st.floats(0, 100)), max_size=300))
def test_rolling_volume_matches_a_recount(trades: list[tuple[int, float]]) -> None:
    bars = LiveBars([[T0 - MINUTE_MS, 1, 1, 1, 1, 0.0]], max_bars=5000)
    for offset, amount in sorted(trades):
        bars.add_trade(T0 + offset, 1.0, amount)
    closed = list(bars.closed)[-DAY_MINUTES:]
    expected = sum(b[5] for b in closed) + (bars.forming[5] if bars.forming else 0.0)
    assert bars.rolling_volume() == pytest.approx(expected, abs=1e-6)


def test_exchange_bars_replace_outage_bars_and_fill_only_true_holes() -> None:
    bars = LiveBars([[T0, 1, 1, 1, 1, 1.0]])
    bars.add_trade(T0 + MINUTE_MS + 1, 2.0, 0.1)  # partial bar: trades before the outage only
    bars.add_trade(T0 + 5 * MINUTE_MS + 1, 3.0, 0.1)  # after the outage: minutes 2-4 forward-filled
    assert bars.synthetic == {T0 + 2 * MINUTE_MS, T0 + 3 * MINUTE_MS, T0 + 4 * MINUTE_MS}
    exchange = [
        [T0 + MINUTE_MS, 2.0, 2.5, 1.5, 2.2, 4.0],
        [T0 + 2 * MINUTE_MS, 2.2, 2.3, 2.1, 2.25, 1.0],
        [T0 + 4 * MINUTE_MS, 2.5, 2.9, 2.4, 2.8, 2.0],  # minute 3 traded nowhere: stays synthetic
    ]
    changed = bars.merge_exchange_bars(exchange, T0 + MINUTE_MS, T0 + 4 * MINUTE_MS)
    assert changed == 4
    assert [b[0] for b in bars.closed] == [T0 + k * MINUTE_MS for k in range(5)]
    assert bars.closed[3] == [T0 + 3 * MINUTE_MS, 2.25, 2.25, 2.25, 2.25, 0.0]
    assert bars.synthetic == {T0 + 3 * MINUTE_MS}
    assert bars.rolling_volume() == pytest.approx(1.0 + 4.0 + 1.0 + 0.0 + 2.0 + 0.1)
    assert bars.forming[0] == T0 + 5 * MINUTE_MS
