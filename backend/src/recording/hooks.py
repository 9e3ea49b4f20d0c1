"""``Recorder``: the hooks that record what the md path consumes, into a ``SegmentWriter``.

What is recorded, and where it is seen:

* websocket traffic, at ccxt's connection (the adapter's ``GuardedClient`` hands every message
  to its :class:`~backend.src.adapters.mexc_ws_client.WireTap` before decoding): each frame as
  received, the other messages (close, closed, error, ping, pong), what was sent, each dial
  and how it ended. Frames ccxt drained from aiohttp's buffer in one go are marked ``drain``.
* REST, at ccxt's ``on_rest_response`` hook (the body text before JSON parsing, with the
  request) and at ``fetch`` for requests that got no response (refused, timed out).
* what a replay needs to rebuild the adapter and the feeder (``meta``), and when the feeder
  stopped delivering (``stop``).

The event-loop side of every hook is a clock read and a deque append (see ``segment``).
:func:`tap_rest` is shared with the doctor's own record of a run (``ops.doctor_record``).
"""

from __future__ import annotations

import contextvars
import dataclasses
import itertools
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType
from ccxt import BaseError

from ..backoff import Backoff
from ..errors import UsageError
from .format import REST_FAILURES
from .segment import SegmentWriter, WriterConfig

if TYPE_CHECKING:
    from ..adapters.mexc_ws_client import GuardedClient, MexcWsClient

log = logging.getLogger(__name__)

RestCallback = Callable[[dict[str, Any]], None]

_TEXT, _BINARY = WSMsgType.TEXT, WSMsgType.BINARY

#: the number of the REST request being answered (set around ccxt's ``fetch``)
_REQUEST: contextvars.ContextVar[int | None] = contextvars.ContextVar("rest_request", default=None)


def tap_rest(
    exchange: Any,
    on_response: RestCallback,
    on_failure: RestCallback | None = None,
    on_request: RestCallback | None = None,
) -> None:
    """Call ``on_response`` with every REST response of ccxt client ``exchange`` and its
    request (``method``, ``url``, ``request_body``, ``status``, ``reason``, ``headers``,
    ``body`` as text). With ``on_failure`` and ``on_request``, also every request as it is
    sent (``req``: its number, ``method``, ``url``) and every request that got no response
    (``kind``: one of :data:`~.format.REST_FAILURES`, ``error``); responses and failures then
    carry the ``req`` they answer. Why the number: concurrent requests to one URL (the clock
    samples of many bootstraps) are answered in any order, and a replay must give each request
    the answer it got live."""

    def on_rest_response(
        code: int,
        reason: str,
        url: str,
        method: str,
        response_headers: dict[str, str],
        response_body: str,
        request_headers: dict[str, str],
        request_body: str | None,
    ) -> str:
        answered = {
            "method": method,
            "url": url,
            "request_body": request_body,
            "status": code,
            "reason": reason,
            "headers": response_headers,
            "body": response_body,
        }
        if (req := _REQUEST.get()) is not None:
            answered["req"] = req
        on_response(answered)
        return response_body.strip()  # what ccxt's own hook returns

    exchange.on_rest_response = on_rest_response
    if on_failure is None or on_request is None:
        return
    fetch = exchange.fetch
    numbers = itertools.count(1)

    async def fetch_watched(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        req = next(numbers)
        on_request({"req": req, "method": method, "url": url})
        token = _REQUEST.set(req)
        try:
            return await fetch(url, method, headers, body)
        except BaseError as exc:  # ccxt maps transport failures, the cause says which
            kind = next((k for k, cls in REST_FAILURES if isinstance(exc.__cause__, cls)), None)
            if kind is not None:
                failure = {"req": req, "method": method, "url": url, "request_body": body, "kind": kind}
                on_failure({**failure, "error": str(exc.__cause__)})
            raise
        finally:
            _REQUEST.reset(token)

    exchange.fetch = fetch_watched


def seeded_backoffs(seed: int) -> Callable[[], Backoff]:
    """Backoffs whose jitter comes from one ``Random(seed)``: a recording notes the seed, so a
    replay draws the same delays in the same order and reconnects at the same instants."""
    return partial(Backoff, rng=random.Random(seed), clock=time.monotonic)


def config_meta(config: Any) -> dict[str, Any]:
    """A frozen config dataclass as JSON-able fields: sets as sorted lists, values JSON cannot
    hold (a session object in ``ccxt_config``) left out."""
    fields = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, set | frozenset):
            value = sorted(value)
        try:
            orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            continue
        fields[f.name] = value
    return fields


def _plain(value: Any) -> Any:
    """A websocket message's ``data``/``extra`` as JSON: numbers and text as they are, the rest
    (an exception, ping bytes) as text."""
    return value if value is None or isinstance(value, int | str) else repr(value)


class Recorder:
    """Records one adapter's session into ``directory`` (see the module doc); a ``WireTap``."""

    def __init__(self, directory: str | os.PathLike[str], config: WriterConfig | None = None) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.session = f"{stamp}-{os.getpid()}"
        try:
            self.writer = SegmentWriter(directory, self.session, config)
        except OSError as exc:
            raise UsageError(f"cannot record into {directory}: {exc}") from exc
        #: the seed of the adapter's default backoffs (``seeded_backoffs``) and of its streams'
        #: jitter (``MexcRuntime.seed``), noted in ``meta``
        self.seed = random.SystemRandom().randrange(1 << 32)
        self._clients = itertools.count(1)
        self._conns = itertools.count(1)
        self._stopped = False
        log.info("recording the session into %s (session %s)", directory, self.session)

    def meta(self, kind: str, body: Mapping[str, Any]) -> None:
        """Note what a replay needs to rebuild ``kind`` (``adapter``, ``feeder``)."""
        self.writer.event("meta", time.time_ns(), {"kind": kind, **body})

    def note_feeder(self, symbols: list[str], config: Any, universe: Any | None) -> None:
        """Note the feeder's symbols, ``FeederConfig`` and ``UniverseSpec`` (None: a list)."""
        spec = config_meta(universe) if universe is not None else None
        self.meta("feeder", {"symbols": list(symbols), "config": config_meta(config), "universe": spec})

    def mark(self, name: str, seq: int) -> None:
        """A timer-driven step ``name`` changes state now, after ``seq`` stream results
        (``pacing``): a replay takes the same step there."""
        self.writer.event("mark", time.time_ns(), {"name": name, "seq": seq})

    def stop(self) -> None:
        """The feeder stops delivering md now: a replay ends here (the first call counts)."""
        if not self._stopped:
            self._stopped = True
            self.writer.event("stop", time.time_ns(), {})

    # ------------------------------------------------------------------ WireTap
    def register(self, ws: MexcWsClient) -> int:
        return next(self._clients)

    def connect(self, conn: GuardedClient, dial: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        conn.tap_conn = number = next(self._conns)
        self.writer.event(
            "dial", time.time_ns(), {"conn": number, "url": conn.url, "client": conn.tap_client}
        )
        return self._opened(number, dial())

    async def _opened(self, number: int, opening: Awaitable[Any]) -> Any:
        try:
            connection = await opening
        except BaseException as exc:  # cancelled: ccxt's connection timeout
            timeout = isinstance(exc, TimeoutError) or type(exc).__name__ == "CancelledError"
            body = {"conn": number, "error": f"{type(exc).__name__}: {exc}", "timeout": timeout}
            self.writer.event("dial_error", time.time_ns(), body)
            raise
        self.writer.event("open", time.time_ns(), {"conn": number})
        return connection

    def received(self, conn: GuardedClient, message: Any) -> None:
        kind = message.type
        if kind is _BINARY or kind is _TEXT:
            self.writer.rx(time.time_ns(), conn.tap_conn, message.data, conn.draining)
            return
        body = {"conn": conn.tap_conn, "kind": kind.name.lower(), "data": _plain(message.data)}
        body |= {"extra": _plain(message.extra), "drain": conn.draining}
        self.writer.event("msg", time.time_ns(), body)

    def sent(self, conn: GuardedClient, message: Any) -> None:
        text = message if isinstance(message, str) else orjson.dumps(message).decode()
        self.writer.event("tx", time.time_ns(), {"conn": conn.tap_conn, "text": text})

    def ended(self, conn: GuardedClient, code: int | None, error: BaseException | None) -> None:
        if error is None:
            self.writer.event("close", time.time_ns(), {"conn": conn.tap_conn, "code": code})
        else:
            text = f"{type(error).__name__}: {error}"
            self.writer.event("error", time.time_ns(), {"conn": conn.tap_conn, "error": text})

    # ------------------------------------------------------------------ REST
    def watch_rest(self, exchange: Any) -> None:
        """Record every REST response (and failed request) of ccxt client ``exchange``."""
        tap_rest(exchange, self._rest, self._rest_failure, self._rest_request)

    def _rest_request(self, request: dict[str, Any]) -> None:
        self.writer.event("rest_req", time.time_ns(), request)

    def _rest(self, exchange: dict[str, Any]) -> None:
        self.writer.event("rest", time.time_ns(), exchange)

    def _rest_failure(self, failure: dict[str, Any]) -> None:
        self.writer.event("rest_error", time.time_ns(), failure)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Write what is queued and close the segment (blocking: run it off the event loop)."""
        self.writer.close()
        log.info("recording %s closed: %s", self.session, self.writer.stats())

    def stats(self) -> dict[str, Any]:
        """What was written, dropped and lost (``SegmentWriter.stats``)."""
        return self.writer.stats()
