"""The network of a replay: recorded connections and REST answers, handed in at their instants.

Only the transport is replaced, never the parsing: websocket connections are stood in for at
ccxt's ``Client.create_connection`` (through the adapter's ``WireTap``), so ccxt's receive
loop, the library's ``GuardedClient``/fast path/refusal handling and ccxt's handlers decode the
recorded messages exactly as they decoded them live; REST goes through ccxt's own ``fetch``
with an aiohttp-like session whose answers are the recorded bodies, so ccxt's status and error
mapping runs too.

Matching: the n-th dial of websocket client k to a URL gets the n-th recorded connection of
that client and URL (clients are numbered in creation order, as in the live session); a REST
request gets the oldest recorded answer to the same method and URL, at its recorded instant.
A request or dial the recording does not have is never answered (as when the network was
down) and counted: the replay has diverged from the recording there. Messages are delivered at
their recorded receive instants; frames ccxt had drained from aiohttp's buffer in one go are
put into the stand-in's buffer together, so ccxt drains them in one go again.

Recorded data is untrusted: a record missing a field, or naming a connection never dialled,
is counted and skipped with a log line.
"""

from __future__ import annotations

import asyncio
import binascii
import collections
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partialmethod
from typing import TYPE_CHECKING, Any

from aiohttp import WSMessage, WSMsgType

from ..errors import ReplayedNetworkError
from ..log_limits import RateLimitedLog
from .format import REST_FAILURES, rx_payload
from .marks import ReplayPacer
from .virtual_time import sleep_until

if TYPE_CHECKING:
    from ..adapters.mexc_ws_client import GuardedClient, MexcWsClient

log = logging.getLogger(__name__)

#: records are handed to the transport this far (ns) ahead of the replay's clock, so every
#: answer is there before it is asked for; memory holds that much of the recording.
LOOKAHEAD_NS = 10_000_000_000


@dataclass
class RecordedConnection:
    """One recorded dial: how it ended and the messages received on it."""

    number: int
    url: str
    client: int
    #: ("open", t) or ("error", t, text, timeout), once the recording says
    outcome: tuple[Any, ...] | None = None
    #: (t, message, drained) in order, handed in by the pump
    messages: collections.deque[tuple[int, WSMessage, bool]] = field(default_factory=collections.deque)
    #: texts sent on it live, compared with what the replay sends
    sent: collections.deque[str] = field(default_factory=collections.deque)


@dataclass
class TransportStats:
    """What the replay could not match to the recording, or had to skip."""

    dials: int = 0
    rest: int = 0
    unmatched_dials: int = 0
    unmatched_rest: int = 0
    sent_mismatch: int = 0
    corrupt_records: int = 0
    lost_in_recording: int = 0
    #: timer-driven steps taken where live took them (``pacing``), and those without a match
    marks: int = 0
    unmatched_marks: int = 0


class ReplayTransport:
    """Recorded connections and REST answers, fed by :meth:`pump`, served on virtual time."""

    def __init__(self) -> None:
        self.stats = TransportStats()
        self._conns: dict[int, RecordedConnection] = {}
        self._dials: dict[tuple[int, str], collections.deque[RecordedConnection]] = {}
        #: (method, url) → numbers of the live requests to it, in the order they were sent
        self._issued: dict[tuple[str, str], collections.deque[int]] = {}
        #: request number → its recorded answer (``rest`` or ``rest_error``)
        self._answers: dict[int, dict[str, Any]] = {}
        #: where the timer-driven steps go (``pacing``): the adapter's pacer, once it is built
        self.pacer: ReplayPacer | None = None
        self._arrived = asyncio.Event()
        #: the instant (ns) the replay ends at, once the pump has read the whole recording
        self.end: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._corrupt_log = RateLimitedLog(log)
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "dial": self._on_dial,
            "open": self._on_open,
            "dial_error": self._on_dial_error,
            "rx": self._on_rx,
            "msg": self._on_msg,
            "tx": self._on_tx,
            "rest_req": self._on_rest_request,
            "rest": self._on_rest,
            "rest_error": self._on_rest,
            "gap": self._on_gap,
            "mark": self._on_mark,
        }

    # ------------------------------------------------------------------ feeding
    async def pump(self, records: Iterable[dict[str, Any]], now_ns: Callable[[], int]) -> None:
        """Hand ``records`` in, :data:`LOOKAHEAD_NS` ahead of the clock; resolve :attr:`end`
        with the ``stop`` instant (or the last record's) when the recording is read."""
        last = None
        for record in records:
            t = record["t"]
            if t > now_ns() + LOOKAHEAD_NS:
                self._notify()
                await sleep_until(t - LOOKAHEAD_NS // 2)
            if record["type"] == "stop":
                last = t
                break
            last = t
            self.dispatch(record)
        self._notify()
        self.end.set_result(last if last is not None else now_ns())

    def dispatch(self, record: dict[str, Any]) -> None:
        """File one record where the replay will look for it; skip (and count) a corrupt one."""
        handler = self._handlers.get(record["type"])
        if handler is None:
            return  # informative: meta, close, error
        try:
            handler(record)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            self.stats.corrupt_records += 1
            self._corrupt_log.event("corrupt %s record skipped (%r): %.200r", record["type"], exc, record)

    def _notify(self) -> None:
        self._arrived.set()
        self._arrived = asyncio.Event()

    def _conn(self, record: dict[str, Any]) -> RecordedConnection:
        return self._conns[int(record["conn"])]

    def _on_dial(self, record: dict[str, Any]) -> None:
        conn = RecordedConnection(int(record["conn"]), str(record["url"]), int(record["client"]))
        self._conns[conn.number] = conn
        self._dials.setdefault((conn.client, conn.url), collections.deque()).append(conn)

    def _on_open(self, record: dict[str, Any]) -> None:
        self._conn(record).outcome = ("open", record["t"])

    def _on_dial_error(self, record: dict[str, Any]) -> None:
        self._conn(record).outcome = ("error", record["t"], str(record["error"]), bool(record["timeout"]))

    def _on_rx(self, record: dict[str, Any]) -> None:
        payload = rx_payload(record)
        kind = WSMsgType.TEXT if isinstance(payload, str) else WSMsgType.BINARY
        message = WSMessage(kind, payload, None)
        self._conn(record).messages.append((record["t"], message, bool(record.get("drain"))))

    def _on_msg(self, record: dict[str, Any]) -> None:
        kind = WSMsgType[str(record["kind"]).upper()]
        data = record.get("data")
        if kind is WSMsgType.ERROR:
            data = ReplayedNetworkError(data)
        message = WSMessage(kind, data, record.get("extra"))
        self._conn(record).messages.append((record["t"], message, bool(record.get("drain"))))

    def _on_tx(self, record: dict[str, Any]) -> None:
        self._conn(record).sent.append(str(record["text"]))

    def _on_rest_request(self, record: dict[str, Any]) -> None:
        key = (str(record["method"]).upper(), str(record["url"]))
        self._issued.setdefault(key, collections.deque()).append(int(record["req"]))

    def _on_rest(self, record: dict[str, Any]) -> None:
        self._answers[int(record["req"])] = record

    def _on_mark(self, record: dict[str, Any]) -> None:
        if self.pacer is not None:
            self.pacer.add(str(record["name"]), int(record["t"]), int(record["seq"]))

    def _on_gap(self, record: dict[str, Any]) -> None:
        self.stats.lost_in_recording += int(record["lost"])
        log.warning("the recording lost %s records here: the replay is not exact from now on", record["lost"])

    async def _arrival(self) -> bool:
        """Wait for the pump's next batch; False when the recording is read through."""
        if self.end.done():
            return False
        await self._arrived.wait()
        return True

    # ------------------------------------------------------------------ websocket side
    async def dial(self, conn: GuardedClient) -> ReplayWebSocket:
        """Open ``conn`` as the recording says its dial went (see the module doc)."""
        self.stats.dials += 1
        key = (conn.tap_client, conn.url)
        while not (queue := self._dials.get(key)):
            if not await self._arrival():
                self.stats.unmatched_dials += 1
                log.warning("no recorded connection for dial #%d of client %d to %s", self.stats.dials, *key)
                await asyncio.get_running_loop().create_future()  # never answered, as on a dead network
        recorded = queue.popleft()
        conn.tap_conn = recorded.number
        while recorded.outcome is None:
            if not await self._arrival():
                await asyncio.get_running_loop().create_future()  # the recording ends mid-dial
        await sleep_until(recorded.outcome[1])
        if recorded.outcome[0] == "error":
            _, _, text, timeout = recorded.outcome
            if timeout:  # ccxt's own connection timeout fires, as it did live
                await asyncio.get_running_loop().create_future()
            raise ReplayedNetworkError(text)
        return ReplayWebSocket(self, recorded, conn)

    def sent(self, recorded: RecordedConnection, text: str) -> None:
        """Compare what the replay sends with what was sent live on that connection."""
        expected = recorded.sent.popleft() if recorded.sent else None
        if expected != text:
            self.stats.sent_mismatch += 1
            if self.stats.sent_mismatch <= 3:
                log.warning(
                    "replay sent %.120r on connection %d; live sent %.120r", text, recorded.number, expected
                )

    # ------------------------------------------------------------------ REST side
    async def answer(self, method: str, url: str) -> ReplayResponse:
        """The answer the same request (the n-th to this method and URL) got live, at its
        recorded instant; never, if it got none."""
        self.stats.rest += 1
        key = (method.upper(), url)
        while not (issued := self._issued.get(key)):
            if not await self._arrival():
                self.stats.unmatched_rest += 1
                log.warning("the recording has no request %s %s: never answered", method, url)
                await asyncio.get_running_loop().create_future()
        req = issued.popleft()
        while (record := self._answers.pop(req, None)) is None:
            if not await self._arrival():  # cancelled or unanswered live: the same here
                await asyncio.get_running_loop().create_future()
        await sleep_until(record["t"])
        if record["type"] == "rest_error":
            failure = dict(REST_FAILURES).get(str(record.get("kind")), ConnectionError)
            raise failure(str(record.get("error", "")))
        return ReplayResponse(int(record["status"]), str(record["reason"]), record["headers"], record["body"])

    def session(self) -> ReplaySession:
        """The aiohttp-like session ccxt's REST client sends its requests through."""
        return ReplaySession(self)


class ReplayWebSocket:
    """Stands in for aiohttp's ``ClientWebSocketResponse`` on one recorded connection.

    ccxt's receive loop reads one message per ``receive`` and, when aiohttp's buffer holds
    several, handles all but the last in one go (no other task runs between them). The stand-in
    has no buffer for ccxt to drain (``_conn`` None); frames recorded as drained are handed to
    the connection's ``handle_message`` in one go at the first one's instant instead, as ccxt's
    drain did, and the frame after them is returned by ``receive`` at its own instant.
    """

    _conn = None  # ccxt's ``Client.buffer`` reads aiohttp's buffer through it: none here

    def __init__(
        self, transport: ReplayTransport, recorded: RecordedConnection, client: GuardedClient
    ) -> None:
        self._transport = transport
        self._recorded = recorded
        self._client = client
        self._closed = False
        self._closed_event = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed

    async def receive(self) -> WSMessage:
        messages = self._recorded.messages
        while True:
            while not messages:  # wait for the pump's next batch, or for ccxt to close us
                if self._closed:
                    return WSMessage(WSMsgType.CLOSED, None, None)
                waits = {asyncio.ensure_future(self._closed_event.wait())}
                if not self._transport.end.done():
                    waits.add(asyncio.ensure_future(self._transport._arrival()))
                _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for waiting in pending:
                    waiting.cancel()
            t, message, drained = messages.popleft()
            await sleep_until(t)
            if not drained:
                if message.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
                    self._closed = True  # aiohttp is closed once it reports so
                return message
            self._client.handle_message(message)  # ccxt's drain: the whole run, in one go
            while messages and messages[0][2]:
                self._client.handle_message(messages.popleft()[1])

    async def send_str(self, data: str, compress: int | None = None) -> None:
        self._transport.sent(self._recorded, data)

    async def ping(self, message: bytes = b"") -> None:
        """Protocol pings: nothing goes anywhere in a replay."""

    async def pong(self, message: bytes = b"") -> None:
        """Protocol pongs: nothing goes anywhere in a replay."""

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self._closed = True
        self._closed_event.set()
        return True


@dataclass
class ReplayResponse:
    """Stands in for an aiohttp response: what ccxt's ``fetch`` reads of it."""

    status: int
    reason: str
    headers: dict[str, str]
    body: str

    async def text(self, errors: str = "strict") -> str:
        return self.body

    @property
    def content(self) -> bytes:
        return self.body.encode()


class _Request:
    """``async with session.get(url, ...) as response``: the recorded answer."""

    def __init__(self, transport: ReplayTransport, method: str, url: str) -> None:
        self._transport, self._method, self._url = transport, method, url

    async def __aenter__(self) -> ReplayResponse:
        return await self._transport.answer(self._method, self._url)

    async def __aexit__(self, *exc: object) -> None:
        return None


class ReplaySession:
    """Stands in for ccxt's aiohttp session (``MexcConfig.ccxt_config['session']``)."""

    closed = False

    def __init__(self, transport: ReplayTransport) -> None:
        self._transport = transport
        #: default request headers (ccxt adds them to every request)
        self.headers: dict[str, str] = {}

    def request(self, method: str, url: Any, **_: Any) -> _Request:
        """``async with session.request(method, url, ...)``: the recorded answer."""
        return _Request(self._transport, method, str(url))

    # what ccxt's fetch calls: ``getattr(session, method.lower())(url, data=..., headers=...)``
    get = partialmethod(request, "GET")
    post = partialmethod(request, "POST")
    put = partialmethod(request, "PUT")
    delete = partialmethod(request, "DELETE")

    async def close(self) -> None:
        """Nothing to release."""


class ReplayWire:
    """The adapter's ``WireTap`` in a replay: dials go to the transport, nothing is recorded."""

    def __init__(self, transport: ReplayTransport) -> None:
        self._transport = transport
        self._clients = itertools.count(1)

    def register(self, ws: MexcWsClient) -> int:
        return next(self._clients)

    def connect(self, conn: GuardedClient, dial: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        return self._transport.dial(conn)

    def received(self, conn: GuardedClient, message: Any) -> None:
        """Nothing to record: the message came from the recording."""

    def sent(self, conn: GuardedClient, message: Any) -> None:
        """Compared by the stand-in connection (what ccxt sends reaches its ``send_str``)."""

    def ended(self, conn: GuardedClient, code: int | None, error: BaseException | None) -> None:
        """The replayed messages close connections as they did live."""

