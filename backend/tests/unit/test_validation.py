"""The record validator: rules one by one, then properties over arbitrary values (hypothesis)."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.src import validation as v
from backend.src.data.live_bars import MINUTE_MS, LiveBars

NOW = 1_767_225_600_000  # 2026-01-01


def book(bid, ask, ts=NOW):
    return {"ts": ts, "bid": bid, "ask": ask, "last": None, "spread": None, "volume": None}


def trade(price, amount=1.0, ts=NOW, side="buy"):
    return {"ts": ts, "price": price, "amount": amount, "side": side}


@pytest.mark.parametrize(
    ("bid", "ask", "ts", "reason"),
    [
        (100.0, 100.5, NOW, None),
        (math.nan, 100.5, NOW, v.BAD_PRICE),
        (100.0, math.inf, NOW, v.BAD_PRICE),
        (-5.0, 100.5, NOW, v.BAD_PRICE),
        (0.0, 100.5, NOW, v.BAD_PRICE),
        (101.0, 100.5, NOW, v.CROSSED),
        (100.5, 100.5, NOW, v.CROSSED),
        ("100", 100.5, NOW, v.NOT_NUMBER),
        (100.0, 100.5, NOW + v.MAX_FUTURE_MS + 1, v.FUTURE),
        (100.0, 100.5, NOW + v.MAX_FUTURE_MS, None),
        (100.0, 100.5, NOW - v.MAX_AGE_MS - 1, v.PAST),
        (100.0, 100.5, 4_102_444_800_000, v.FUTURE),
        (100.0, 100.5, None, v.NOT_NUMBER),
    ],
)
def test_book_rules(bid, ask, ts, reason) -> None:
    assert v.check_book(book(bid, ask, ts), NOW) == reason


@pytest.mark.parametrize(
    ("price", "amount", "ts", "reason"),
    [
        (100.0, 0.5, NOW, None),
        (0.0, 0.5, NOW, v.BAD_PRICE),
        (-5.0, 0.5, NOW, v.BAD_PRICE),
        (math.nan, 0.5, NOW, v.BAD_PRICE),
        (100.0, 0.0, NOW, v.BAD_SIZE),
        (100.0, -1.0, NOW, v.BAD_SIZE),
        (100.0, math.inf, NOW, v.BAD_SIZE),
        (100.0, 0.5, 4_102_444_800_000, v.FUTURE),
        (100.0, 0.5, 0, v.PAST),
        (None, 0.5, NOW, v.NOT_NUMBER),
    ],
)
def test_trade_rules(price, amount, ts, reason) -> None:
    assert v.check_trade(trade(price, amount, ts), NOW) == reason


@pytest.mark.parametrize(
    ("fields", "now", "reason"),
    [
        ({"funding": 0.0001, "oi": 10.0, "oi_contracts": 1e5}, NOW, None),
        ({"funding": -0.0003, "oi": 0.0}, NOW, None),  # shorts pay longs: ordinary
        ({"funding": None, "oi": None}, NOW, None),  # absent: keeps the old value
        ({"funding": 0.5}, NOW, v.BAD_FUNDING),
        ({"funding": math.nan}, NOW, v.BAD_FUNDING),
        ({"funding": "0.0001"}, NOW, v.BAD_FUNDING),
        ({"oi": -5.0}, NOW, v.BAD_OI),
        ({"oi_contracts": math.inf}, NOW, v.BAD_OI),
        ({"mark": 0.0}, NOW, v.BAD_PRICE),
        ({"ts": NOW + 3_600_000}, NOW, v.FUTURE),
        ({"ts": NOW + 3_600_000}, None, None),  # a REST snapshot: no time window
    ],
)
def test_swap_rules(fields, now, reason) -> None:
    rec = {"ts": NOW, "funding": None, "oi": None, "oi_contracts": None, "mark": None, "index": None}
    assert v.check_swap({**rec, **fields}, now) == reason


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ([NOW, 10.0, 12.0, 9.0, 11.0, 5.0], None),
        ([NOW, 10.0, 10.0, 10.0, 10.0, 0.0], None),
        ([NOW, 10.0, 12.0, 9.0, math.nan, 5.0], v.BAD_BAR),
        ([NOW, 10.0, 12.0, 9.0, 13.0, 5.0], v.BAD_BAR),  # close above the high
        ([NOW, 10.0, 12.0, -1.0, 11.0, 5.0], v.BAD_BAR),
        ([NOW, 10.0, 12.0, 9.0, 11.0, -5.0], v.BAD_BAR),
        ([NOW, 10.0, 12.0, 9.0, None, 5.0], v.NOT_NUMBER),
        ([NOW, 10.0, 12.0], v.NOT_NUMBER),
    ],
)
def test_bar_rules(row, reason) -> None:
    assert v.check_bar(row) == reason


def test_stats_keep_what_is_possible() -> None:
    assert v.clean_stats({"ts": 1, "last": 5.0, "volume": 0.0}) == (
        {"ts": 1, "last": 5.0, "volume": 0.0},
        None,
    )
    clean, reason = v.clean_stats({"ts": 1, "last": math.nan, "volume": 3.0})
    assert clean == {"ts": 1, "last": None, "volume": 3.0} and reason == v.BAD_PRICE
    clean, reason = v.clean_stats({"ts": 1, "last": 5.0, "volume": -1.0})
    assert clean["volume"] is None and reason == v.BAD_SIZE


def test_duplicates_are_counted_once_across_batches_and_within_one() -> None:
    gate = v.TradeGate()
    a, b = trade(100.0, 1.0, NOW), trade(100.0, 1.0, NOW + 1)
    assert gate.admit([a, b], NOW) == ([a, b], [])
    assert gate.admit([dict(a), dict(b), dict(a)], NOW) == (
        [],
        [(v.DUPLICATE, a), (v.DUPLICATE, b), (v.DUPLICATE, a)],
    )
    sell = trade(100.0, 1.0, NOW, side="sell")
    assert gate.admit([sell], NOW) == ([sell], [])


def test_the_gate_drops_impossible_trades_with_their_reason_and_admits_the_rest() -> None:
    gate = v.TradeGate()
    good, free, future = trade(100.0, 1.0, NOW), trade(0.0, 1.0, NOW), trade(100.0, 1.0, 4_102_444_800_000)
    text = {**trade(100.0, 1.0, NOW + 2), "price": "100"}
    assert gate.admit([free, good, future, text], NOW) == (
        [good],
        [(v.BAD_PRICE, free), (v.FUTURE, future), (v.NOT_NUMBER, text)],
    )
    assert gate.admit([good], NOW) == ([], [(v.DUPLICATE, good)])  # only admitted ones remembered


def test_a_late_trade_is_looked_up_not_assumed_new_or_seen() -> None:
    """Trades older than the newest admitted one: a repeat is a duplicate, a trade never seen
    (a late delivery) passes."""
    gate = v.TradeGate()
    early, late_news, newest = trade(100.0, 1.0, NOW), trade(101.0, 1.0, NOW + 1), trade(102.0, 1.0, NOW + 9)
    assert gate.admit([early, newest], NOW) == ([early, newest], [])
    assert gate.admit([dict(early), late_news], NOW) == ([late_news], [(v.DUPLICATE, early)])
    assert gate.admit([dict(late_news)], NOW) == ([], [(v.DUPLICATE, late_news)])


def test_fills_sharing_a_millisecond_across_pushes_are_told_apart() -> None:
    """One order's fills share a millisecond and may straddle two pushes; more of them than
    the gate keeps per millisecond are still matched (in the ring)."""
    gate = v.TradeGate(max_keys=4)
    fills = [trade(100.0 + i, 1.0, NOW) for i in range(6)]
    assert gate.admit(fills[:3], NOW) == (fills[:3], [])
    assert gate.admit(fills[3:], NOW) == (fills[3:], [])
    assert gate.admit([dict(t) for t in fills[2:]], NOW) == ([], [(v.DUPLICATE, t) for t in fills[2:]])


def test_duplicate_memory_is_bounded_and_keeps_at_least_the_last_max_keys() -> None:
    gate = v.TradeGate(max_keys=100)
    old = trade(100.0, 1.0, NOW)
    gate.admit([old], NOW)
    recent = [trade(100.0 + i, 1.0, NOW + 5_000) for i in range(1, 501)]
    for t in recent:  # one push each, as a quiet stream sends them
        gate.admit([t], NOW)
        assert len(gate) <= 100
    repeated = [dict(t) for t in recent[-100:]]
    assert gate.admit(repeated, NOW) == ([], [(v.DUPLICATE, t) for t in repeated])
    assert gate.admit([old], NOW) == ([old], [])  # long forgotten


def test_forward_fill_after_a_far_trade_is_bounded_by_the_ring() -> None:
    """A trade a year ahead costs at most the ring's capacity in synthetic bars."""
    bars = LiveBars([[NOW - MINUTE_MS, 1.0, 1.0, 1.0, 1.0, 1.0]], max_bars=1500)
    start = time.perf_counter()
    closed = bars.add_trade(NOW + 365 * 24 * 60 * MINUTE_MS, 2.0, 1.0)
    assert time.perf_counter() - start < 1.0
    assert len(closed) <= bars.closed.capacity
    assert len(bars.closed) == 1500 and bars.rolling_volume() == 1.0  # only the new trade's


finite = st.floats(allow_nan=False, allow_infinity=False)
anything = st.one_of(st.none(), st.floats(), st.integers(-(2**70), 2**70), st.text(max_size=5), st.booleans())


@given(bid=anything, ask=anything, ts=anything)
def test_an_accepted_book_is_always_possible(bid, ask, ts) -> None:
    if v.check_book(book(bid, ask, ts), NOW) is None:
        assert isinstance(bid, int | float) and isinstance(ask, int | float)
        assert 0 < bid < ask and math.isfinite(ask)
        assert NOW - v.MAX_AGE_MS <= ts <= NOW + v.MAX_FUTURE_MS


@given(price=anything, amount=anything, ts=anything)
def test_an_accepted_trade_is_always_possible(price, amount, ts) -> None:
    admitted, _ = v.TradeGate().admit([trade(price, amount, ts)], NOW)
    assert (v.check_trade(trade(price, amount, ts), NOW) is None) == bool(admitted)  # one rule
    if admitted:
        assert 0 < price and math.isfinite(price) and 0 < amount and math.isfinite(amount)
        assert NOW - v.MAX_AGE_MS <= ts <= NOW + v.MAX_FUTURE_MS


@given(funding=anything, oi=anything, ts=anything)
def test_an_accepted_swap_record_is_always_possible(funding, oi, ts) -> None:
    rec = {"ts": ts, "funding": funding, "oi": oi, "oi_contracts": None, "mark": None}
    if v.check_swap(rec, NOW) is None:
        assert funding is None or (math.isfinite(funding) and abs(funding) <= v.MAX_ABS_FUNDING)
        assert oi is None or (math.isfinite(oi) and oi >= 0)


@given(row=st.lists(anything, min_size=6, max_size=6))
def test_an_accepted_bar_is_always_possible(row) -> None:
    if v.check_bar(row) is None:
        _, o, h, low, c, vol = row
        assert all(math.isfinite(x) for x in (o, h, low, c, vol))
        assert 0 < low <= min(o, c) <= max(o, c) <= h and vol >= 0


@given(bid=finite.filter(lambda x: x > 0), spread=finite.filter(lambda x: x > 0))
def test_every_possible_book_is_accepted(bid, spread) -> None:
    ask = bid + spread
    if ask > bid and math.isfinite(ask):
        assert v.check_book(book(bid, ask), NOW) is None


@given(value=anything)
def test_validators_never_raise(value) -> None:
    v.check_book(book(value, value, value), NOW)
    v.check_trade(trade(value, value, value), NOW)
    v.check_swap({"ts": value, "funding": value, "oi": value, "mark": value}, NOW)
    v.check_bar([value] * 6)
    v.clean_stats({"last": value, "volume": value})
