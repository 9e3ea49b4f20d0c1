"""TCP-level gate in front of aiohttp: refuse or abort connections like a dead host would.

HTTP error codes are not enough to test "exchange unreachable": ccxt must see a network
error. The gate wraps aiohttp's protocol factory, so while it is closed every new TCP
connection (plain HTTP or a websocket upgrade) is reset right after accept, and existing
connections can be reset too.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


def abort_transport(transport: asyncio.BaseTransport | None) -> None:
    """Drop a TCP connection without a websocket close frame or FIN (an RST)."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        except OSError:  # already gone
            pass
    transport.abort()  # type: ignore[attr-defined]


class _Refuser(asyncio.Protocol):
    """Accepts and immediately resets: what the client sees is a refused/reset connection."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        abort_transport(transport)


class TcpGate:
    """Decides per accepted connection whether aiohttp gets it."""

    def __init__(self) -> None:
        self.refuse_until = 0.0  # time.monotonic()
        self.refused = 0
        self._server: web.Server | None = None

    @property
    def refusing(self) -> bool:
        return time.monotonic() < self.refuse_until

    def refuse_for(self, seconds: float) -> None:
        self.refuse_until = time.monotonic() + seconds

    def abort_all(self) -> None:
        """Reset every open TCP connection (keep-alive HTTP and websockets alike)."""
        # aiohttp's Server tracks its live RequestHandlers (private, but the only registry;
        # RequestHandler has __slots__ without __weakref__, so we cannot keep our own).
        for proto in list(getattr(self._server, "_connections", ())):
            abort_transport(getattr(proto, "transport", None))

    def wrap(self, factory: web.Server) -> Any:
        self._server = factory

        def make_protocol() -> asyncio.BaseProtocol:
            if self.refusing:
                self.refused += 1
                return _Refuser()
            return factory()

        return make_protocol


class GatedSite(web.SockSite):
    """``SockSite`` whose accepted connections pass through a :class:`TcpGate`."""

    def __init__(self, runner: web.BaseRunner, sock: socket.socket, gate: TcpGate) -> None:
        super().__init__(runner, sock)
        self._gate = gate

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._gate.wrap(server), sock=self._sock, backlog=self._backlog
        )
