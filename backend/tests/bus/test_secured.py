"""The shipped ``deploy/nats-server.conf`` on a real nats-server: no anonymous access, each role
only what it needs, refused credentials fail fast, and no secret reaches a log or the stats."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats.errors
import pytest
import pytest_asyncio

from backend.src.bus.codec import encode_bar, encode_md, md_headers
from backend.src.bus.connection import BusAuthError, BusClient, NatsAuth, ensure_md_stream, redact_url
from backend.src.bus.node import FeederNode
from backend.src.bus.publisher import REPUBLISH_MINUTES, BusPublisher
from backend.src.bus.subjects import MD_STREAM, bar_subject, md_subject
from backend.src.bus.subscriber import BusSubscriber
from backend.src.engine.manager import EngineManager
from backend.src.market_data import Bar, make_bar
from backend.tests.bus.conftest import (
    ENGINE_PASSWORD,
    FEEDER_PASSWORD,
    SECURED_CONFIG,
    NatsServer,
    started_server,
)
from backend.tests.bus.fakes import FakeFeeder
from backend.tests.bus.test_feeder_nodes import REPO
from backend.tests.bus.test_md_bus import assert_stopped_engines_accounting, eventually, of, until
from backend.tests.helpers import BarRecorder, Recorder

BTC, ETH = "BTC/USDT", "ETH/USDT"
FEEDER = NatsAuth(user="feeder", password=FEEDER_PASSWORD)
ENGINE = NatsAuth(user="engine", password=ENGINE_PASSWORD)


@pytest_asyncio.fixture
async def client(secured_server: NatsServer) -> AsyncIterator[Callable[..., BusClient]]:
    """Factory of clients of the secured server; all closed after the test."""
    made: list[BusClient] = []

    def make(name: str, auth: NatsAuth | None, url: str = secured_server.url) -> BusClient:
        made.append(BusClient(url, name=name, auth=auth, reconnect_wait=0.1, request_timeout=1.0))
        return made[-1]

    yield make
    for c in made:
        await c.close()


def test_urls_are_redacted() -> None:
    assert redact_url("nats://feeder:s3cr%40t@host:4222") == "nats://feeder:***@host:4222"
    assert redact_url("tls://tok3n@a:1,nats://b:2") == "tls://***@a:1,nats://b:2"
    assert redact_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert "pw" not in repr(NatsAuth(user="u", password="pw", token="pw"))


@pytest.mark.asyncio
async def test_anonymous_and_wrong_credentials_are_refused_at_once(
    client: Callable[..., BusClient],
) -> None:
    loop = asyncio.get_running_loop()
    for auth in (None, NatsAuth(user="engine", password="wrong-pw-x")):
        started = loop.time()
        with pytest.raises(BusAuthError, match="refused the credentials") as refused:
            await client("intruder", auth).connect()
        assert loop.time() - started < 3.0  # not retried forever
        assert "wrong-pw-x" not in str(refused.value)


@pytest.mark.asyncio
async def test_a_read_only_engine_host_waits_for_the_stream_then_receives_md(
    client: Callable[..., BusClient], caplog: pytest.LogCaptureFixture
) -> None:
    subscriber = BusSubscriber(client("engines", ENGINE), [BTC, ETH], retry_s=0.1)
    manager = EngineManager([BTC, ETH], feeder=subscriber, engine_factory=Recorder, queue_size=10_000)
    async with manager:
        # No feeder yet: the stream is missing; the engine host may not create it, so it says so
        # and retries (with backoff) instead of failing or spinning.
        await eventually(lambda: subscriber.counts["setup_errors"] >= 2)
        assert f"stream {MD_STREAM} does not exist" in caplog.text
        feeder = FakeFeeder()
        node = FeederNode(client("feeder", FEEDER), feeder, "A", [BTC, ETH], lease_ttl=1.5)
        run = asyncio.create_task(node.run())
        await eventually(lambda: all(len(of(s, manager.engines[s].seen)) >= 20 for s in (BTC, ETH)), 10)  # type: ignore[attr-defined]
        await node.close()
        await run
    assert_stopped_engines_accounting(manager)
    assert subscriber.rejected == {} and subscriber.client.errors == 0
    stats = node.stats()
    assert stats["publisher"]["publish_errors"] == stats["leases"]["errors"] == 0
    assert node.client.errors == 0  # no permission the feeder needed was denied


@pytest.mark.asyncio
async def test_an_engine_user_cannot_publish_md_or_touch_the_leases(
    client: Callable[..., BusClient],
) -> None:
    feeder = FakeFeeder()
    node = FeederNode(client("feeder", FEEDER), feeder, "A", [BTC], lease_ttl=1.5)
    run = asyncio.create_task(node.run())
    engine = client("engines", ENGINE)
    await engine.connect()

    async def published() -> bool:
        return node.publisher.published > 0 and (await engine.js.stream_info(MD_STREAM)).state.messages > 0

    await until(published, 10)
    # Lease theft while A holds BTC: writing the key or purging the bucket is refused.
    await engine.nc.publish("$KV.levibot_leases.sym.BTC_USDT", b"intruder")
    await engine.nc.flush()
    with pytest.raises(nats.errors.TimeoutError):  # a denied API request gets no answer
        await engine.js.purge_stream("KV_levibot_leases")
    await asyncio.sleep(1.0)  # two lease ticks (TTL/3 each)
    assert node.leases.owned == [BTC] and node.leases.counts["lost"] == node.leases.counts["errors"] == 0
    await node.close()
    await run
    # Forged md: refused by the server, the stream still holds A's last md.
    forged = encode_md(FakeFeeder().make_md(BTC) | {"price": 1.0})
    await engine.nc.publish(md_subject(BTC), forged, headers=md_headers("intruder/x", 10**15))
    await engine.nc.flush()
    await eventually(lambda: engine.errors >= 2)  # the server's "Permissions Violation", twice
    last = await engine.js.get_last_msg(MD_STREAM, md_subject(BTC), direct=True)
    assert (last.headers or {})["Levibot-Source"] == node.publisher.session
    with pytest.raises(nats.errors.TimeoutError):
        await engine.js.add_stream(name="INTRUDER", subjects=["intruder.>"])


async def command(*args: str) -> asyncio.subprocess.Process:
    """``python -m backend.src.bus ARGS`` with every log record (DEBUG) on stderr."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backend.src.bus",
        "--log-level",
        "DEBUG",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.asyncio
async def test_commands_with_credentials_leak_no_secret(secured_server: NatsServer) -> None:
    """The feeder's password in its URL, the engine host's on the command line: neither may
    appear in any log record or the stats JSON, and md flow between the two roles."""
    host = secured_server.url.removeprefix("nats://")
    feed = await command(
        "feed",
        "--nats",
        f"nats://feeder:{FEEDER_PASSWORD}@{host}",
        "--node-id",
        "f1",
        "--sim",
        "--duration",
        "8",
        BTC,
    )
    engines = await command(
        "engines",
        "--nats",
        secured_server.url,
        "--nats-user",
        "engine",
        "--nats-password",
        ENGINE_PASSWORD,
        "--duration",
        "7",
        "--stats-every",
        "1",
        BTC,
    )
    (feed_out, feed_err), (eng_out, eng_err) = await asyncio.wait_for(
        asyncio.gather(feed.communicate(), engines.communicate()), 14
    )
    assert (feed.returncode, engines.returncode) == (0, 0), (feed_err[-2000:], eng_err[-2000:])
    report: dict[str, Any] = json.loads(eng_out)
    assert report["engines"][BTC]["received"] > 0
    assert report["bus"]["connection"]["url"] == secured_server.url
    assert json.loads(feed_out)["publisher"]["connection"]["url"] == f"nats://feeder:***@{host}"
    everything = feed_out + feed_err + eng_out + eng_err
    assert b"DEBUG" in feed_err and b"INFO" in eng_err  # every record was captured
    for secret in (FEEDER_PASSWORD, ENGINE_PASSWORD):
        assert secret.encode() not in everything


@pytest.mark.asyncio
@pytest.mark.parametrize("role", ["feed", "engines"])
async def test_wrong_credentials_exit_non_zero_with_one_line(secured_server: NatsServer, role: str) -> None:
    user = ["--nats-user", "feeder" if role == "feed" else "engine", "--nats-password", "nope-pw"]
    extra = ["--sim", "--node-id", "f1"] if role == "feed" else []
    proc = await command(role, "--nats", secured_server.url, *user, *extra, BTC)
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 1
    errors = [line for line in err.decode().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "BusAuthError" in errors[0] and "refused the credentials" in errors[0]
    assert b"nope-pw" not in err and b"Traceback" not in err


@pytest.mark.asyncio
async def test_a_feeder_trusted_with_eth_only_cannot_move_btc(tmp_path: Path) -> None:
    """The shipped roles narrowed per symbol: a user that may publish ETH's subject only."""
    eth_only = (
        '{ user: feeder_eth, password: "eth-pw-5d1e", permissions: { publish: { allow: ['
        '"md.mexc.spot.ETH_USDT", "$JS.API.STREAM.INFO.LEVIBOT_MD"] }, subscribe: { allow: ["_INBOX.>"] } } }'
    )
    config = tmp_path / "eth-only.conf"
    config.write_text(SECURED_CONFIG.read_text().replace("users = [", f"users = [\n    {eth_only}"))
    server = await started_server(
        tmp_path,
        config=config,
        env={"LEVIBOT_FEEDER_PASSWORD": FEEDER_PASSWORD, "LEVIBOT_ENGINE_PASSWORD": "x"},
    )
    made = [
        BusClient(server.url, name=n, auth=a)
        for n, a in (("f", FEEDER), ("eth", NatsAuth("feeder_eth", "eth-pw-5d1e")))
    ]
    feeder, eth = made
    try:
        await feeder.connect()
        await ensure_md_stream(feeder.js)
        await eth.connect()
        fake = FakeFeeder()
        for symbol in (BTC, ETH):
            await eth.nc.publish(
                md_subject(symbol), encode_md(fake.make_md(symbol)), headers=md_headers("e/1", 1)
            )
        await eth.nc.flush()
        await eventually(lambda: eth.errors == 1)  # BTC's publish refused

        async def stored() -> bool:  # the stream stores a core publish a moment after the flush
            return (await eth.js.stream_info(MD_STREAM)).state.messages >= 1

        await until(stored)
        await asyncio.sleep(0.2)  # BTC's, had it been let through, would be stored by now too
        assert (await feeder.js.stream_info(MD_STREAM, subjects_filter=">")).state.subjects == {
            md_subject(ETH): 1
        }
    finally:
        for c in made:
            await c.close()
        await server.stop()


def make_certificates(directory: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req", "-x509", *key, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test-ca"
    )
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        (directory / f"{name}.ext").write_text(extension + "\n")
        openssl("req", *key, "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-out", f"{name}-cert.pem", "-days", "1", "-extfile", f"{name}.ext",
        )  # fmt: skip


def with_tls(config: str, directory: Path) -> str:
    """The shipped config with its commented ``tls { }`` block switched on, files in ``directory``."""
    lines, inside = [], False
    for line in config.splitlines():
        inside = inside or line.startswith("# tls {")
        if inside:
            line = line.removeprefix("# ").replace("/etc/levibot-nats/", f"{directory}/")
            inside = line != "}"
        lines.append(line)
    return "\n".join(lines)


@pytest.mark.asyncio
async def test_tls_with_client_certificates_carries_md(tmp_path: Path) -> None:
    """The config's TLS block, uncommented: both roles connect over TLS with a client certificate."""
    certs = tmp_path / "certs"
    certs.mkdir()
    make_certificates(certs)
    config = tmp_path / "tls.conf"
    config.write_text(with_tls(SECURED_CONFIG.read_text(), certs))
    assert "verify:    true" in config.read_text() and "\ntls {" in config.read_text()
    env = {"LEVIBOT_FEEDER_PASSWORD": FEEDER_PASSWORD, "LEVIBOT_ENGINE_PASSWORD": ENGINE_PASSWORD}
    server = await started_server(tmp_path, config=config, env=env)
    url = f"tls://127.0.0.1:{server.port}"
    tls = {"tls_ca": str(certs / "ca.pem"), "tls_cert": str(certs / "client-cert.pem")}
    tls["tls_key"] = str(certs / "client-key.pem")
    feeder = BusClient(url, name="feeder", auth=NatsAuth("feeder", FEEDER_PASSWORD, **tls))
    subscriber = BusSubscriber(
        BusClient(url, name="engines", auth=NatsAuth("engine", ENGINE_PASSWORD, **tls)), [BTC]
    )
    publisher = BusPublisher(feeder, source="tls")
    got: list[dict[str, Any]] = []
    run = asyncio.create_task(subscriber.run(got.append))
    try:
        await publisher.start()
        await asyncio.wait_for(subscriber.ready.wait(), 10)
        md = FakeFeeder().make_md(BTC)
        publisher.on_md(md)
        await eventually(lambda: got == [md])
        assert "TLS required for client connections" in server.log.read_text()
    finally:
        await subscriber.close()
        await run
        await publisher.close()
        await feeder.close()
        await subscriber.client.close()
        await server.stop()


def minute_bars(n: int, start: int = 1_767_225_600_000) -> list[Bar]:
    """``n`` closed BTC bars, one a minute, ending well in the past."""
    return [
        make_bar(BTC, [start + i * 60_000, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 1.5], False)
        for i in range(n)
    ]


@pytest.mark.asyncio
async def test_bars_reach_a_late_read_only_engine_host_and_a_restarted_feeder_adds_only_what_is_missing(
    client: Callable[..., BusClient],
) -> None:
    """With the shipped permissions: a feeder publishes a history, a closed bar and a revision;
    an engine host started after them holds them all before its first md, then gets the
    revision; a restarted feeder publishes of its history only the minutes from
    ``REPUBLISH_MINUTES`` before the stream's last bar on, and an engine user cannot publish bars."""
    history = minute_bars(100)
    publisher = BusPublisher(client("feeder", FEEDER), source="f1")
    await publisher.start()
    publisher.on_history(BTC, history[:99])
    publisher.on_bar(history[99])
    publisher.on_md(FakeFeeder().make_md(BTC))
    await eventually(lambda: publisher.stats()["bars_published"] == 100 and publisher.published == 1)

    subscriber = BusSubscriber(client("engines", ENGINE), [BTC], retry_s=0.1)
    manager = EngineManager([BTC], feeder=subscriber, engine_factory=BarRecorder)
    async with manager:
        engine: Any = manager.engines[BTC]
        await eventually(lambda: engine.bars_at_first_md is not None)
        assert engine.bars_at_first_md == 100 and engine.got == []  # history first, and no news
        assert [bar["ts"] for bar in engine.bars] == [bar["ts"] for bar in history]
        revised = history[-1] | {"close": history[-1]["close"] + 0.25, "revision": True}
        publisher.on_bar(revised)
        await eventually(lambda: engine.got == [revised])
        assert engine.bars[-1] == revised

        restarted = BusPublisher(client("feeder-2", FEEDER), source="f1")
        await restarted.start()
        restarted.on_history(BTC, history)
        await eventually(lambda: restarted.stats()["bars_queued"] == 0)
        await restarted.close()
        assert restarted.bars_published == REPUBLISH_MINUTES  # the minutes after ts - 30 min
        await asyncio.sleep(0.2)
        assert len(engine.got) == 2 and engine.got[1] == history[-1] | {"revision": True}  # the feeder's say

        intruder = client("intruder", ENGINE)
        await intruder.connect()
        await intruder.nc.publish(bar_subject(BTC), encode_bar(minute_bars(1, 1_767_300_000_000)[0]))
        await intruder.nc.flush()
        await eventually(lambda: intruder.errors >= 1)  # the server's "Permissions Violation"
    await publisher.close()
    assert subscriber.bar_rejected == {} and subscriber.client.errors == 0
    assert publisher.client.errors == 0 and publisher.stats()["publish_errors"] == 0
    assert manager.stats()["engines"][BTC]["bars"] == 100
