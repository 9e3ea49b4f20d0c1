"""``doctor``: check, against the live MEXC (or the simulator), each assumption the library makes.

Why: the library is built on facts about MEXC that MEXC can change without notice (page
sizes, which kline is still forming, protobuf fields, refusal texts, funding fields; see
docs/MEXC.md). ``python -m backend doctor`` measures each of them through the library's own
clients, so a user with a network learns in seconds whether the assumptions still hold;
offline the same code runs against the loopback simulator (only the URLs differ).

Each check is a small coroutine returning a :class:`CheckResult` row: name, symbol,
PASS/WARN/FAIL/SKIP/INFO, what was measured, what was expected. Only FAIL means "the
library would misbehave"; WARN marks a difference the library tolerates (it filters kline
windows, it does not need closeTime). Every check runs under its own timeout: a check that
times out FAILS naming what it was waiting for, it never hangs the run.

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
import enum
import logging
import math
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ccxt
from ccxt.protobuf.mexc.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper
from google.protobuf.message import Message

from ..adapters import mexc_klines as klines
from ..adapters.mexc_ccxt import MexcAdapter
from ..adapters.mexc_parsing import parse_book_ticker, parse_swap_ticker, parse_trades
from ..adapters.mexc_subscriptions import message_hash
from ..errors import SubscriptionRejected, UnknownSymbolError
from ..market_data import MINUTE_MS
from .doctor_record import DoctorWsClient, Frame, WireLog

try:  # protobuf ≥ 4.21: the only unknown-field API the upb backend implements
    from google.protobuf.unknown_fields import UnknownFieldSet
except ImportError:  # pragma: no cover - older protobuf: fall back to byte counts
    UnknownFieldSet = None

log = logging.getLogger(__name__)

#: The kline page cap the library pages with (``mexc_klines.PAGE_LIMIT``).
PAGE_CAP = klines.PAGE_LIMIT
#: Frames of a channel collected before judging its shape ...
FRAMES_WANTED = 3
#: ... or fewer, if no more arrive this long after the first (book tickers push only on change).
FRAME_PATIENCE_S = 3.0
#: A push timestamp this far from MEXC's clock is in the wrong unit or clock: FAIL ...
TS_FAIL_MS = 60_000
#: ... this far: a slow path or a skewed server, worth a WARN.
TS_WARN_MS = 5_000
#: MEXC caps funding at ±0.0018 for BTC (contract_funding_rate_btc_usdt); anything near 5 %
#: per period is a unit error (percent instead of a fraction).
MAX_FUNDING = 0.05
#: The refused channel: MEXC answers every legacy JSON spot channel with "Blocked!" since
#: 2025-08 (recorded: spot_ws_blocked_ack_json, spot_ws_blocked_msg_jkorf_issue35).
LEGACY_CHANNEL = "spot@public.deals.v3.api@{id}"
#: Protobuf fields MEXC added on 2026-06-17, unknown to ccxt's bundled classes (expected).
KNOWN_NEW_FIELDS = {
    "publicAggreDeals.deals#5": "tradeId",
    "publicAggreBookTicker#5": "version",
    "publicAggreBookTicker#6": "lastOrderCreateTime",
}
#: Longest measured text kept from an exception message.
MAX_ERROR_TEXT = 300


class Status(enum.StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"
    INFO = "INFO"


@dataclass(frozen=True)
class CheckResult:
    """One row of the doctor's table."""

    name: str
    symbol: str
    status: Status
    measured: str
    expected: str
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        return {"type": "check", **asdict(self), "status": str(self.status)}


@dataclass
class DoctorReport:
    results: list[CheckResult]
    target: str
    saved_to: Path | None = None

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAIL for r in self.results)

    def counts(self) -> Counter[str]:
        return Counter(str(r.status) for r in self.results)


@dataclass
class Probe:
    """What a running check is waiting for, named in its FAIL row if it times out."""

    step: str = "starting"


Outcome = tuple[Status, str]
CheckFn = Callable[[Probe], Awaitable[Outcome]]

EXPECTED = {
    "markets": "spot status '1' (the library streams on status alone; API trading flag ignored)",
    "clock": "fetch_time offset and round trip within 1 s",
    "kline page size": f"one fetch_ohlcv(limit=1000) returns ≤ {PAGE_CAP} rows (MEXC/ccxt page cap)",
    "kline window": "rows only inside startTime..endTime (adapter filters anyway: outside = WARN)",
    "forming bar": "last row of an unbounded klines request opens at floor(server time, 1 min)",
    "adapter closed bars": "MexcAdapter.fetch_ohlcv: last open = current minute − 1 min (no forming bar)",
    "kline closeTime": "raw row[6] closeTime = openTime + interval (ccxt's parse drops it)",
    "book-ticker frames": "protobuf publicAggreBookTicker: 0 < bid < ask, sizes > 0, sendTime ms ≈ server",
    "deals frames": "protobuf publicAggreDeals: price/qty > 0, tradeType 1|2, time/sendTime ms ≈ server",
    "protobuf unknown fields": "none beyond 2026-06 tradeId/version/lastOrderCreateTime (INFO)",
    "swap ticker": f"REST ticker fundingRate finite, |rate| < {MAX_FUNDING}; holdVol ≥ 0; contractSize > 0",
    "swap push.ticker": "push.ticker data carries fundingRate and holdVol; library parses it",
    "refused subscription": "legacy channel refused ('Not Subscribed successfully! … Reason： Blocked!'); "
    "rejected_channels parses it and the watch raises SubscriptionRejected",
}


# -- protobuf inspection -----------------------------------------------------------------


def spot_pushes(frames: Sequence[Frame], channel: str) -> list[tuple[Frame, PushDataV3ApiWrapper]]:
    """The decoded binary frames of ``channel``, in arrival order."""
    return [(f, f.push) for f in frames if f.push is not None and f.push.channel == channel]


def _repeated(fd: Any) -> bool:
    repeated = getattr(fd, "is_repeated", None)  # protobuf ≥ 6; ``label`` is deprecated there
    return bool(repeated) if repeated is not None else fd.label == fd.LABEL_REPEATED


def unknown_fields(msg: Message, path: str = "wrapper") -> list[str] | None:
    """Paths (``publicAggreDeals.deals#5``) of every unknown field in ``msg`` and the messages
    it contains; None when the installed protobuf offers no way to list them.

    protobuf 7.x with the upb backend raises ``NotImplementedError`` from
    ``Message.UnknownFields()``; ``google.protobuf.unknown_fields.UnknownFieldSet`` works.
    """
    if UnknownFieldSet is None:
        return None
    found = [f"{path}#{f.field_number}" for f in UnknownFieldSet(msg)]
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        sub = fd.name if path == "wrapper" else f"{path}.{fd.name}"
        for item in value if _repeated(fd) else [value]:
            found += unknown_fields(item, sub) or []
    return found


def unknown_bytes(msg: Message) -> int:
    """Bytes of ``msg`` that the schema does not describe (fallback without UnknownFieldSet)."""
    known = type(msg)()
    known.CopyFrom(msg)
    known.DiscardUnknownFields()
    return msg.ByteSize() - known.ByteSize()


def wrapper_fields(msg: PushDataV3ApiWrapper) -> list[str]:
    """Names of the wrapper's metadata fields that are set (the body excluded)."""
    body = msg.WhichOneof("body")
    return [fd.name for fd, _ in msg.ListFields() if fd.name != body]


def _positive(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _clock(ms: int) -> str:
    return time.strftime("%H:%M", time.gmtime(ms / 1000))


def _lag_verdict(lags: list[float], what: str) -> tuple[Status, str]:
    """Median ``server time at arrival − stamp`` of a frame series, graded."""
    if not lags:
        return Status.FAIL, f"no {what}"
    worst = max(lags, key=abs)
    text = f"{what} lag median {statistics.median(lags):.0f} ms, worst {worst:.0f} ms"
    if abs(worst) > TS_FAIL_MS:
        return Status.FAIL, text + " (not ms, or a clock far off)"
    if abs(worst) > TS_WARN_MS:
        return Status.WARN, text
    return Status.PASS, text


def _worst(*statuses: Status) -> Status:
    order = [Status.FAIL, Status.WARN, Status.PASS]
    return next((s for s in order if s in statuses), Status.PASS)


# -- the run -----------------------------------------------------------------------------


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
        markets = await self.check("markets", "", self._load_markets)
        if markets.status is Status.FAIL:
            return [markets]
        _, invalid = await self.adapter_().validate_symbols()
        if invalid:
            raise next(iter(invalid.values()))
        config: dict[str, Any] = {"enableRateLimit": self.rate_limit}
        if self.urls:
            config["urls"] = {"api": self.urls}
        self.ws = DoctorWsClient(config, self.wire)
        self.ws.set_markets_from_exchange(self.adapter_().rest)
        results = [await self.check("markets", s, lambda p, s=s: self._market_row(s)) for s in self.symbols]
        results.append(await self.check("clock", "", self._clock))
        for symbol in self.symbols:
            results += await self._symbol_checks(symbol)
        results.append(await self.check("refused subscription", self.symbols[0], self._refusal))
        return results

    async def _symbol_checks(self, symbol: str) -> list[CheckResult]:
        runs: list[tuple[str, Callable[[Probe, str], Awaitable[Outcome]]]] = [
            ("kline page size", self._page_size),
            ("kline window", self._window),
            ("forming bar", self._forming_bar),
            ("adapter closed bars", self._closed_bars),
            ("kline closeTime", self._close_time),
            ("book-ticker frames", self._book_ticker),
            ("deals frames", self._deals),
            ("protobuf unknown fields", self._unknown_fields),
            ("swap ticker", self._swap_ticker),
            ("swap push.ticker", self._swap_push),
        ]
        results = [
            await self.check(name, symbol, lambda p, fn=fn: fn(p, symbol))  # type: ignore[misc]
            for name, fn in runs
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

    def _symbol_of(self, market_id: str) -> str | None:
        found = (self.adapter_().rest.markets_by_id or {}).get(market_id)
        return str(found[0]["symbol"]) if found else None

    def _market_id(self, symbol: str) -> str:
        return str(self.adapter_().rest.market(symbol)["id"])

    async def _raw_klines(self, symbol: str, timeframe: str, **params: int) -> list[list[Any]]:
        """``GET /api/v3/klines`` through ccxt's implicit API: the rows as MEXC sent them."""
        rest = self.adapter_().rest
        interval = rest.options["timeframes"]["spot"][timeframe]
        request = {"symbol": self._market_id(symbol), "interval": interval, **params}
        rows = await rest.spot_public_get_klines(request)
        return list(rows) if isinstance(rows, list) else []

    # -- exchange-wide checks -------------------------------------------------------------

    async def _load_markets(self, probe: Probe) -> Outcome:
        probe.step = "loading markets (exchangeInfo + contract/detail)"
        started = time.monotonic()
        await self.adapter_().instruments()
        rest = self.adapter_().rest
        spot = sum(1 for m in rest.markets.values() if m.get("spot"))
        swap = sum(1 for m in rest.markets.values() if m.get("swap"))
        return Status.PASS, f"{spot} spot and {swap} swap markets in {time.monotonic() - started:.2f} s"

    async def _market_row(self, symbol: str) -> Outcome:
        rest = self.adapter_().rest
        market = rest.market(symbol)
        inst = await self.adapter_().instrument(symbol)
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

    async def _clock(self, probe: Probe) -> Outcome:
        probe.step = "waiting for /api/v3/time"
        adapter = self.adapter_()
        await adapter.fetch_time(samples=5)
        offset, rtt = adapter.clock.offset_ms, adapter.clock.rtt_ms or 0.0
        text = f"offset {round(offset) or 0:+d} ms (exchange − local), round trip {rtt:.0f} ms (median of 5)"
        late = abs(offset) > 1000 or rtt > 1000
        return (Status.WARN if late else Status.PASS), text

    async def _refusal(self, probe: Probe) -> Outcome:
        ws, symbol = self.ws_(), self.symbols[0]
        market_id = self._market_id(symbol)
        channel = LEGACY_CHANNEL.format(id=market_id)
        url = ws.urls["api"]["ws"]["spot"]
        request = {"method": "SUBSCRIPTION", "params": [channel]}
        probe.step = f"waiting for MEXC's answer to SUBSCRIPTION {channel}"
        seen = len(self.wire.frames)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout * 0.9):
                await ws.watch(url, channel, request, channel)
        except SubscriptionRejected as exc:
            elapsed = time.monotonic() - started
            refusal = next((r for r in ws.refusals if channel in r.channels), None)
            if refusal is None:  # rejected without rejected_channels seeing it: not our path
                return Status.FAIL, f"SubscriptionRejected without a parsed refusal: {exc}"
            own = [
                message_hash(f"spot@public.aggre.{kind}.v3.api.pb@100ms@{market_id}", self._symbol_of, {})
                for kind in ("bookTicker", "deals")
            ]
            raiser = "the library" if channel in refusal.mapped_by_library else "doctor (no ccxt hash for it)"
            return Status.PASS, (
                f"refused after {elapsed:.2f} s, reason {refusal.reason!r}; rejected_channels → "
                f"{refusal.channels}; SubscriptionRejected raised by {raiser}; the library maps refusals "
                f"of its own channels to {own}"
            )
        except TimeoutError:
            acked = any(
                isinstance(f.data, str) and f'"msg":"{channel}"' in f.data.replace(" ", "")
                for f in self.wire.frames[seen:]
            )
            answer = "MEXC acknowledged it (subscription accepted)" if acked else "no answer at all"
            return Status.FAIL, f"no refusal within {self.timeout * 0.9:g} s: {answer}"
        return Status.FAIL, f"{channel}: the watch resolved with data; MEXC accepts the legacy channel again"

    # -- klines ---------------------------------------------------------------------------

    async def _page_size(self, probe: Probe, symbol: str) -> Outcome:
        probe.step = "waiting for GET /api/v3/klines limit=1000"
        rows = await self.adapter_().rest.fetch_ohlcv(symbol, "1m", None, 1000)
        n = len(rows)
        if n == PAGE_CAP:
            return Status.PASS, f"{n} rows for limit=1000 (1m)"
        if n < PAGE_CAP:
            return Status.WARN, f"{n} rows for limit=1000: fewer than a page, the cap was not reached"
        return Status.WARN, f"{n} rows for limit=1000: over {PAGE_CAP} per page; paging at 500 still works"

    async def _window(self, probe: Probe, symbol: str) -> Outcome:
        now = self.adapter_().clock.now_ms()
        # the adapter's page shape, on a window of closed bars: since/until/limit = 100 slots
        until = klines.last_closed_open(now, "1m") - 100 * MINUTE_MS
        since = until - 99 * MINUTE_MS
        probe.step = "waiting for a 100 × 1m kline page"
        page = await self._raw_klines(symbol, "1m", startTime=since, endTime=until + 1, limit=100)
        # the recorded shape (spot_klines_btcusdt_5m_limit100): a 2-minute window, 5m, limit=100
        start = now - 7_200_000
        probe.step = "waiting for a narrow 5m kline window"
        narrow = await self._raw_klines(symbol, "5m", startTime=start, endTime=start + 120_000, limit=100)
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

    async def _forming_bar(self, probe: Probe, symbol: str) -> Outcome:
        adapter = self.adapter_()
        probe.step = "waiting for /api/v3/time"
        before = await adapter.fetch_time(samples=1)
        probe.step = "waiting for GET /api/v3/klines limit=3"
        rows = await self._raw_klines(symbol, "1m", limit=3)
        after = adapter.clock.now_ms()
        if not rows:
            return Status.FAIL, "no rows"
        last = int(rows[-1][0])
        current = {klines.bar_open(before, "1m"), klines.bar_open(after, "1m")}
        text = f"last row opens {_clock(last)}, server time {_clock(after)}:{after // 1000 % 60:02d}"
        if last in current:
            return Status.PASS, text + ": the still-forming bar"
        if last < min(current):
            return Status.WARN, text + ": already closed (no trade yet this minute?)"
        return Status.FAIL, text + ": a bar from the future (clock offset wrong?)"

    async def _closed_bars(self, probe: Probe, symbol: str) -> Outcome:
        adapter = self.adapter_()
        probe.step = "waiting for MexcAdapter.fetch_ohlcv(limit=5)"
        before = adapter.clock.now_ms()
        bars = await adapter.fetch_ohlcv(symbol, "1m", limit=5)
        after = adapter.clock.now_ms()
        if not bars:
            return Status.FAIL, "no bars"
        last = int(bars[-1][0])
        latest_closed = {klines.last_closed_open(t, "1m") for t in (before, after)}
        text = f"{len(bars)} bars, last opens {_clock(last)}, server time {_clock(after)}"
        if last > max(latest_closed):
            return Status.FAIL, text + ": the forming bar was returned as closed"
        if last in latest_closed and len(bars) == 5:
            return Status.PASS, text + ": the latest closed bar"
        return Status.WARN, text + ": older than the latest closed bar, or fewer than 5 (illiquid?)"

    async def _close_time(self, probe: Probe, symbol: str) -> Outcome:
        parts, bad, rows_seen = [], 0, 0
        for timeframe in ("1m", "5m", "1h"):
            probe.step = f"waiting for GET /api/v3/klines {timeframe} limit=5"
            rows = await self._raw_klines(symbol, timeframe, limit=5)
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

    # -- spot websocket -------------------------------------------------------------------

    async def _collect(
        self, probe: Probe, watch: Callable[[], Awaitable[Any]], channel: str, seen: int
    ) -> None:
        """Call ``watch`` until ``FRAMES_WANTED`` frames of ``channel`` arrived after index
        ``seen``, or ``FRAME_PATIENCE_S`` passed since the first (MEXC's book ticker is pushed
        only on change). The first frame is awaited under the check's own timeout."""
        probe.step = f"waiting for a frame on {channel}"
        first_at: float | None = None
        while True:
            got = len(spot_pushes(self.wire.frames[seen:], channel))
            if got >= FRAMES_WANTED:
                return
            if got and first_at is None:
                first_at = time.monotonic()
                probe.step = f"waiting for more frames on {channel}"
            if first_at is not None:
                left = FRAME_PATIENCE_S - (time.monotonic() - first_at)
                if left <= 0:
                    return
                try:
                    async with asyncio.timeout(left):
                        await watch()
                except TimeoutError:
                    return
            else:
                await watch()

    def _server_at(self, frame: Frame) -> float:
        """MEXC's clock (ms) when ``frame`` arrived, by the adapter's offset estimate."""
        return frame.t_ns / 1e6 + self.adapter_().clock.offset_ms

    async def _book_ticker(self, probe: Probe, symbol: str) -> Outcome:
        ws, market_id = self.ws_(), self._market_id(symbol)
        channel = f"spot@public.aggre.bookTicker.v3.api.pb@100ms@{market_id}"
        await self._collect(probe, lambda: ws.watch_ticker(symbol), channel, 0)
        pushes = spot_pushes(self.wire.frames, channel)
        problems, lags, stamps, one_sided = [], [], {}, 0
        for frame, msg in pushes:
            body = msg.publicAggreBookTicker
            if msg.WhichOneof("body") != "publicAggreBookTicker":
                problems.append(f"body {msg.WhichOneof('body')}")
                continue
            bid, ask = _positive(body.bidPrice), _positive(body.askPrice)
            if msg.symbol != market_id:
                problems.append(f"symbol {msg.symbol!r}")
            if not body.bidPrice or not body.askPrice:
                # MEXC's docs show one-sided pushes (askPrice ""): the library drops them as
                # malformed, which is right for an empty side, so only worth a note
                one_sided += 1
                continue
            if bid is None or ask is None:
                problems.append(f"bid/ask {body.bidPrice!r}/{body.askPrice!r}")
            elif bid >= ask:
                problems.append(f"bid {bid:g} ≥ ask {ask:g}")
            if _positive(body.bidQuantity) is None or _positive(body.askQuantity) is None:
                problems.append(f"sizes {body.bidQuantity!r}/{body.askQuantity!r}")
            if not msg.HasField("sendTime"):
                problems.append("no sendTime (the library's timestamp)")
            else:
                lags.append(self._server_at(frame) - msg.sendTime)
                stamps[msg.sendTime] = (bid, ask)
        # what the library made of them: the ticker its fast path (or ccxt) stored
        ticker = ws.tickers.get(symbol)
        library = "library ticker: none"
        if ticker is not None:
            record = parse_book_ticker(ticker, None, None)
            match = stamps.get(record["ts"]) == (record["bid"], record["ask"])
            library = f"library ticker ts/bid/ask {'=' if match else '≠'} a received frame's"
            if not match:
                problems.append("library ticker matches no frame")
        status, text = self._frames_outcome(pushes, problems, lags, "sendTime", library)
        if one_sided:
            return _worst(status, Status.WARN), f"{one_sided} one-sided (empty bid or ask); {text}"
        return status, text

    def _frames_outcome(
        self,
        pushes: list[tuple[Frame, PushDataV3ApiWrapper]],
        problems: list[str],
        lags: list[float],
        stamp: str,
        library: str,
    ) -> Outcome:
        if not pushes:
            return Status.FAIL, "no frames"
        fields = sorted({name for _, msg in pushes for name in wrapper_fields(msg)})
        lag_status, lag_text = _lag_verdict(lags, stamp)
        text = f"{len(pushes)} frames; {lag_text}; wrapper fields {', '.join(fields)}; {library}"
        if problems:
            shown = "; ".join(f"{p} ×{n}" for p, n in Counter(problems).most_common(4))
            return Status.FAIL, f"{shown} — {text}"
        return _worst(lag_status), text

    async def _deals(self, probe: Probe, symbol: str) -> Outcome:
        ws, market_id = self.ws_(), self._market_id(symbol)
        channel = f"spot@public.aggre.deals.v3.api.pb@100ms@{market_id}"
        latest: list[dict[str, Any]] = []

        async def watch() -> None:
            latest[:] = await ws.watch_trades(symbol)

        await self._collect(probe, watch, channel, 0)
        pushes = spot_pushes(self.wire.frames, channel)
        problems, lags, trade_lags = [], [], []
        deals_seen: set[tuple[int, float]] = set()
        for frame, msg in pushes:
            if msg.WhichOneof("body") != "publicAggreDeals":
                problems.append(f"body {msg.WhichOneof('body')}")
                continue
            if msg.symbol != market_id:
                problems.append(f"symbol {msg.symbol!r}")
            if not msg.HasField("sendTime"):
                problems.append("no sendTime")
            else:
                lags.append(self._server_at(frame) - msg.sendTime)
            if not msg.publicAggreDeals.deals:
                problems.append("empty deals list")
            for deal in msg.publicAggreDeals.deals:
                price, qty = _positive(deal.price), _positive(deal.quantity)
                if price is None or qty is None:
                    problems.append(f"price/qty {deal.price!r}/{deal.quantity!r}")
                if deal.tradeType not in (1, 2):
                    problems.append(f"tradeType {deal.tradeType}")
                trade_lags.append(self._server_at(frame) - deal.time)
                deals_seen.add((deal.time, price or 0.0))
        library = "library trades: none"
        if latest:
            records = parse_trades(latest)
            known = all((r["ts"], r["price"]) in deals_seen for r in records)
            library = f"library trades ({len(records)}) {'=' if known else '≠'} received deals"
            if not known:
                problems.append("library trades match no deal")
        status, outcome = self._frames_outcome(pushes, problems, lags, "sendTime", library)
        trade_status, trade_text = _lag_verdict(trade_lags, "deal time")
        return _worst(status, trade_status), f"{outcome}; {trade_text}"

    async def _unknown_fields(self, probe: Probe, symbol: str) -> Outcome:
        market_id = self._market_id(symbol)
        pushes = [f.push for f in self.wire.frames if f.push is not None and f.push.symbol == market_id]
        if not pushes:
            return Status.SKIP, "no protobuf frames of this symbol were received"
        found: Counter[str] = Counter()
        for msg in pushes:
            paths = unknown_fields(msg)
            if paths is None:
                extra = sum(unknown_bytes(m) for m in pushes)
                status = Status.WARN if extra else Status.INFO
                return status, f"{extra} bytes of unknown fields in {len(pushes)} frames (no UnknownFieldSet)"
            found.update(paths)
        if not found:
            return Status.INFO, f"none in {len(pushes)} frames"
        named = ", ".join(
            f"{path} ×{n}" + (f" ({KNOWN_NEW_FIELDS[path]}, 2026-06)" if path in KNOWN_NEW_FIELDS else "")
            for path, n in found.most_common()
        )
        new = [p for p in found if p not in KNOWN_NEW_FIELDS]
        return (Status.WARN if new else Status.INFO), f"{named} in {len(pushes)} frames"

    # -- perpetual ------------------------------------------------------------------------

    async def _swap_ticker(self, probe: Probe, symbol: str) -> Outcome:
        adapter = self.adapter_()
        inst = await adapter.instrument(symbol)
        if inst.perp_symbol is None:
            return Status.SKIP, "no active USDT perpetual: md funding/oi are None"
        probe.step = f"waiting for the contract ticker of {inst.perp_symbol}"
        ticker = await adapter.rest.fetch_ticker(inst.perp_symbol)
        return self._swap_fields(ticker, adapter.rest.markets[inst.perp_symbol].get("contractSize"))

    def _swap_fields(self, ticker: dict[str, Any], contract_size: Any) -> Outcome:
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

    async def _swap_push(self, probe: Probe, symbol: str) -> Outcome:
        adapter, ws = self.adapter_(), self.ws_()
        inst = await adapter.instrument(symbol)
        if inst.perp_symbol is None:
            return Status.SKIP, "no active USDT perpetual"
        probe.step = f"waiting for push.ticker of {inst.perp_symbol}"
        ticker = await ws.watch_ticker(inst.perp_symbol)
        return self._swap_fields(ticker, adapter.rest.markets[inst.perp_symbol].get("contractSize"))
