"""``--nats-nkey`` and ``--nats-creds`` on a real nats-server: users known by their public nkey
(the shipped roles, granted to nkeys instead of passwords), a wrong seed refused at once, a
``.creds`` file of a user issued by a self-made operator and account, and unusable key files
reported as a usage error instead of a traceback or endless retries."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys
import pytest
import pytest_asyncio

from backend.src.bus.codec import encode_md, md_headers
from backend.src.bus.connection import BusAuthError, BusClient, NatsAuth, ensure_md_stream
from backend.src.bus.subjects import MD_STREAM, md_subject
from backend.src.errors import UsageError
from backend.tests.bus.conftest import (
    ENGINE_PASSWORD,
    FEEDER_PASSWORD,
    SECURED_CONFIG,
    NatsServer,
    started_server,
)
from backend.tests.bus.fakes import FakeFeeder
from backend.tests.bus.test_md_bus import eventually
from backend.tests.bus.test_secured import command

BTC = "BTC/USDT"
PASSWORDS = {"LEVIBOT_FEEDER_PASSWORD": FEEDER_PASSWORD, "LEVIBOT_ENGINE_PASSWORD": ENGINE_PASSWORD}


@dataclass(frozen=True)
class Key:
    """An nkey pair: the secret seed (``S...``) and its public key (``U...``, ``A...``, ``O...``)."""

    seed: str
    public: str

    @classmethod
    def new(cls, prefix: int = nkeys.PREFIX_BYTE_USER) -> Key:
        """A fresh key pair (python nkeys has no generator: a seed is 32 random bytes, encoded)."""
        seed = nkeys.encode_seed(os.urandom(32), prefix)
        return cls(seed.decode(), nkeys.from_seed(bytearray(seed)).public_key.decode())

    def write(self, path: Path) -> str:
        path.write_text(self.seed + "\n")
        path.chmod(0o600)
        return str(path)

    def sign(self, data: bytes) -> bytes:
        return nkeys.from_seed(bytearray(self.seed.encode())).sign(data)


@dataclass(frozen=True)
class NkeySetup:
    server: NatsServer
    feeder_seed: str  # seed files of the users granted the shipped FEEDER and ENGINE roles
    engine_seed: str
    seeds: tuple[str, ...]  # the secrets, which must never be shown


@pytest_asyncio.fixture
async def nkey_setup(tmp_path: Path) -> AsyncIterator[NkeySetup]:
    """The shipped config plus two users known only by their public nkey, one per role."""
    feeder, engine = Key.new(), Key.new()
    users = f"users = [\n    {{ nkey: {feeder.public}, permissions: $FEEDER }}\n"
    users += f"    {{ nkey: {engine.public}, permissions: $ENGINE }}\n"
    config = tmp_path / "nkeys.conf"
    config.write_text(SECURED_CONFIG.read_text().replace("users = [\n", users))
    assert feeder.public in config.read_text() and feeder.seed not in config.read_text()
    server = await started_server(tmp_path, config=config, env=PASSWORDS)
    yield NkeySetup(
        server,
        feeder.write(tmp_path / "feeder.nk"),
        engine.write(tmp_path / "engine.nk"),
        (feeder.seed, engine.seed),
    )
    await server.stop()


@pytest_asyncio.fixture
async def clients() -> AsyncIterator[Callable[..., BusClient]]:
    made: list[BusClient] = []

    def make(url: str, name: str, auth: NatsAuth) -> BusClient:
        made.append(BusClient(url, name=name, auth=auth, reconnect_wait=0.1, request_timeout=1.0))
        return made[-1]

    yield make
    for c in made:
        await c.close()


@pytest.mark.asyncio
async def test_nkey_users_get_their_roles_and_move_md(
    nkey_setup: NkeySetup, clients: Callable[..., BusClient], caplog: pytest.LogCaptureFixture
) -> None:
    url = nkey_setup.server.url
    feeder = clients(url, "feeder", NatsAuth(nkey_file=nkey_setup.feeder_seed))
    engine = clients(url, "engines", NatsAuth(nkey_file=nkey_setup.engine_seed))
    await feeder.connect()
    await engine.connect()
    got: list[bytes] = []

    async def received(msg: Any) -> None:
        got.append(msg.data)

    await engine.nc.subscribe("md.mexc.>", cb=received)
    await engine.nc.flush()
    await ensure_md_stream(feeder.js)  # a FEEDER right
    md = encode_md(FakeFeeder().make_md(BTC))
    await feeder.js.publish(md_subject(BTC), md, headers=md_headers("nk/1", 1))  # stored once acked
    await eventually(lambda: got == [md])
    last = await engine.js.get_last_msg(MD_STREAM, md_subject(BTC), direct=True)  # an ENGINE right
    assert last.data == md
    assert feeder.errors == engine.errors == 0
    # The server knows who they are: the engine user may not publish md (its role, not anonymous).
    await engine.nc.publish(md_subject(BTC), b"forged")
    await engine.nc.flush()
    await eventually(lambda: engine.errors == 1)
    assert (await engine.js.get_last_msg(MD_STREAM, md_subject(BTC), direct=True)).data == md
    for seed in nkey_setup.seeds:
        assert seed not in caplog.text


@pytest.mark.asyncio
async def test_a_wrong_seed_is_refused_at_once(
    nkey_setup: NkeySetup, clients: Callable[..., BusClient], tmp_path: Path
) -> None:
    stranger = Key.new()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(BusAuthError, match="refused the credentials") as refused:
        await clients(
            nkey_setup.server.url, "intruder", NatsAuth(nkey_file=stranger.write(tmp_path / "x.nk"))
        ).connect()
    assert loop.time() - started < 3.0  # not retried forever
    assert stranger.seed not in str(refused.value)


@pytest.mark.asyncio
async def test_the_commands_take_an_nkey_seed(nkey_setup: NkeySetup, tmp_path: Path) -> None:
    """``--nats-nkey``: the engine seed lets ``engines`` run (anonymous would be refused); a
    seed the server does not know ends it with exit code 1 and one line."""
    url = nkey_setup.server.url
    seed = nkey_setup.engine_seed
    ok = await command("engines", "--nats", url, "--nats-nkey", seed, "--duration", "1", BTC)
    stranger = Key.new()
    bad = await command("engines", "--nats", url, "--nats-nkey", stranger.write(tmp_path / "x.nk"), BTC)
    (ok_out, ok_err), (_, bad_err) = await asyncio.wait_for(
        asyncio.gather(ok.communicate(), bad.communicate()), 15
    )
    assert ok.returncode == 0, ok_err[-2000:]
    assert json.loads(ok_out)["bus"]["connection"]["url"] == url
    assert bad.returncode == 1, bad_err[-2000:]
    errors = [line for line in bad_err.decode().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "BusAuthError" in errors[0] and "refused the credentials" in errors[0]
    assert b"Traceback" not in bad_err
    for seed in (*nkey_setup.seeds, stranger.seed):
        assert seed.encode() not in ok_err + bad_err


# --- .creds: a user JWT issued by an account, itself issued by an operator the server trusts ---


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def issue_jwt(issuer: Key, subject: Key, name: str, nats_claims: dict[str, Any]) -> str:
    """A NATS JWT (v2): ``header.claims.signature``, signed with the issuer's ed25519 nkey."""
    header = _b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    claims = {
        "jti": base64.b32encode(os.urandom(30)).decode(),
        "iat": int(time.time()),
        "iss": issuer.public,
        "name": name,
        "sub": subject.public,
        "nats": {**nats_claims, "version": 2},
    }
    signed = f"{header}.{_b64url(json.dumps(claims).encode())}"
    return f"{signed}.{_b64url(issuer.sign(signed.encode()))}"


def creds_file(path: Path, user_jwt: str, seed: str) -> str:
    """The ``.creds`` layout of ``nsc``/``nats-py`` (JWT block, then seed block)."""
    path.write_text(
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
    path.chmod(0o600)
    return str(path)


@pytest.mark.asyncio
async def test_a_creds_file_of_an_operator_issued_user(
    tmp_path: Path, clients: Callable[..., BusClient]
) -> None:
    """Decentralized auth without ``nsc``: operator → account → user JWTs made here, the server
    trusting the operator and preloading the account (memory resolver)."""
    operator, account = Key.new(nkeys.PREFIX_BYTE_OPERATOR), Key.new(nkeys.PREFIX_BYTE_ACCOUNT)
    user = Key.new()
    unlimited = {k: -1 for k in ("subs", "data", "payload", "imports", "exports", "conn", "leaf")}
    account_jwt = issue_jwt(operator, account, "levibot", {"type": "account", "limits": unlimited})
    md_only = {"pub": {"allow": ["md.mexc.>"]}, "sub": {"allow": ["md.mexc.>", "_INBOX.>"]}}
    user_claims = {"type": "user", "subs": -1, "data": -1, "payload": -1, **md_only}
    user_jwt = issue_jwt(account, user, "feeder", user_claims)
    system = Key.new(nkeys.PREFIX_BYTE_ACCOUNT)  # JetStream (the fixtures' -js) needs one
    system_jwt = issue_jwt(operator, system, "SYS", {"type": "account", "limits": unlimited})
    (tmp_path / "operator.jwt").write_text(issue_jwt(operator, operator, "op", {"type": "operator"}))
    config = tmp_path / "operator.conf"
    config.write_text(
        f'operator: "{tmp_path / "operator.jwt"}"\nsystem_account: {system.public}\nresolver: MEMORY\n'
        f"resolver_preload: {{\n  {account.public}: {account_jwt}\n  {system.public}: {system_jwt}\n}}\n"
    )
    server = await started_server(tmp_path, config=config)
    try:
        good = creds_file(tmp_path / "user.creds", user_jwt, user.seed)
        client = clients(server.url, "creds", NatsAuth(creds_file=good))
        await client.connect()
        got: list[bytes] = []

        async def received(msg: Any) -> None:
            got.append(msg.data)

        await client.nc.subscribe("md.mexc.>", cb=received)
        await client.nc.publish(md_subject(BTC), b"md")
        await client.nc.publish("elsewhere", b"denied")  # outside the JWT's permissions
        await client.nc.flush()
        await eventually(lambda: got == [b"md"] and client.errors == 1)
        # The right JWT signed with another user's seed: the server refuses the signature.
        forged = creds_file(tmp_path / "forged.creds", user_jwt, Key.new().seed)
        with pytest.raises(BusAuthError, match="refused the credentials"):
            await clients(server.url, "forged", NatsAuth(creds_file=forged)).connect()
    finally:
        await server.stop()


# --- key files that cannot work: a usage error before any connection attempt ---


@pytest.mark.asyncio
@pytest.mark.parametrize("option", ["nkey_file", "creds_file"])
@pytest.mark.parametrize("content", [None, "", "SUAGARBAGE-not-a-seed-c0ffee\n"])
async def test_unusable_key_files_are_a_usage_error(
    nkey_setup: NkeySetup,
    clients: Callable[..., BusClient],
    tmp_path: Path,
    option: str,
    content: str | None,
) -> None:
    path = tmp_path / "key"
    if content is not None:
        path.write_text(content)
    client = clients(nkey_setup.server.url, "bad-file", NatsAuth(**{option: str(path)}))
    with pytest.raises(UsageError, match="--nats-") as bad:
        await asyncio.wait_for(client.connect(), 3.0)  # neither a traceback nor endless retries
    assert "c0ffee" not in str(bad.value)
    if content is None:
        assert "No such file" in str(bad.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("option", ["--nats-creds", "--nats-nkey"])
async def test_a_missing_key_file_exits_2_with_one_line(
    nkey_setup: NkeySetup, tmp_path: Path, option: str
) -> None:
    proc = await command("engines", "--nats", nkey_setup.server.url, option, str(tmp_path / "missing"), BTC)
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2, err[-2000:]
    errors = [line for line in err.decode().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"cannot read the {option} file" in errors[0]
    assert b"Traceback" not in err
