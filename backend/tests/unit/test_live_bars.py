from __future__ import annotations

import pytest
from hypothesis import example, given, settings
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


def test_the_exchange_clock_closes_bars_without_a_trade() -> None:
    """A quiet symbol's bars close when the clock passes their minute, the same bars a later
    trade would have closed; a trade in the minute already closed is not folded in."""
    bars = LiveBars([[T0 - MINUTE_MS, 9, 9, 9, 9, 1]])
    bars.add_trade(T0 + 1_000, 10.0, 1.0)
    bars.close_until(T0)  # the forming minute has not ended: nothing closes
    assert bars.forming is not None and bars.last_closed_open == T0 - MINUTE_MS
    bars.close_until(T0 + 3 * MINUTE_MS)
    assert bars.forming is None
    assert list(bars.closed)[-3:] == [
        [T0, 10.0, 10.0, 10.0, 10.0, 1.0],
        [T0 + MINUTE_MS, 10.0, 10.0, 10.0, 10.0, 0.0],
        [T0 + 2 * MINUTE_MS, 10.0, 10.0, 10.0, 10.0, 0.0],
    ]
    assert bars.synthetic == {T0 + MINUTE_MS, T0 + 2 * MINUTE_MS}
    bars.add_trade(T0 + 2 * MINUTE_MS + 5, 99.0, 1.0)  # its minute is closed: REST backfill owns it
    assert bars.forming is None and bars.closed[-1][4] == 10.0
    bars.add_trade(T0 + 3 * MINUTE_MS + 5, 11.0, 1.0)
    assert bars.forming == [T0 + 3 * MINUTE_MS, 11.0, 11.0, 11.0, 11.0, 1.0]

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


def rebuilt_merge(
    history: list[tuple[list[float], bool]], exchange: list[list[float]], first: int, last: int
) -> tuple[list[tuple[list[float], bool]], int]:
    """The merge as a rebuild of the whole history (what the ring's truncation replaces)."""
    by_ts = {int(b[0]): [int(b[0]), *map(float, b[1:6])] for b in exchange if first <= b[0] <= last}
    before = [(b, s) for b, s in history if b[0] < first]
    old = {b[0]: b for b, _ in history if first <= b[0] <= last}
    merged, changed = list(before), 0
    prev_close = before[-1][0][4] if before else None
    for ts in range(first, last + MINUTE_MS, MINUTE_MS):
        b = by_ts.get(ts)
        if b is None and prev_close is None:
            continue
        merged.append((b or [ts, *[prev_close] * 4, 0.0], b is None))
        changed += old.get(ts) != merged[-1][0]
        prev_close = merged[-1][0][4]
    return merged + [(b, s) for b, s in history if b[0] > last], changed


@settings(max_examples=60, deadline=None)
@example(gaps=[(1, False)] * 41, exchange_minutes=set(), window=(2, 0))  # carries minute 1's close
@example(gaps=[(1, False)] * 41, exchange_minutes=set(), window=(0, 0))  # minute 1 in the volume
@given(
    gaps=st.lists(st.tuples(st.integers(1, 3), st.booleans()), min_size=0, max_size=60),
    exchange_minutes=st.sets(st.integers(-5, 70), max_size=40),
    window=st.tuples(st.integers(-5, 65), st.integers(0, 12)),
)
def test_merge_equals_a_rebuild_of_the_whole_history(
    gaps: list[tuple[int, bool]], exchange_minutes: set[int], window: tuple[int, int]
) -> None:
    bars, history, minute = LiveBars(max_bars=40), [], 0
    for gap, synthetic in gaps:
        minute += gap
        b = [T0 + minute * MINUTE_MS, float(minute), minute + 1.0, minute - 1.0, minute + 0.5, float(gap)]
        bars.closed.append(b, synthetic)
        history.append((b, synthetic))
    first, last = T0 + window[0] * MINUTE_MS, T0 + (window[0] + window[1]) * MINUTE_MS
    exchange = [[T0 + m * MINUTE_MS, 7.0, 8.0, 6.0, 7.5, 2.0] for m in sorted(exchange_minutes)]
    # The ring shows the last 40 bars but stores a day of them for the 24 h volume (its
    # capacity): the merge carries forward from, and the volume counts, bars older than those
    # 40. At most 180 minutes here, so the rebuild is over the whole history.
    expected, changed = rebuilt_merge(history, exchange, first, last)
    assert bars.merge_exchange_bars(exchange, first, last) == changed
    assert [(b, bars.closed.is_synthetic(i)) for i, b in enumerate(bars.closed)] == expected[-40:]
    assert bars.rolling_volume() == pytest.approx(sum(b[5] for b, _ in expected))
