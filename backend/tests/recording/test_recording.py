"""Recording a simulator session: what lands on disk, and what survives ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from backend.src.recording.format import SUFFIX, rx_payload
from backend.src.recording.reader import RecordingReader
from backend.src.recording.replay import ReplayFeeder

from .session import SYMBOLS, Session


def test_everything_the_md_path_consumed_is_recorded(session: Session) -> None:
    reader = RecordingReader(session.directory)
    records = list(reader.records())
    kinds = Counter(r["type"] for r in records)
    assert reader.stats.corrupt_frames == reader.stats.truncated == reader.stats.bad_lines == 0
    metas = {r["kind"]: r for r in records if r["type"] == "meta"}
    assert metas["adapter"]["symbols"] == SYMBOLS and metas["feeder"]["symbols"] == SYMBOLS
    assert metas["adapter"]["config"]["urls"]["ws"]["spot"].endswith("/ws")
    assert kinds["rx"] > 50 and kinds["tx"] >= 6 and kinds["gap"] == 0
    frames = [rx_payload(r) for r in records if r["type"] == "rx"]
    assert any(isinstance(f, bytes) for f in frames) and any(isinstance(f, str) for f in frames)
    assert any(isinstance(f, str) and "Not Subscribed" in f for f in frames)  # the refusal
    assert any(isinstance(f, str) and "pong" in f for f in frames) or kinds["tx"] > 6
    rest = [r for r in records if r["type"] == "rest"]
    assert any(r["status"] == 429 and "/api/v3/klines" in r["url"] for r in rest)
    assert any(r["url"].endswith("/api/v3/exchangeInfo") and r["body"].startswith("{") for r in rest)
    dials = [r for r in records if r["type"] == "dial"]
    assert len(dials) >= 5 and kinds["open"] == len(dials)  # 2 first, 2 spot reconnects, 1 contract
    closes = {r["kind"] for r in records if r["type"] == "msg"}
    assert {"close", "closed"} <= closes  # the clean close frame, the TCP reset
    assert records[-1]["type"] in {"close", "msg", "stop", "error", "mark"} and kinds["stop"] == 1
    marks = [r for r in records if r["type"] == "mark"]  # timer-driven steps, among the results
    assert {"wheel", "sweep", "monitor"} <= {r["name"] for r in marks}
    assert [r["seq"] for r in marks] == sorted(r["seq"] for r in marks) and marks[-1]["seq"] > 50
    received = [r["t"] for r in records if r["type"] == "rx"]
    assert received == sorted(received)


def _recording_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob(f"*{SUFFIX}"))


def test_kill_9_keeps_everything_up_to_the_last_flush(tmp_path: Path) -> None:
    """A recording process killed without warning: every flushed frame reads back."""
    command = [sys.executable, "-m", "backend", "run", *SYMBOLS, "--sim", "--jsonl"]
    command += ["--record", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30.0
        while _recording_bytes(tmp_path) < 20_000 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.2)  # at least one more flush with frames in it
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    md_lines = proc.stdout.read().splitlines() if proc.stdout else []
    reader = RecordingReader(tmp_path)
    records = list(reader.records())
    assert reader.stats.corrupt_frames == 0 and reader.stats.truncated <= 1
    rx = [r for r in records if r["type"] == "rx"]
    assert len(rx) > 20 and not any(r["type"] == "stop" for r in records)
    assert len(md_lines) > 10
    replay = ReplayFeeder(tmp_path)  # what was written replays, up to its last record
    replayed: list[dict] = []
    with replay.runner() as runner:
        runner.run(replay.run(replayed.append))
    assert len(replayed) > 10 and {m["symbol"] for m in replayed} == set(SYMBOLS)
