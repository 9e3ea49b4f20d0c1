"""One NATS connection that rides out server restarts, and the md and bar stream definitions.

Why a wrapper: publisher, leases and subscriber must all survive a NATS restart, and nats-py
takes a single ``reconnected_cb``; this class owns the connection options that make the client
retry forever (also for the first connect, so a feeder can start before the server), counts
disconnects/reconnects/errors, and fans the reconnect event out to whoever must redo
server-side setup (the md stream may have to be re-created on an empty server).

It also owns how the client proves who it is (:class:`NatsAuth`: user/password, token, creds
file, nkey seed, TLS) and keeps every secret out of logs, stats and exception messages: the URL
it shows is :func:`redact_url`'s, and every NATS error it logs is scrubbed of the secrets. Wrong
credentials on the first connect are fatal (:class:`BusAuthError`) instead of retried forever,
since no retry can fix them.

Only the bus package imports this module, so the embedded default path never imports ``nats``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import BadRequestError

from ..errors import BusClosedError, BusError, UsageError
from ..log_limits import RateLimitedLog
from .subjects import BAR_STREAM, BAR_STREAM_SUBJECTS, MD_STREAM, MD_STREAM_SUBJECTS

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

#: Messages the bar stream keeps per symbol: the 1500 bars of history an engine keeps
#: (``Engine.bars``), plus room for the messages that repeat a minute (a backfill's revisions,
#: the minutes a restarted feeder publishes again), so the newest 1500 distinct minutes are
#: still there after them.
BAR_STREAM_DEPTH = 2000

BAR_STREAM_CONFIG = StreamConfig(
    name=BAR_STREAM,
    description="levibot bars: the last closed 1 m bars of every symbol (bars.mexc.spot.<BASE>_<QUOTE>)",
    subjects=[BAR_STREAM_SUBJECTS],
    max_msgs_per_subject=BAR_STREAM_DEPTH,
    discard=DiscardPolicy.OLD,
    storage=StorageType.FILE,
    allow_direct=True,
)


class BusAuthError(BusError):
    """The server refused our credentials (or demanded some): retrying cannot help."""


def redact_url(url: str) -> str:
    """``nats://user:pass@host`` → ``nats://user:***@host`` and ``nats://token@host`` →
    ``nats://***@host`` (each of a comma-separated server list), for logs and stats."""
    parts = []
    for server in url.split(","):
        split = urlsplit(server.strip())
        if "@" not in split.netloc:
            parts.append(server.strip())
            continue
        userinfo, host = split.netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        shown = f"{user}:***" if has_password else "***"
        parts.append(split._replace(netloc=f"{shown}@{host}").geturl())
    return ",".join(parts)


def url_secrets(url: str) -> list[str]:
    """Password or token carried in the URL(s), raw and percent-decoded."""
    found = []
    for server in url.split(","):
        netloc = urlsplit(server.strip()).netloc
        if "@" in netloc:
            userinfo = netloc.rsplit("@", 1)[0]
            user, has_password, password = userinfo.partition(":")
            secret = password if has_password else user
            found += [secret, unquote(secret)]
    return [s for s in found if s]


@dataclass(frozen=True)
class NatsAuth:
    """Credentials and TLS settings for the NATS connection (all optional).

    ``creds_file`` (a decentralized-auth ``.creds``: user JWT + nkey seed) and ``nkey_file`` (an
    nkey seed, for servers that list the user's public nkey) need the ``nkeys`` package
    (``pip install 'nats-py[nkeys]'``). ``tls_ca`` verifies the server (else the system CAs when
    the URL is ``tls://``); ``tls_cert``/``tls_key`` are the client certificate, for servers that
    verify clients. Secrets are kept out of ``repr``.
    """

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    creds_file: str | None = None
    nkey_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    def connect_options(self) -> dict[str, Any]:
        """The keyword arguments of ``nats.connect`` for these settings."""
        options: dict[str, Any] = {}
        if self.user is not None:
            options["user"] = self.user
        if self.password is not None:
            options["password"] = self.password
        if self.token is not None:
            options["token"] = self.token
        if (self.creds_file or self.nkey_file) and importlib.util.find_spec("nkeys") is None:
            raise UsageError(
                "--nats-creds and --nats-nkey need the nkeys package: pip install 'nats-py[nkeys]'"
            )
        if self.creds_file is not None:
            _check_key_file(self.creds_file, "--nats-creds")
            options["user_credentials"] = self.creds_file
        if self.nkey_file is not None:
            _check_key_file(self.nkey_file, "--nats-nkey")
            options["nkeys_seed"] = self.nkey_file
        if self.tls_ca is not None or self.tls_cert is not None:
            try:
                context = ssl.create_default_context(cafile=self.tls_ca)
                if self.tls_cert is not None:
                    context.load_cert_chain(self.tls_cert, self.tls_key)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"cannot load the NATS TLS files: {exc}") from exc
            options["tls"] = context
        return options

    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.token) if s]


def _check_key_file(path: str, option: str) -> None:
    """Raise :class:`UsageError` unless ``path`` is a readable nkey seed (``--nats-nkey``) or
    ``.creds`` file (``--nats-creds``). nats-py reads them only while connecting, where a bad
    file is a raw traceback (seed) or retried forever (creds; one without its JWT even hangs its
    reader), so they are checked up front. The message never quotes the file's content."""
    import nkeys

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UsageError(f"cannot read the {option} file: {exc}") from exc
    if option == "--nats-creds":
        if b"BEGIN NATS USER JWT" not in data or b"BEGIN USER NKEY SEED" not in data:
            raise UsageError(f"{option} {path}: not a NATS .creds file (user JWT and nkey seed)")
        return
    try:
        nkeys.from_seed(bytearray(data.strip()))
    except (nkeys.NkeysError, ValueError, TypeError) as exc:
        raise UsageError(f"{option} {path}: not an nkey seed ({type(exc).__name__})") from None


def _is_auth_error(exc: BaseException) -> bool:
    """nats-py reports a refused CONNECT as ``AuthorizationError`` (or, for some server
    messages, a plain error naming the violation)."""
    text = str(exc).lower()
    return isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in text


class BusClient:
    """A NATS connection with reconnect-forever options and reconnect listeners."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        auth: NatsAuth | None = None,
        reconnect_wait: float = 0.5,
        request_timeout: float = 2.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self._servers = url
        self._auth = auth or NatsAuth()
        self._secrets = sorted({*url_secrets(url), *self._auth.secrets()}, key=len, reverse=True)
        #: the server URL with any password or token masked: the only form logged or reported
        self.url = redact_url(url)
        self.name = name
        self.reconnect_wait = reconnect_wait
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.disconnects = 0
        self.reconnects = 0
        self.errors = 0
        self._nc: NATS | None = None
        #: the client of the first connect while it runs: closed if that connect is abandoned,
        #: or its reader, pinger and flusher tasks would outlive it and fail unobserved
        self._pending: NATS | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._closed = False
        self._js: JetStreamContext | None = None
        self._connected = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._error_log = RateLimitedLog(log, 10.0)
        self._refused: BusAuthError | None = None

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this connection masked (for errors we log or raise)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

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
            options = self._auth.connect_options()  # may refuse unusable key files: no client yet
            self._pending = NATS()
            self._connecting = asyncio.ensure_future(
                self._pending.connect(
                    servers=self._servers.split(","),
                    name=self.name,
                    connect_timeout=self.connect_timeout,
                    reconnect_time_wait=self.reconnect_wait,
                    max_reconnect_attempts=-1,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    **options,
                )
            )
        try:
            await asyncio.shield(self._connecting)  # one attempt, whoever waits for it
        except asyncio.CancelledError:
            await self._abandon_pending()
            if self._refused is not None:
                raise self._refused from None
            if self._closed:
                raise BusClosedError(f"{self.name}: closed before NATS {self.url} answered") from None
            raise
        nc, self._pending = self._pending, None
        if self._nc is None and nc is not None:
            self._nc, self._js = nc, nc.jetstream(timeout=self.request_timeout)
            self._connected.set()
            log.info("%s: connected to NATS %s", self.name, self.url)

    async def _abandon_pending(self) -> None:
        """Close the client of a connect that was given up (refused credentials, close())."""
        nc, self._pending = self._pending, None
        # nats-py's close() asserts on a client whose connect never got as far as its queues
        if nc is not None and not nc.is_closed and getattr(nc, "_flush_queue", None) is not None:
            await nc.close()

    async def _on_error(self, exc: Exception) -> None:
        self.errors += 1
        if _is_auth_error(exc) and self._nc is None and self._connecting is not None:
            reason = self.scrub(str(exc)) or type(exc).__name__
            self._refused = BusAuthError(
                f"NATS {self.url} refused the credentials of {self.name} ({reason}): "
                "check --nats-user/--nats-password, --nats-creds or --nats-nkey"
            )
            self._connecting.cancel()  # the first connect: no retry can fix credentials
        self._error_log.event("%s: NATS error (%d so far): %s", self.name, self.errors, self.scrub(repr(exc)))

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
        await self._abandon_pending()
        nc, self._nc, self._js = self._nc, None, None
        self._connected.clear()
        if nc is not None and not nc.is_closed:
            await nc.close()


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> StreamInfo:
    """Create the stream of ``config``, or keep an existing one (with a warning if configured
    differently).

    Why not update a differing stream: an operator may have tuned it (e.g. ``max_age``); the bus
    only needs it to capture its subjects and keep the last messages per subject.
    """
    try:
        return await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
    info = await js.stream_info(config.name)
    log.warning(
        "stream %s exists with another configuration (subjects %s, max_msgs_per_subject %s); kept as is",
        config.name,
        info.config.subjects,
        info.config.max_msgs_per_subject,
    )
    return info


async def ensure_md_stream(js: JetStreamContext) -> StreamInfo:
    """Create (or keep) the md stream ``LEVIBOT_MD``."""
    return await ensure_stream(js, MD_STREAM_CONFIG)


async def ensure_bar_stream(js: JetStreamContext) -> StreamInfo:
    """Create (or keep) the bar stream ``LEVIBOT_BARS``."""
    return await ensure_stream(js, BAR_STREAM_CONFIG)
