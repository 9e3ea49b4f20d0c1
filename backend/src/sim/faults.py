"""Fault injection: the state endpoints consult, and the ``sim.faults`` API that sets it.

Each fault reproduces one way the real MEXC (or the network to it) misbehaves, so the
project's reconnect/backoff/gap-fill code can be tested against the real ccxt clients:
clean closes, dropped sockets, silent-but-alive streams, unanswered pings, refused dials,
REST throttling and outages, malformed frames, rejected subscriptions, clock skew,
missing bars and price jumps.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .market_model import MarketModel
    from .net import TcpGate
    from .ws_common import WsEndpoint

log = logging.getLogger(__name__)

MALFORMED_KINDS = ("garbage", "truncated", "unknown_channel", "invalid_json")

# Bodies are plain text on purpose: MEXC's ``handle_errors`` runs before the HTTP status
# mapping, and a JSON body with an unknown ``code`` would surface as ExchangeError instead
# of the status-based RateLimitExceeded / DDoSProtection / ExchangeNotAvailable.
_REASONS = {
    429: "Too Many Requests",
    418: "I'm a teapot (IP banned)",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class RestFault:
    """The next ``remaining`` REST requests (optionally to ``path`` only) fail this way."""

    status: int | None  # None: hang instead of answering
    remaining: int
    path: str | None = None
    retry_after: int | None = None
    hang_seconds: float = 0.0

    @property
    def body(self) -> str:
        return _REASONS.get(self.status or 0, "Error")


@dataclass
class FaultState:
    """Toggles read by the endpoints on every frame/request (cheap checks only)."""

    silence_rules: list[tuple[str | None, str | None]] = field(default_factory=list)
    no_pong_paths: set[str | None] = field(default_factory=set)
    rest_faults: list[RestFault] = field(default_factory=list)
    reject_rules: list[tuple[str, str]] = field(default_factory=list)
    #: [path prefix, edit of the JSON body, responses left]: answers rewritten on the way out
    tamper_rules: list[list[Any]] = field(default_factory=list)
    release: asyncio.Event | None = None  # set on shutdown to end hanging requests

    def is_silenced(self, path: str, channel: str) -> bool:
        """Data frames on (path, channel) are suppressed; pings still get answered."""
        return any(
            (p is None or p == path) and (c is None or fnmatch.fnmatchcase(channel, c))
            for p, c in self.silence_rules
        )

    def answers_pings(self, path: str) -> bool:
        return None not in self.no_pong_paths and path not in self.no_pong_paths

    def rejection(self, channel: str) -> str | None:
        """The failure reason for a subscription matching a reject rule, else None."""
        for pattern, reason in self.reject_rules:
            if fnmatch.fnmatchcase(channel, pattern):
                return reason
        return None

    def take_rest_fault(self, path: str) -> RestFault | None:
        """Consume one pending REST fault that applies to ``path``."""
        for fault in self.rest_faults:
            if fault.remaining > 0 and (fault.path is None or path.startswith(fault.path)):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.rest_faults.remove(fault)
                return fault
        return None

    def take_tamper(self, path: str) -> Callable[[Any], Any] | None:
        """Consume one pending body edit that applies to ``path``."""
        for rule in self.tamper_rules:
            if path.startswith(rule[0]):
                rule[2] -= 1
                if rule[2] <= 0:
                    self.tamper_rules.remove(rule)
                return rule[1]
        return None

    async def hang(self, seconds: float) -> None:
        """Stall a request; ends early when the simulator shuts down."""
        if self.release is None:
            self.release = asyncio.Event()
        try:
            await asyncio.wait_for(self.release.wait(), seconds)
        except TimeoutError:
            pass


class Faults:
    """``sim.faults``: switch faults on and off while clients are connected.

    Toggles are plain methods; actions on live connections are coroutines that return
    once the frames/closes were handed to the sockets.
    """

    def __init__(
        self, state: FaultState, model: MarketModel, gate: TcpGate, endpoints: list[WsEndpoint]
    ) -> None:
        self.state = state
        self._model = model
        self._gate = gate
        self._endpoints = endpoints

    def _targets(self, path: str | None) -> list[WsEndpoint]:
        found = [e for e in self._endpoints if path is None or e.path == path]
        if not found:
            raise ValueError(f"no websocket endpoint at {path!r}")
        return found

    # -- websocket ---------------------------------------------------------------------

    async def close_ws(self, path: str | None = None, code: int = 1000) -> int:
        """Close websockets cleanly (close frame with ``code``); returns how many."""
        return sum([await e.close_all(code) for e in self._targets(path)])

    def drop_ws(self, path: str | None = None) -> int:
        """Reset websocket TCP connections without a close frame; returns how many."""
        return sum(e.drop_all() for e in self._targets(path))

    def silence(self, on: bool = True, *, path: str | None = None, channel: str | None = None) -> None:
        """Stop (or resume) data pushes, optionally for one path / channel glob.

        Pings keep being answered, so ccxt's keepalive stays happy and only a watchdog
        in the consumer can notice.
        """
        rule = (path, channel)
        if on and rule not in self.state.silence_rules:
            self.state.silence_rules.append(rule)
        elif not on:
            if path is None and channel is None:
                self.state.silence_rules.clear()
            elif rule in self.state.silence_rules:
                self.state.silence_rules.remove(rule)

    def stop_pong(self, on: bool = True, *, path: str | None = None) -> None:
        """Stop (or resume) answering application-level pings."""
        if on:
            self.state.no_pong_paths.add(path)
        elif path is None:
            self.state.no_pong_paths.clear()
        else:
            self.state.no_pong_paths.discard(path)

    async def send_malformed(self, kind: str, *, path: str | None = None) -> int:
        """Send one bad frame to every connection: one of ``MALFORMED_KINDS``."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind must be one of {MALFORMED_KINDS}")
        return sum([await e.send_malformed(kind) for e in self._targets(path)])

    async def inject(self, frame: str | bytes, *, path: str | None = None) -> int:
        """Send ``frame`` as is (a forged push, a replayed one, an impossible value) to every
        connection at ``path`` (``/ws`` spot, ``/edge`` contracts); returns how many got it."""
        return sum([await e.send_raw(frame) for e in self._targets(path)])

    def reject_subscriptions(self, pattern: str, reason: str = "Blocked! ") -> None:
        """Subscriptions to channels matching the glob fail with MEXC's failure message."""
        self.state.reject_rules.append((pattern, reason))

    def clear_rejections(self) -> None:
        self.state.reject_rules.clear()

    # -- network / REST ----------------------------------------------------------------

    def refuse_connections(self, seconds: float, *, drop_existing: bool = True) -> None:
        """Reset every new TCP connection (HTTP and websocket) for ``seconds``.

        With ``drop_existing`` open connections, including idle keep-alive HTTP ones,
        are reset too, as when a host goes away.
        """
        self._gate.refuse_for(seconds)
        if drop_existing:
            self._gate.abort_all()

    def rest_error(
        self, status: int, count: int = 1, *, path: str | None = None, retry_after: int | None = None
    ) -> None:
        """Answer the next ``count`` REST requests (under ``path``) with HTTP ``status``."""
        if status == 429 and retry_after is None:
            retry_after = 1
        self.state.rest_faults.append(RestFault(status, count, path, retry_after))

    def tamper_rest(self, path: str, edit: Callable[[Any], Any], count: int = 1) -> None:
        """Rewrite the JSON body of the next ``count`` answers under ``path`` with ``edit``
        (e.g. a kline page with a ``"NaN"`` close): the exchange's own data, made hostile."""
        self.state.tamper_rules.append([path, edit, count])

    def rest_hang(self, count: int = 1, *, path: str | None = None, seconds: float = 30.0) -> None:
        """Let the next ``count`` REST requests stall ``seconds`` before answering."""
        self.state.rest_faults.append(RestFault(None, count, path, hang_seconds=seconds))

    # -- market ------------------------------------------------------------------------

    def skew_clock(self, ms: int) -> None:
        """Shift the exchange clock by ``ms`` (serverTime, trade and push times)."""
        self._model.clock.skew_ms = ms

    def omit_minutes(self, minutes: list[int], symbols: list[str] | None = None) -> None:
        """Leave these minutes (epoch ms, floored) out of history and the live bar store."""
        self._model.omit_minutes(minutes, symbols)

    def jump_price(self, symbol: str, pct: float) -> None:
        """Move a market's price by ``pct`` percent at the next push."""
        self._model.jump(symbol, pct)

    def reset(self) -> None:
        """Switch every toggle off (clock skew and omitted minutes stay)."""
        self.state.silence_rules.clear()
        self.state.no_pong_paths.clear()
        self.state.rest_faults.clear()
        self.state.reject_rules.clear()
        self.state.tamper_rules.clear()
        self._gate.refuse_until = 0.0
