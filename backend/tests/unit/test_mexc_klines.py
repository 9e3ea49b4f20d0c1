from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.src.adapters import mexc_klines as k

MIN = 60_000


def test_1500_bars_need_three_pages_of_500() -> None:
    end = 1_700_000_040_000 // MIN * MIN
    pages = k.plan_pages(end, 1500, MIN)
    assert [n for _, _, n in pages] == [500, 500, 500]
    assert pages[0][0] == end - 1499 * MIN and pages[-1][1] == end
    for (_, until, _), (since, _, _) in itertools.pairwise(pages):
        assert since == until + MIN  # contiguous, no overlap


@given(count=st.integers(1, 5000), page=st.integers(1, 600))
def test_pages_cover_every_slot_exactly_once(count: int, page: int) -> None:
    end = 10_000 * MIN
    slots = []
    for since, until, n in k.plan_pages(end, count, MIN, page):
        assert n <= page and until == since + (n - 1) * MIN
        slots.extend(range(since, until + 1, MIN))
    assert slots == list(range(end - (count - 1) * MIN, end + 1, MIN))


def test_last_closed_bar_excludes_the_forming_one() -> None:
    now = 1_700_000_000_000  # 20 s into a minute
    assert k.last_closed_open(now, "1m") == now // MIN * MIN - MIN
    assert k.last_closed_open(now // MIN * MIN, "1m") == now // MIN * MIN - MIN


def test_weekly_bars_open_on_monday() -> None:
    # 2024-03-13 (a Wednesday) → the week opened Monday 2024-03-11 00:00 UTC
    assert k.bar_open(1_710_327_661_000, "1w") == 1_710_115_200_000


@pytest.mark.parametrize("tf", ["8h", "2m", "1y", ""])
def test_unsupported_timeframe_is_a_clear_error(tf: str) -> None:
    with pytest.raises(ValueError, match="not offered by MEXC spot"):
        k.timeframe_ms(tf)


def test_merge_keeps_window_sorts_dedups_latest_wins() -> None:
    rows = [
        [3 * MIN, "1", "1", "1", "1", "1"],
        [1 * MIN, 1, 1, 1, 1, 1],
        [3 * MIN, 2, 2, 2, 2, 2],  # a newer version of the same bar
        [9 * MIN, 5, 5, 5, 5, 5],  # outside the window (forming bar)
        [0, 0, 0, 0, 0, 0],  # before the window
    ]
    assert k.merge_closed(rows, MIN, 4 * MIN) == [
        [MIN, 1.0, 1.0, 1.0, 1.0, 1.0],
        [3 * MIN, 2.0, 2.0, 2.0, 2.0, 2.0],
    ]


def test_a_short_page_with_rows_outside_its_window_is_misplaced() -> None:
    from backend.src.adapters.mexc_klines import misplaced

    rows = [[t, 1, 1, 1, 1, 1] for t in range(0, 10 * 60_000, 60_000)]
    assert not misplaced(rows, 0, 9 * 60_000, 10)  # complete
    assert not misplaced(rows[:5], 0, 9 * 60_000, 10)  # short, all inside: an illiquid market
    assert misplaced(rows, 5 * 60_000, 14 * 60_000, 10)  # short and half of it elsewhere
    assert not misplaced([*rows, [99 * 60_000, 1, 1, 1, 1, 1]], 0, 9 * 60_000, 10)  # complete + extra
