"""One NATS connection that rides out server restarts, and the md stream definition.

Why a wrapper: publisher, leases and subscriber must all survive a NATS restart, and nats-py
takes a single ``reconnected_cb``; this class owns the connection options that make the client
retry forever (also for the first connect, so a feeder can start before the server), counts
disconnects/reconnects/errors, and fans the reconnect event out to whoever must redo
server-side setup (the md stream may have to be re-created on an empty server).

Only the bus package imports this module, so the embedded default path never imports ``nats``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import BadRequestError

from ..errors import BusClosedError
from ..log_limits import RateLimitedLog
from .subjects import MD_STREAM, MD_STREAM_SUBJECTS

log = logging.getLogger(__name__)

#: JetStream API error code "stream name already in use with a different configuration".
STREAM_NAME_IN_USE = 10058

MD_STREAM_CONFIG = StreamConfig(
    name=MD_STREAM,
    description="levibot md: the last md of every symbol (subjects md.<exchange>.<market>.<BASE>_<QUOTE>)",
    subjects=[MD_STREAM_SUBJECTS],
    max_msgs_per_subject=1,
    discard=DiscardPolicy.OLD,
    storage=StorageType.FILE,
    allow_direct=True,
)


class BusClient:
    """A NATS connection with reconnect-forever options and reconnect listeners."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        reconnect_wait: float = 0.5,
        request_timeout: float = 2.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.name = name
        self.reconnect_wait = reconnect_wait
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.disconnects = 0
        self.reconnects = 0
        self.errors = 0
        self._nc: NATS | None = None
        self._connecting: asyncio.Future[NATS] | None = None
        self._closed = False
        self._js: JetStreamContext | None = None
        self._connected = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._error_log = RateLimitedLog(log, 10.0)

    @property
    def nc(self) -> NATS:
        if self._nc is None:
            raise BusClosedError(f"{self.name}: closed") if self._closed else RuntimeError("connect() first")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise BusClosedError(f"{self.name}: closed") if self._closed else RuntimeError("connect() first")
        return self._js

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def on_reconnect(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (sync, must not block) after every reconnect."""
        self._listeners.append(listener)

    async def connect(self) -> None:
        """Connect, retrying until the server answers (or :meth:`close`); idempotent."""
        if self._closed:
            raise BusClosedError(f"{self.name}: the bus client was closed")
        if self._nc is not None:
            return
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(
                nats.connect(
                    servers=[self.url],
                    name=self.name,
                    connect_timeout=self.connect_timeout,
                    reconnect_time_wait=self.reconnect_wait,
                    max_reconnect_attempts=-1,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
            )
        try:
            nc = await asyncio.shield(self._connecting)  # one attempt, whoever waits for it
        except asyncio.CancelledError:
            if self._closed:
                raise BusClosedError(f"{self.name}: closed before NATS {self.url} answered") from None
            raise
        if self._nc is None:
            self._nc, self._js = nc, nc.jetstream(timeout=self.request_timeout)
            self._connected.set()
            log.info("%s: connected to NATS %s", self.name, self.url)

    async def _on_error(self, exc: Exception) -> None:
        self.errors += 1
        self._error_log.event("%s: NATS error (%d so far): %r", self.name, self.errors, exc)

    async def _on_disconnected(self) -> None:
        if self._connected.is_set():
            self.disconnects += 1
            log.warning("%s: disconnected from NATS %s; reconnecting", self.name, self.url)
        self._connected.clear()

    async def _on_reconnected(self) -> None:
        self.reconnects += 1
        self._connected.set()
        log.info("%s: reconnected to NATS %s (reconnect %d)", self.name, self.url, self.reconnects)
        for listener in self._listeners:
            listener()

    def stats(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "connected": self.connected,
            "disconnects": self.disconnects,
            "reconnects": self.reconnects,
            "errors": self.errors,
        }

    async def close(self) -> None:
        """Flush what was published and close (or give up connecting); idempotent, final."""
        self._closed = True
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        nc, self._nc, self._js = self._nc, None, None
        self._connected.clear()
        if nc is not None and not nc.is_closed:
            await nc.close()


async def ensure_md_stream(js: JetStreamContext) -> StreamInfo:
    """Create the md stream, or keep an existing one (with a warning if configured differently).

    Why not update a differing stream: an operator may have tuned it (e.g. ``max_age``); the bus
    only needs it to capture ``md.mexc.>`` and keep the last md per subject.
    """
    try:
        return await js.add_stream(MD_STREAM_CONFIG)
    except BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
    info = await js.stream_info(MD_STREAM)
    log.warning(
        "stream %s exists with another configuration (subjects %s, max_msgs_per_subject %s); kept as is",
        MD_STREAM,
        info.config.subjects,
        info.config.max_msgs_per_subject,
    )
    return info
