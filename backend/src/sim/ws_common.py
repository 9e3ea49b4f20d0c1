"""What the spot (``/ws``) and contract (``/edge``) websockets have in common.

Connection bookkeeping, a per-connection sender task (so one slow or dead client never
stalls the market loop or the other clients), subscriber indexes, MEXC's connection limits
(no valid subscription, no ping/data, maximum lifetime) and the fault actions on live
sockets. Subclasses only speak their protocol: parse client text, build pushes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from .config import SimContext
from .market_model import SymbolEvents
from .net import abort_transport

log = logging.getLogger(__name__)

_conn_ids = itertools.count(1)


@dataclass(slots=True)
class OutFrame:
    """A frame queued for one connection. ``channel`` None marks a control frame
    (ack, pong, error) that is neither silenced nor counted as data."""

    payload: str | bytes
    channel: str | None = None
    kind: str = ""
    symbol: str | None = None
    items: int = 0
    seq: int | None = None


class WsConnection:
    """One client websocket with its subscriptions and limit timers (monotonic seconds)."""

    def __init__(
        self, path: str, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None, max_queue: int
    ) -> None:
        self.id = next(_conn_ids)
        self.path = path
        self.ws = ws
        self.transport = transport
        self.subs: dict[str, Any] = {}
        now = time.monotonic()
        self.opened = now
        self.last_client = now
        self.subs_empty_since: float | None = now
        self.queue: asyncio.Queue[OutFrame] = asyncio.Queue()
        self.max_queue = max_queue
        self.overflowed = False

    def send(self, frame: OutFrame) -> None:
        """Queue a frame; a client that falls ``max_queue`` frames behind is cut off."""
        if self.ws.closed or self.overflowed:
            return
        if self.queue.qsize() >= self.max_queue:
            self.overflowed = True
            log.warning("connection %s fell %s frames behind; dropping it", self.id, self.max_queue)
            abort_transport(self.transport)
            return
        self.queue.put_nowait(frame)


class WsEndpoint(ABC):
    """Base of the two websocket endpoints; see the module docstring."""

    path: ClassVar[str]

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.conns: dict[int, WsConnection] = {}
        self._subscribers: dict[str, set[WsConnection]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- connection life ---------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler: upgrade, read client frames until the socket ends."""
        opts = self.ctx.options
        ws = web.WebSocketResponse(autoping=True, compress=opts.ws_compress, timeout=opts.ws_close_timeout)
        await ws.prepare(request)
        conn = WsConnection(self.path, ws, request.transport, opts.max_queue)
        self.conns[conn.id] = conn
        self.ctx.recorder.open(conn.id, self.path, self.ctx.clock.now_ms())
        sender = asyncio.create_task(self._sender(conn), name=f"sim-ws-sender-{conn.id}")
        log.debug("ws %s connected on %s", conn.id, self.path)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    conn.last_client = time.monotonic()
                    self.on_text(conn, msg.data)
        finally:
            self._forget(conn)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            reason = f"closed code={ws.close_code}"
            self.ctx.recorder.close(conn.id, self.ctx.clock.now_ms(), reason)
            log.debug("ws %s %s", conn.id, reason)
        return ws

    async def _sender(self, conn: WsConnection) -> None:
        recorder, clock = self.ctx.recorder, self.ctx.clock
        try:
            while True:
                frame = await conn.queue.get()
                if isinstance(frame.payload, bytes):
                    await conn.ws.send_bytes(frame.payload)
                else:
                    await conn.ws.send_str(frame.payload)
                if frame.channel is not None:
                    recorder.sent(
                        conn.id,
                        frame.channel,
                        kind=frame.kind,
                        symbol=frame.symbol,
                        items=frame.items,
                        seq=frame.seq,
                        now_ms=clock.now_ms(),
                    )
        except (ConnectionError, RuntimeError) as exc:  # socket went away under us
            log.debug("ws %s sender stopped: %r", conn.id, exc)

    def _forget(self, conn: WsConnection) -> None:
        self.conns.pop(conn.id, None)
        for key in list(conn.subs):
            self.unsubscribe(conn, key)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a background coroutine that ``shutdown`` waits for."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self) -> None:
        await self.close_all(1001)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- subscriptions -----------------------------------------------------------------

    def subscribe(self, conn: WsConnection, key: str, sub: Any = True) -> None:
        conn.subs[key] = sub
        conn.subs_empty_since = None
        self._subscribers.setdefault(key, set()).add(conn)

    def unsubscribe(self, conn: WsConnection, key: str) -> bool:
        if conn.subs.pop(key, None) is None:
            return False
        subscribers = self._subscribers.get(key)
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self._subscribers[key]
        if not conn.subs:
            conn.subs_empty_since = time.monotonic()
        return True

    def subscribers(self, key: str) -> set[WsConnection]:
        return self._subscribers.get(key) or set()

    def push(self, key: str, build: Any) -> None:
        """Send ``build()`` (an OutFrame, built only if someone listens) to subscribers."""
        conns = self._subscribers.get(key)
        if not conns:
            return
        frame: OutFrame | None = None
        faults = self.ctx.faults
        for conn in list(conns):
            if faults.silence_rules and faults.is_silenced(conn.path, key):
                continue
            if frame is None:
                frame = build()
            conn.send(frame)

    def answer_ping(self, conn: WsConnection, pong: str) -> None:
        answered = self.ctx.faults.answers_pings(self.path)
        self.ctx.recorder.ping(conn.id, answered)
        if answered:
            conn.send(OutFrame(pong))

    # -- limits ------------------------------------------------------------------------

    def enforce_limits(self) -> None:
        """Close connections MEXC would close: no subscription, idle, or too old."""
        opts = self.ctx.options
        now = time.monotonic()
        for conn in list(self.conns.values()):
            reason = None
            if now - conn.opened > opts.max_lifetime:
                reason = "max lifetime"
            elif conn.subs_empty_since is not None and now - conn.subs_empty_since > opts.no_sub_timeout:
                reason = "no valid subscription"
            elif now - conn.last_client > opts.idle_timeout:
                reason = "no ping or data"
            if reason is not None:
                log.info("closing ws %s on %s: %s", conn.id, self.path, reason)
                self._forget(conn)
                self.spawn(conn.ws.close(code=1000, message=reason.encode()))

    # -- fault actions -----------------------------------------------------------------

    async def close_all(self, code: int) -> int:
        conns = list(self.conns.values())
        for conn in conns:
            self._forget(conn)
        await asyncio.gather(*(c.ws.close(code=code) for c in conns), return_exceptions=True)
        return len(conns)

    def drop_all(self) -> int:
        conns = list(self.conns.values())
        for conn in conns:
            self._forget(conn)
            abort_transport(conn.transport)
        return len(conns)

    async def send_malformed(self, kind: str) -> int:
        return await self._send_each(lambda conn: self.malformed_frame(kind, conn))

    async def send_raw(self, frame: str | bytes) -> int:
        return await self._send_each(lambda _conn: frame)

    async def _send_each(self, build: Callable[[WsConnection], str | bytes]) -> int:
        """Send ``build(conn)`` on every open connection; returns how many."""
        conns = list(self.conns.values())
        for conn in conns:
            conn.send(OutFrame(build(conn)))
        await asyncio.sleep(0)  # let the senders run
        return len(conns)

    # -- protocol ----------------------------------------------------------------------

    @abstractmethod
    def on_text(self, conn: WsConnection, text: str) -> None:
        """Handle one client text frame (subscribe, unsubscribe, ping)."""

    @abstractmethod
    def publish(self, events: list[SymbolEvents], now_ms: int) -> None:
        """Turn one market step into pushes for the subscribers."""

    @abstractmethod
    def malformed_frame(self, kind: str, conn: WsConnection) -> str | bytes:
        """A bad frame of the given kind for this protocol."""
