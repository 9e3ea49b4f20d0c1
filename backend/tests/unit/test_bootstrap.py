"""The bootstrap's history: only the bars its last ``limit`` minutes are made of are filled."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.src.data.bootstrap import recent
from backend.src.data.gap_filler import fill_minute_bars
from backend.src.market_data import MINUTE_MS

T0 = 1_700_000_040_000


@settings(max_examples=80, deadline=None)
@given(gaps=st.lists(st.integers(1, 40), max_size=400), limit=st.integers(1, 300))
def test_filling_the_recent_bars_gives_the_last_minutes_of_filling_all(gaps: list[int], limit: int) -> None:
    """Sparse histories (an illiquid pair trades every few minutes) spanning many times
    ``limit`` minutes, or fewer: the same last ``limit`` filled bars, values and open times."""
    minute, bars = 0, []
    for i, gap in enumerate(gaps):
        minute += gap
        bars.append([T0 + minute * MINUTE_MS, 1.0 + i, 2.0 + i, 0.5 + i, 1.5 + i, float(gap)])
    kept = recent(bars, limit)
    assert len(kept) <= limit + 1
    assert fill_minute_bars(kept)[-limit:] == fill_minute_bars(bars)[-limit:]
