"""``HistoryQueue``: histories waiting for the bus, packed, one per symbol, never dropped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.src.bus.history_queue import HistoryQueue
from backend.src.market_data import MINUTE_MS, Bar, make_bar

PRICES = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False, allow_infinity=False)


@st.composite
def histories(draw: st.DrawFn, symbol: str = "BTC/USDT") -> list[Bar]:
    first = draw(st.integers(0, 2**40)) * MINUTE_MS
    n = draw(st.integers(0, 40))
    return [
        make_bar(
            symbol,
            [first + i * MINUTE_MS, *(draw(PRICES) for _ in range(4)), draw(st.floats(0, 1e15))],
            draw(st.booleans()),
            draw(st.booleans()),
        )
        for i in range(n)
    ]


@given(histories())
def test_a_history_comes_back_exactly_as_given(bars: list[Bar]) -> None:
    queue = HistoryQueue()
    queue.put("BTC/USDT", bars)
    assert (len(queue), queue.bars) == (1, len(bars))
    assert queue.take("BTC/USDT") == bars  # every field, ts an int, flags bools
    assert (len(queue), queue.bars, queue.take("BTC/USDT")) == (0, 0, None)


def bars_of(symbol: str, n: int, close: float = 1.0) -> list[Bar]:
    return [make_bar(symbol, [i * MINUTE_MS, close, close, close, close, 0.0], True) for i in range(n)]


def test_histories_wait_in_order_and_a_newer_one_replaces_the_older_in_its_place() -> None:
    queue = HistoryQueue()
    queue.put("A/USDT", bars_of("A/USDT", 3))
    queue.put("B/USDT", bars_of("B/USDT", 2))
    queue.put("A/USDT", bars_of("A/USDT", 5, close=2.0))
    assert (len(queue), queue.bars, queue.replaced) == (2, 7, 1)
    assert "A/USDT" in queue and "C/USDT" not in queue
    assert queue.take_oldest() == ("A/USDT", bars_of("A/USDT", 5, close=2.0))
    assert queue.take_oldest() == ("B/USDT", bars_of("B/USDT", 2))
    assert queue.take_oldest() is None and queue.bars == 0
