"""``Records``: the gate between a parsed payload and the stream: validate, drop, count.

Why apart: every channel (book ticker, trades, swap ticker, klines, 24 h stats) drops an
impossible record the same way — counted, told to the listener (feed health), logged
rate-limited with the offending value — and a record from the future sends the clock to be
measured again. ``benchmarks/bench_md_path.py`` runs these same methods on the hot path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import ccxt

from ... import validation
from ...errors import MalformedPayload
from ...log_limits import RateLimitedLog
from ...market_data import Channel
from .runtime import MexcRuntime

log = logging.getLogger(__name__)

T = TypeVar("T")


class Records:
    """Validation of one adapter's records, and the exchange clock they are checked against."""

    def __init__(self, runtime: MexcRuntime, fetch_time: Callable[[], Awaitable[int]]) -> None:
        self._runtime = runtime
        self._fetch_time = fetch_time
        #: reason → rate-limited log of dropped records (one line per reason per 10 s)
        self._drop_logs: dict[str, RateLimitedLog] = {}
        self._clock_lock = asyncio.Lock()
        self._resync_at = 0.0

    def parsed(self, symbol: str, channel: str, parse: Callable[..., T], *args: Any) -> T | None:
        """``parse(*args)``, or None for a payload without the fields a record needs (e.g. a
        one-sided book, an empty deals push): counted as dropped ``malformed`` and skipped —
        one bad push must not end the stream."""
        try:
            return parse(*args)
        except Exception as exc:  # MalformedPayload, or whatever else a hostile payload provokes
            detail = exc if isinstance(exc, MalformedPayload) else f"{type(exc).__name__}: {exc}"
            self.drop(symbol, channel, "malformed", detail)
            return None

    def checked(
        self, symbol: str, channel: str, record: dict | None, check: Callable[..., str | None], now: Any
    ) -> dict | None:
        """``record`` when ``check(record, now)`` finds it possible; else None, dropped and counted."""
        if record is None:
            return None
        reason = check(record, now)
        if reason is None:
            return record
        self.drop(symbol, channel, reason, record)
        return None

    def valid_trades(
        self, symbol: str, trades: list[dict[str, Any]], gate: validation.TradeGate
    ) -> list[Mapping[str, Any]]:
        """The possible trades of one push not delivered before; the others dropped, counted."""
        admitted, dropped = gate.admit(trades, self._runtime.clock.now_ms())
        for reason, t in dropped:
            self.drop(symbol, Channel.TRADES, reason, t)
        return admitted

    def valid_bars(self, symbol: str, rows: list[list]) -> list[list]:
        """The kline rows that are possible bars; the others are dropped and counted (a NaN
        close must not become the md price, a negative one the bar's low)."""
        valid = []
        for row in rows:
            if (reason := validation.check_bar(row)) is None:
                valid.append(row)
            else:
                self.drop(symbol, Channel.KLINES, reason, row)
        return valid

    def drop(self, symbol: str, channel: str, reason: str, detail: Any) -> None:
        """Count one unusable record of ``symbol``'s ``channel``, tell the listener (feed
        health: received and dropped), and log it with the offending value, rate-limited."""
        runtime = self._runtime
        runtime.counters[(f"{symbol} {channel}", reason)] += 1
        if runtime.listener is not None:
            runtime.listener.on_drop(symbol, channel, reason)
        drop_log = self._drop_logs.get(reason)
        if drop_log is None:
            drop_log = self._drop_logs[reason] = RateLimitedLog(log)
        drop_log.event("%s %s: dropped (%s): %.300r", symbol, channel, reason, detail)
        if reason == validation.FUTURE:
            self._resync_soon()

    def _resync_soon(self) -> None:
        """Measure the clock offset again (at most every ``resync_after_future`` s): if MEXC's
        clock stepped, every record would look like it came from the future until then."""
        now = time.monotonic()
        if now < self._resync_at or self._runtime.closed:
            return
        self._resync_at = now + self._runtime.config.resync_after_future
        self._runtime.background.spawn(self._resync(), "clock-resync")

    async def _resync(self) -> None:
        try:
            await self._fetch_time()
        except ccxt.BaseError as exc:  # the periodic sync tries again
            self._runtime.counters[("fetch_time", f"error.{type(exc).__name__}")] += 1
            log.warning("clock resync failed: %s", exc)

    async def ensure_clock(self) -> None:
        """Measure the offset to MEXC's clock once before the first stream: records are
        checked against exchange time, and an unmeasured local clock may be minutes off."""
        if self._runtime.clock.synced:
            return
        async with self._clock_lock:
            if not self._runtime.clock.synced:
                await self._fetch_time()
