"""Replaying a recorded session: the same md as live, every time, through the production path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard

from backend.src.engine.manager import EngineManager
from backend.src.errors import UsageError
from backend.src.recording.format import SUFFIX, encode_event, index_frame
from backend.src.recording.jsonl import md_json
from backend.src.recording.replay import ReplayFeeder
from backend.src.recording.transport import ReplayTransport
from backend.tests.helpers import Recorder

from .session import SYMBOLS, Session, replayed


def replay(session: Session, **options: Any) -> tuple[list[dict[str, Any]], ReplayFeeder]:
    """The md of one replay of ``session``."""
    return replayed(session.directory, **options)


def test_the_replay_delivers_the_live_md_exactly(session: Session) -> None:
    """Faults and all (429, malformed frames, refused subscription, drops, a clean close)."""
    mds, feeder = replay(session)
    assert len(session.live) > 50
    assert mds == session.live  # same md, same order, every field
    stats = feeder.stats()["transport"]
    assert stats["unmatched_dials"] == stats["unmatched_rest"] == stats["sent_mismatch"] == 0
    assert stats["dials"] >= 5 and stats["corrupt_records"] == 0


def test_two_replays_are_byte_identical(session: Session) -> None:
    first, _ = replay(session)
    second, _ = replay(session)
    assert "\n".join(map(md_json, first)).encode() == "\n".join(map(md_json, second)).encode()


def test_symbols_filter_what_is_delivered_not_what_is_replayed(session: Session) -> None:
    mds, feeder = replay(session, symbols=["ETH/USDT"])
    assert feeder.symbols == ["ETH/USDT"]
    assert mds == [m for m in session.live if m["symbol"] == "ETH/USDT"]


def test_engines_run_on_the_replay(session: Session) -> None:
    """``ReplayFeeder`` plugs into ``EngineManager`` like any feeder: a backtest."""
    feeder = ReplayFeeder(session.directory)
    manager = EngineManager(feeder.symbols, feeder=feeder, engine_factory=Recorder, queue_size=100_000)

    async def backtest() -> None:
        await manager.run()

    with feeder.runner() as runner:
        runner.run(backtest())
    for symbol in SYMBOLS:
        seen = [m for m in manager.engines[symbol].seen if "symbol" in m]  # type: ignore[attr-defined]
        assert seen == [m for m in session.live if m["symbol"] == symbol]  # heartbeats aside


def test_a_replay_needs_its_own_clock(session: Session) -> None:
    import asyncio

    feeder = ReplayFeeder(session.directory)
    with pytest.raises(UsageError, match="runner"):
        asyncio.run(feeder.run(lambda md: None))
    with pytest.raises(UsageError, match="speed"):
        ReplayFeeder(session.directory, speed=0)


def test_corrupt_records_are_counted_and_skipped() -> None:
    import asyncio

    async def feed() -> ReplayTransport:
        transport = ReplayTransport()
        transport.dispatch({"type": "dial", "t": 1, "conn": 1, "url": "ws://x/ws", "client": 1})
        transport.dispatch({"type": "rx", "t": 2, "conn": 1, "b64": "***not base64***"})
        transport.dispatch({"type": "rx", "t": 3, "conn": 99, "text": "{}"})  # never dialled
        transport.dispatch({"type": "rest", "t": 4})  # no request
        transport.dispatch({"type": "msg", "t": 5, "conn": 1, "kind": "nonsense"})
        return transport

    assert asyncio.run(feed()).stats.corrupt_records == 4


def test_the_replay_command(session: Session, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "backend", "replay", str(session.directory), "--jsonl"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.splitlines() == [md_json(m) for m in session.live]
    bad = subprocess.run(
        [sys.executable, "-m", "backend", "replay", str(session.directory), "--speed", "fast"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--speed" in bad.stderr
    head = zstandard.ZstdCompressor().compress(
        encode_event("header", 1, {"format": "levibot-rec", "version": 0, "session": "old"})
    )
    (tmp_path / f"20250101T000000Z-1.00000{SUFFIX}").write_bytes(index_frame(len(head)) + head)
    old = subprocess.run(
        [sys.executable, "-m", "backend", "replay", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert old.returncode == 2 and len(old.stderr.strip().splitlines()) == 1 and "version 0" in old.stderr
