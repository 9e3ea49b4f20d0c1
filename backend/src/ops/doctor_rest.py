"""The doctor's REST checks: markets, clock, the kline assumptions and the swap ticker's fields.

Why these assumptions are checked at all: the adapter's paging, its forming-bar filter and
its funding/open-interest parsing rely on what MEXC's REST API returns today (page cap, window
bounds, which kline is still forming, ``fundingRate``/``holdVol``); MEXC can change any of it.
Each check measures through the library's own adapter, and reads raw rows through ccxt's
implicit API where ccxt's parsing would hide the field in question.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from ..adapters import mexc_klines as klines
from ..adapters.mexc_ccxt import MexcAdapter
from ..adapters.mexc_parsing import parse_swap_ticker
from ..market_data import MINUTE_MS
from .doctor_model import MAX_FUNDING, PAGE_CAP, CheckSession, Outcome, Probe, Status


def _hhmm(ms: int) -> str:
    return time.strftime("%H:%M", time.gmtime(ms / 1000))


async def raw_klines(session: CheckSession, symbol: str, timeframe: str, **params: int) -> list[list[Any]]:
    """``GET /api/v3/klines`` through ccxt's implicit API: the rows as MEXC sent them."""
    rest = session.adapter.rest
    interval = rest.options["timeframes"]["spot"][timeframe]
    request = {"symbol": session.market_id(symbol), "interval": interval, **params}
    rows = await rest.spot_public_get_klines(request)
    return list(rows) if isinstance(rows, list) else []


# -- exchange-wide checks -------------------------------------------------------------------


async def load_markets(adapter: MexcAdapter, probe: Probe) -> Outcome:
    """The first check, before the websocket client exists: it needs the markets."""
    probe.step = "loading markets (exchangeInfo + contract/detail)"
    started = time.monotonic()
    await adapter.instruments()
    rest = adapter.rest
    spot = sum(1 for m in rest.markets.values() if m.get("spot"))
    swap = sum(1 for m in rest.markets.values() if m.get("swap"))
    return Status.PASS, f"{spot} spot and {swap} swap markets in {time.monotonic() - started:.2f} s"


async def market_row(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    rest = session.adapter.rest
    market = rest.market(symbol)
    inst = await session.adapter.instrument(symbol)
    info = market.get("info") or {}
    text = (
        f"{market['id']}: status {info.get('status')!r}, isSpotTradingAllowed "
        f"{info.get('isSpotTradingAllowed')!r} (ccxt active={market.get('active')}); streamed"
    )
    if inst.perp_symbol is not None:
        text += f"; perpetual {inst.perp_symbol} contractSize {inst.contract_size:g}"
    else:
        text += "; no active USDT perpetual"
    return Status.PASS, text


async def clock(session: CheckSession, probe: Probe) -> Outcome:
    probe.step = "waiting for /api/v3/time"
    adapter = session.adapter
    await adapter.fetch_time(samples=5)
    offset, rtt = adapter.clock.offset_ms, adapter.clock.rtt_ms or 0.0
    text = f"offset {round(offset) or 0:+d} ms (exchange − local), round trip {rtt:.0f} ms (median of 5)"
    late = abs(offset) > 1000 or rtt > 1000
    return (Status.WARN if late else Status.PASS), text


# -- klines -----------------------------------------------------------------------------------


async def page_size(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    probe.step = "waiting for GET /api/v3/klines limit=1000"
    rows = await session.adapter.rest.fetch_ohlcv(symbol, "1m", None, 1000)
    n = len(rows)
    if n == PAGE_CAP:
        return Status.PASS, f"{n} rows for limit=1000 (1m)"
    if n < PAGE_CAP:
        return Status.WARN, f"{n} rows for limit=1000: fewer than a page, the cap was not reached"
    return Status.WARN, f"{n} rows for limit=1000: over {PAGE_CAP} per page; paging at 500 still works"


async def window(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    now = session.adapter.clock.now_ms()
    # the adapter's page shape, on a window of closed bars: since/until/limit = 100 slots
    until = klines.last_closed_open(now, "1m") - 100 * MINUTE_MS
    since = until - 99 * MINUTE_MS
    probe.step = "waiting for a 100 × 1m kline page"
    page = await raw_klines(session, symbol, "1m", startTime=since, endTime=until + 1, limit=100)
    # the recorded shape (spot_klines_btcusdt_5m_limit100): a 2-minute window, 5m, limit=100
    start = now - 7_200_000
    probe.step = "waiting for a narrow 5m kline window"
    narrow = await raw_klines(session, symbol, "5m", startTime=start, endTime=start + 120_000, limit=100)
    parts, outside = [], 0
    for label, rows, lo, hi in (
        ("page 1m since/until limit=100", page, since, until),
        ("2-min window 5m limit=100", narrow, start, start + 120_000 - 1),
    ):
        before = sum(1 for r in rows if int(r[0]) < lo)
        after = sum(1 for r in rows if int(r[0]) > hi)
        outside += before + after
        text = f"{label}: {len(rows)} rows, {before} before startTime, {after} after endTime"
        if before:
            first = min(int(r[0]) for r in rows)
            text += f" (first {(lo - first) / 3_600_000:.1f} h early)"
        parts.append(text)
    if not page:
        return Status.WARN, "; ".join(parts) + " (empty page: nothing to judge)"
    return (Status.WARN if outside else Status.PASS), "; ".join(parts)


async def forming_bar(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    adapter = session.adapter
    probe.step = "waiting for /api/v3/time"
    before = await adapter.fetch_time(samples=1)
    probe.step = "waiting for GET /api/v3/klines limit=3"
    rows = await raw_klines(session, symbol, "1m", limit=3)
    after = adapter.clock.now_ms()
    if not rows:
        return Status.FAIL, "no rows"
    last = int(rows[-1][0])
    current = {klines.bar_open(before, "1m"), klines.bar_open(after, "1m")}
    text = f"last row opens {_hhmm(last)}, server time {_hhmm(after)}:{after // 1000 % 60:02d}"
    if last in current:
        return Status.PASS, text + ": the still-forming bar"
    if last < min(current):
        return Status.WARN, text + ": already closed (no trade yet this minute?)"
    return Status.FAIL, text + ": a bar from the future (clock offset wrong?)"


async def closed_bars(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    adapter = session.adapter
    probe.step = "waiting for MexcAdapter.fetch_ohlcv(limit=5)"
    before = adapter.clock.now_ms()
    bars = await adapter.fetch_ohlcv(symbol, "1m", limit=5)
    after = adapter.clock.now_ms()
    if not bars:
        return Status.FAIL, "no bars"
    last = int(bars[-1][0])
    latest_closed = {klines.last_closed_open(t, "1m") for t in (before, after)}
    text = f"{len(bars)} bars, last opens {_hhmm(last)}, server time {_hhmm(after)}"
    if last > max(latest_closed):
        return Status.FAIL, text + ": the forming bar was returned as closed"
    if last in latest_closed and len(bars) == 5:
        return Status.PASS, text + ": the latest closed bar"
    return Status.WARN, text + ": older than the latest closed bar, or fewer than 5 (illiquid?)"


async def close_time(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    parts, bad, rows_seen = [], 0, 0
    for timeframe in ("1m", "5m", "1h"):
        probe.step = f"waiting for GET /api/v3/klines {timeframe} limit=5"
        rows = await raw_klines(session, symbol, timeframe, limit=5)
        with_close = [r for r in rows if len(r) > 6 and r[6] is not None]
        if not with_close:
            parts.append(f"{timeframe}: rows of {len(rows[0]) if rows else 0} columns, no closeTime")
            continue
        rows_seen += len(with_close)
        step = klines.timeframe_ms(timeframe)
        diffs = Counter(int(r[6]) - int(r[0]) for r in with_close)
        bad += sum(n for d, n in diffs.items() if d != step)
        parts.append(f"{timeframe}: closeTime − openTime = {', '.join(str(d) for d in diffs)} ms")
    text = "; ".join(parts) + " (raw body via spot_public_get_klines)"
    if rows_seen == 0:
        return Status.SKIP, text + ": not available"
    return (Status.WARN if bad else Status.PASS), text


# -- perpetual --------------------------------------------------------------------------------


async def swap_ticker(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    adapter = session.adapter
    inst = await adapter.instrument(symbol)
    if inst.perp_symbol is None:
        return Status.SKIP, "no active USDT perpetual: md funding/oi are None"
    probe.step = f"waiting for the contract ticker of {inst.perp_symbol}"
    ticker = await adapter.rest.fetch_ticker(inst.perp_symbol)
    return swap_fields(ticker, adapter.rest.markets[inst.perp_symbol].get("contractSize"))


def swap_fields(ticker: dict[str, Any], contract_size: Any) -> Outcome:
    """Judge a contract ticker (REST or ``push.ticker``) the way the library parses it."""
    info = ticker.get("info") or {}
    problems = []
    try:
        rate = float(info["fundingRate"])
        hold = float(info["holdVol"])
        size = float(contract_size)
    except (KeyError, TypeError, ValueError) as exc:
        keys = ", ".join(sorted(info)[:20])
        return Status.FAIL, f"missing or not a number: {exc!r} (info keys: {keys})"
    if not math.isfinite(rate) or abs(rate) >= MAX_FUNDING:
        problems.append(f"fundingRate {rate!r}")
    if not math.isfinite(hold) or hold < 0:
        problems.append(f"holdVol {hold!r}")
    if not math.isfinite(size) or size <= 0:
        problems.append(f"contractSize {size!r}")
    record = parse_swap_ticker(ticker, size)
    text = (
        f"fundingRate {rate:g}, holdVol {hold:.0f} contracts, contractSize {size:g} "
        f"→ oi {record['oi']:.6g} base units"
    )
    return (Status.FAIL, "bad " + ", ".join(problems) + f" — {text}") if problems else (Status.PASS, text)
