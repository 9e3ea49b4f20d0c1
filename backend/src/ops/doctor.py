"""``doctor``: check, against the live MEXC (or the simulator), each assumption the library makes.

Why: the library is built on facts about MEXC that MEXC can change without notice (page
sizes, which kline is still forming, protobuf fields, refusal texts, funding fields; see
docs/MEXC.md). ``python -m backend doctor`` measures each of them through the library's own
clients, so a user with a network learns in seconds whether the assumptions still hold;
offline the same code runs against the loopback simulator (only the URLs differ).

Each check (the REST ones in :mod:`.doctor_rest`, the websocket ones in :mod:`.doctor_ws`) is
a small coroutine; this module runs them in order, each giving a
:class:`~.doctor_model.CheckResult` row: name, symbol, PASS/WARN/FAIL/SKIP/INFO, what was
measured, what was expected. Only FAIL means "the library would misbehave"; WARN marks a
difference the library tolerates (it filters kline windows, it does not need closeTime). Every
check runs under its own timeout: a check that times out FAILS naming what it was waiting
for, it never hangs the run.

Recording format (``--save DIR``; no other recording format exists in the project)
-------------------------------------------------------------------------------------
One UTF-8 JSON Lines file per run, ``DIR/doctor-<UTC yyyymmddThhmmssZ>-<pid>.jsonl``; one JSON
object per line, ``type`` first:

* ``{"type": "run", "format": "levibot-doctor/1", "started_ns", "target", "urls", "symbols",
  "timeout_s", "ccxt", "protobuf"}``: the first line. ``urls`` is the partial ccxt
  ``urls['api']`` used (null: MEXC's real endpoints).
* ``{"type": "rest", "t_ns", "method", "url", "request_body", "status", "reason", "body"}``:
  one per REST response, ``url`` with its query string as sent, ``body`` the response text as
  received (before JSON parsing), ``t_ns`` the local wall clock when it was read.
* ``{"type": "ws", "t_ns", "url", "kind", "data"}``: one per websocket frame received;
  ``kind`` ``"text"`` (``data`` the text as received) or ``"binary"`` (``data`` lowercase
  hex of the protobuf bytes); ``t_ns`` the local wall clock (ns since the epoch) at arrival.
* ``{"type": "ws_sent", "t_ns", "url", "data"}``: what the client sent (subscriptions, pings).
* ``{"type": "check", "name", "symbol", "status", "measured", "expected", "seconds"}``: the
  verdicts, last.

All ``t_ns`` are local time; the ``clock`` check's row gives the offset to MEXC's clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import ccxt

from ..adapters.mexc_ccxt import MexcAdapter
from ..errors import UnknownSymbolError
from . import doctor_rest, doctor_ws
from .doctor_model import (
    EXPECTED,
    CheckFn,
    CheckResult,
    CheckSession,
    DoctorReport,
    Probe,
    Status,
    SymbolCheck,
)
from .doctor_record import DoctorWsClient, WireLog

log = logging.getLogger(__name__)

#: Longest measured text kept from an exception message.
MAX_ERROR_TEXT = 300

#: The checks run for every symbol, in this order (each name is a row of the table).
SYMBOL_CHECKS: list[tuple[str, SymbolCheck]] = [
    ("kline page size", doctor_rest.page_size),
    ("kline window", doctor_rest.window),
    ("forming bar", doctor_rest.forming_bar),
    ("adapter closed bars", doctor_rest.closed_bars),
    ("kline closeTime", doctor_rest.close_time),
    ("book-ticker frames", doctor_ws.book_ticker),
    ("deals frames", doctor_ws.deals),
    ("protobuf unknown fields", doctor_ws.new_fields),
    ("swap ticker", doctor_rest.swap_ticker),
    ("swap push.ticker", doctor_ws.swap_push),
]


@dataclass
class Doctor:
    """Runs every check against one exchange (``urls`` None: the real MEXC)."""

    symbols: list[str]
    urls: dict[str, Any] | None = None
    timeout: float = 30.0
    target: str = "MEXC"
    save_dir: str | None = None
    rate_limit: bool = True
    #: filled while running
    adapter: MexcAdapter | None = field(default=None, init=False)
    ws: DoctorWsClient | None = field(default=None, init=False)
    wire: WireLog = field(default_factory=WireLog, init=False)

    async def run(self) -> DoctorReport:
        """All checks, in order; raises :class:`UnknownSymbolError` for a symbol MEXC does
        not list (before any other check), never for a failing check."""
        self.wire = WireLog(keep_records=self.save_dir is not None)
        started_ns = time.time_ns()
        # two REST attempts: a diagnostic should show an error, not hide it behind retries
        self.adapter = MexcAdapter(self.symbols, rate_limit=self.rate_limit, urls=self.urls, rest_attempts=2)
        report = DoctorReport([], self.target)
        try:
            self.wire.watch_rest(self.adapter.rest)
            report.results = await self._run_checks()
        finally:
            await self._close()
            if self.save_dir is not None:
                for row in report.results:
                    self.wire.add(row.record())
                report.saved_to = await self.wire.save(self.save_dir, self._header(started_ns))
        return report

    def _header(self, started_ns: int) -> dict[str, Any]:
        import google.protobuf

        return {
            "type": "run",
            "format": "levibot-doctor/1",
            "started_ns": started_ns,
            "target": self.target,
            "urls": self.urls,
            "symbols": self.symbols,
            "timeout_s": self.timeout,
            "ccxt": ccxt.__version__,
            "protobuf": google.protobuf.__version__,
        }

    async def _close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.adapter is not None:
            await self.adapter.close()

    async def _run_checks(self) -> list[CheckResult]:
        adapter = self.adapter_()
        markets = await self.check("markets", "", lambda p: doctor_rest.load_markets(adapter, p))
        if markets.status is Status.FAIL:
            return [markets]
        _, invalid = await adapter.validate_symbols()
        if invalid:
            raise next(iter(invalid.values()))
        config: dict[str, Any] = {"enableRateLimit": self.rate_limit}
        if self.urls:
            config["urls"] = {"api": self.urls}
        self.ws = DoctorWsClient(config, self.wire)
        self.ws.set_markets_from_exchange(adapter.rest)
        session = CheckSession(adapter, self.ws, self.wire, self.timeout)
        results = [
            await self.check("markets", s, lambda p, s=s: doctor_rest.market_row(session, p, s))
            for s in self.symbols
        ]
        results.append(await self.check("clock", "", lambda p: doctor_rest.clock(session, p)))
        for symbol in self.symbols:
            results += await self._symbol_checks(session, symbol)
        first = self.symbols[0]
        results.append(
            await self.check("refused subscription", first, lambda p: doctor_ws.refusal(session, p, first))
        )
        return results

    async def _symbol_checks(self, session: CheckSession, symbol: str) -> list[CheckResult]:
        results = [
            await self.check(name, symbol, lambda p, fn=fn: fn(session, p, symbol))  # type: ignore[misc]
            for name, fn in SYMBOL_CHECKS
        ]
        await self._unsubscribe(symbol)
        return results

    async def _unsubscribe(self, symbol: str) -> None:
        """Stop ``symbol``'s pushes, so many symbols stay under MEXC's 30 subscriptions per
        connection; best effort (a failed unsubscribe only costs traffic until the end)."""
        ws = self.ws_()
        inst = await self.adapter_().instrument(symbol)
        calls = [(ws.un_watch_ticker, symbol), (ws.un_watch_trades, symbol)]
        calls += [(ws.un_watch_ticker, inst.perp_symbol)] if inst.perp_symbol else []
        for unwatch, target in calls:
            try:
                async with asyncio.timeout(self.timeout):
                    await unwatch(target)
            except Exception as exc:  # TimeoutError included
                log.info("doctor: unsubscribing %s failed: %s", target, exc)

    async def check(self, name: str, symbol: str, fn: CheckFn) -> CheckResult:
        """``fn`` under the timeout; any error or timeout becomes a FAIL row, never a crash."""
        probe = Probe()
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                status, measured = await fn(probe)
        except TimeoutError:
            status, measured = Status.FAIL, f"timed out after {self.timeout:g} s {probe.step}"
        except UnknownSymbolError:
            raise
        except Exception as exc:  # a diagnostic reports every error as a failed check
            status, measured = Status.FAIL, f"{type(exc).__name__}: {str(exc)[:MAX_ERROR_TEXT]}"
        result = CheckResult(name, symbol, status, measured, EXPECTED[name], time.monotonic() - started)
        log.debug("doctor %s %s: %s %s", name, symbol, status, measured)
        return result

    def adapter_(self) -> MexcAdapter:
        assert self.adapter is not None, "Doctor.run() creates the adapter"
        return self.adapter

    def ws_(self) -> DoctorWsClient:
        assert self.ws is not None, "Doctor.run() creates the websocket client"
        return self.ws
