"""MexcAdapter websocket streams against the simulator: real ccxt.pro, real protobuf frames."""

from __future__ import annotations

import asyncio
import time

import pytest

from backend.src.adapters.mexc_ccxt import MexcAdapter, MexcConfig
from backend.src.errors import UnknownSymbolError
from backend.src.sim.server import MexcSimulator

from .streams import Collector


@pytest.mark.asyncio
async def test_ticker_carries_book_last_and_volume_in_exchange_time(sim: MexcSimulator, make_adapter) -> None:
    sim.faults.skew_clock(-5_000)  # the exchange runs 5 s behind us: ts must follow it
    adapter: MexcAdapter = make_adapter()
    ticks = Collector(adapter.stream_ticker("BTC/USDT"))
    trades = Collector(adapter.stream_trades("BTC/USDT"))
    try:
        await trades.wait_for(3)
        await ticks.wait_for(len(ticks.records) + 3)
    finally:
        await ticks.stop()
        await trades.stop()
    rec = ticks.records[-1]
    assert set(rec) == {"ts", "bid", "ask", "last", "spread", "volume", "rx"}
    assert 0 < time.perf_counter() - rec["rx"] < 5
    assert rec["bid"] < rec["ask"] and rec["spread"] == pytest.approx(rec["ask"] - rec["bid"])
    assert rec["volume"] and rec["volume"] > 0  # MEXC's 24 h volume (REST ticker)
    assert rec["last"] == trades.records[-1]["price"] or rec["last"] in {t["price"] for t in trades.records}
    assert abs(rec["ts"] - sim.clock.now_ms()) < 1_000
    assert abs(rec["ts"] - time.time() * 1000) > 3_000


@pytest.mark.asyncio
async def test_many_symbols_share_one_24h_stats_request(
    sim: MexcSimulator, make_adapter
) -> None:
    """Per-symbol stats requests do not scale (2000 symbols would exceed MEXC's 50/s): above
    the threshold one all-pairs request refreshes every streamed symbol."""
    symbols = ["BTC/USDT", "ETH/USDT", "DOGE/USDT"]
    adapter: MexcAdapter = make_adapter(symbols, config=MexcConfig(bulk_stats_above=1))
    streams = [Collector(adapter.stream_ticker(s)) for s in symbols]
    try:
        for stream in streams:
            await stream.wait_for(1)
        for stream in streams:  # the first records may predate the refresh
            await stream.wait_until(lambda r: r["volume"] is not None and r["volume"] > 0)
    finally:
        for stream in streams:
            await stream.stop()
    stats_queries = [q for path, q in sim.recorder.rest_log if path == "/api/v3/ticker/24hr"]
    assert stats_queries and all("symbol" not in q for q in stats_queries)
    assert len(stats_queries) <= 2  # one refresh (plus at most one racing the first cache fill)


@pytest.mark.asyncio
async def test_trades_are_all_delivered(sim: MexcSimulator, make_adapter) -> None:
    adapter: MexcAdapter = make_adapter()
    trades = Collector(adapter.stream_trades("ETH/USDT"))
    try:
        await trades.wait_for(20)
        sim.faults.silence(path="/ws")
        await asyncio.sleep(0.3)
        sent = sim.recorder.trades_sent["ETHUSDT"]
        await trades.wait_for(sent, timeout=2.0)
    finally:
        await trades.stop()
    assert len(trades.records) == sent
    assert all(t["side"] in {"buy", "sell"} and t["amount"] > 0 for t in trades.records)
    stamps = [t["ts"] for t in trades.records]
    assert stamps == sorted(stamps)


@pytest.mark.asyncio
async def test_tcp_drop_recovers_every_stream_on_the_connection(sim: MexcSimulator, make_adapter) -> None:
    adapter: MexcAdapter = make_adapter()
    ticks = Collector(adapter.stream_ticker("BTC/USDT"))
    trades = Collector(adapter.stream_trades("BTC/USDT"))
    try:
        await ticks.wait_for(2)
        await trades.wait_for(2)
        t0 = time.monotonic()
        assert sim.faults.drop_ws("/ws") == 1
        ticker_recovery = await ticks.next_after(t0 + 0.05)
        trades_recovery = await trades.next_after(t0 + 0.05)
    finally:
        await ticks.stop()
        await trades.stop()
    assert ticker_recovery < 2.0 and trades_recovery < 2.0
    assert adapter.counters[("BTC/USDT ticker", "retry.NetworkError")] >= 1
    assert adapter.counters[("BTC/USDT trades", "retry.NetworkError")] >= 1


@pytest.mark.asyncio
async def test_silent_but_ponging_stream_is_reset_by_the_watchdog(sim: MexcSimulator, make_adapter) -> None:
    adapter: MexcAdapter = make_adapter(stale_after={"ticker": 0.5})
    ticks = Collector(adapter.stream_ticker("BTC/USDT"))
    try:
        await ticks.wait_for(2)
        sim.faults.silence(path="/ws")
        await asyncio.sleep(1.2)
        assert adapter.counters[("BTC/USDT ticker", "stale")] >= 1
        connections_before = len(sim.recorder.connections)
        t0 = time.monotonic()
        sim.faults.silence(False)
        recovery = await ticks.next_after(t0)
    finally:
        await ticks.stop()
    assert recovery < 2.0
    assert connections_before >= 2  # the silent connection was replaced by a new one


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["garbage", "truncated", "invalid_json"])
async def test_malformed_frame_costs_one_message_not_the_connection(sim, make_adapter, kind) -> None:
    adapter: MexcAdapter = make_adapter()
    ticks = Collector(adapter.stream_ticker("BTC/USDT"))
    try:
        await ticks.wait_for(2)
        t0 = time.monotonic()
        assert await sim.faults.send_malformed(kind, path="/ws") == 1
        gap = await ticks.next_after(t0 + 0.05, timeout=3.0)  # ccxt alone would stall ~20 s
    finally:
        await ticks.stop()
    ws = await adapter.ws()
    assert sum(ws.malformed.values()) == 1
    assert gap < 1.0
    assert not adapter.counters  # no reconnect was needed


@pytest.mark.asyncio
async def test_refused_connections_recover_within_seconds(sim: MexcSimulator, make_adapter) -> None:
    adapter: MexcAdapter = make_adapter()
    ticks = Collector(adapter.stream_ticker("BTC/USDT"))
    try:
        await ticks.wait_for(2)
        sim.faults.refuse_connections(1.5)
        t0 = time.monotonic()
        outage = await ticks.next_after(t0 + 0.1, timeout=10.0)
    finally:
        await ticks.stop()
    assert 1.4 < outage < 1.5 + 2.0  # back within the backoff cap of the server's return
    assert sum(v for (name, _), v in adapter.counters.items() if name == "BTC/USDT ticker") >= 1


@pytest.mark.asyncio
async def test_swap_stream_funding_and_open_interest(make_adapter) -> None:
    adapter: MexcAdapter = make_adapter(["BTC/USDT", "DOGE/USDT"])
    swap = Collector(adapter.stream_swap_ticker("BTC/USDT"))
    try:
        await swap.wait_for(2)
    finally:
        await swap.stop()
    rec = swap.records[-1]
    assert rec["funding"] is not None and rec["oi"] == pytest.approx(rec["oi_contracts"] * 0.0001)
    with pytest.raises(ValueError, match="no USDT perpetual"):
        await anext(adapter.stream_swap_ticker("DOGE/USDT"))


@pytest.mark.asyncio
@pytest.mark.parametrize("symbol", ["NOPE/USDT", "OLD/USDT"])
async def test_stream_of_unknown_symbol_fails_at_once(make_adapter, symbol: str) -> None:
    adapter: MexcAdapter = make_adapter([symbol])
    t0 = time.monotonic()
    with pytest.raises(UnknownSymbolError, match=symbol.replace("/", ".")):
        await anext(adapter.stream_trades(symbol))
    assert time.monotonic() - t0 < 2.0 and not adapter.counters
