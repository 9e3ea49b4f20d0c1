"""Kline pages MEXC answers with another window than the one asked for (recorded quirk)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from backend.src.sim.server import MexcSimulator

from .test_adapter_rest import MIN, kline_requests

SHIFT_MS = 41 * 3600 * 1000  # spot_klines_btcusdt_5m_limit100: rows from ~41 h before startTime


def shifted(rows: list[list[Any]]) -> list[list[Any]]:
    """The same page, 41 h earlier: what MEXC once sent for startTime + endTime + limit."""
    return [[row[0] - SHIFT_MS, *row[1:6], row[6] - SHIFT_MS, *row[7:]] for row in rows]


def exchange_close(sim: MexcSimulator, minute: int) -> float:
    return sim.model.bar("BTC/USDT", minute).close / sim.model.get("BTC/USDT").price_scale


@pytest.mark.asyncio
async def test_a_misplaced_page_is_asked_again_and_no_bar_goes_missing(sim: MexcSimulator, make_adapter):
    adapter = make_adapter()
    sim.faults.tamper_rest("/api/v3/klines", shifted, count=1)
    bars = await adapter.fetch_ohlcv("BTC/USDT", "1m", 1500)
    stamps = [b[0] for b in bars]
    assert len(bars) == 1500 and all(b - a == MIN for a, b in itertools.pairwise(stamps))
    assert all(b[4] == pytest.approx(exchange_close(sim, b[0])) for b in bars[::50])
    assert adapter.counters[("BTC/USDT klines", "misplaced_page")] == 1
    requests = kline_requests(sim)
    assert len(requests) == 4  # three pages, one of them twice
    assert sum("limit" not in q for q in requests) == 1  # asked again without the limit


@pytest.mark.asyncio
async def test_a_page_misplaced_twice_is_counted_and_logged(sim: MexcSimulator, make_adapter, caplog) -> None:
    adapter = make_adapter()
    sim.faults.tamper_rest("/api/v3/klines", shifted, count=2)
    bars = await adapter.fetch_ohlcv("BTC/USDT", "1m", 500)
    assert adapter.counters[("BTC/USDT klines", "short_page")] == 1
    assert "misplaced twice" in caplog.text
    # the shifted rows never pass for bars of the window asked for
    assert all(b[4] == pytest.approx(exchange_close(sim, b[0])) for b in bars)
