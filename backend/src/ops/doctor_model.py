"""What the doctor's runner and its checks share: statuses, result rows, and what a check reads.

Why a module of its own: the checks (:mod:`.doctor_rest`, :mod:`.doctor_ws`) and the runner
(:mod:`.doctor`) both need these names, and the checks must not import the runner. A check is
a coroutine ``(session, probe, symbol) -> (Status, measured)``: it measures through the
library's own clients in :class:`CheckSession` and says what it is waiting for in its
:class:`Probe`, so a timeout can name it.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..adapters import mexc_klines as klines
from ..adapters.mexc_ccxt import MexcAdapter
from .doctor_record import DoctorWsClient, WireLog

#: The kline page cap the library pages with (``mexc_klines.PAGE_LIMIT``).
PAGE_CAP = klines.PAGE_LIMIT
#: MEXC caps funding at ±0.0018 for BTC (contract_funding_rate_btc_usdt); anything near 5 %
#: per period is a unit error (percent instead of a fraction).
MAX_FUNDING = 0.05


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


@dataclass(frozen=True)
class CheckSession:
    """The library's own clients of one run, through which every check measures."""

    adapter: MexcAdapter
    ws: DoctorWsClient
    wire: WireLog
    timeout: float

    def market_id(self, symbol: str) -> str:
        return str(self.adapter.rest.market(symbol)["id"])


Outcome = tuple[Status, str]
CheckFn = Callable[[Probe], Awaitable[Outcome]]
SymbolCheck = Callable[[CheckSession, Probe, str], Awaitable[Outcome]]


def worst(*statuses: Status) -> Status:
    """The gravest of FAIL, WARN and PASS among ``statuses`` (PASS when none of them)."""
    order = [Status.FAIL, Status.WARN, Status.PASS]
    return next((s for s in order if s in statuses), Status.PASS)


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
