"""The README's main command, as a user runs it: a subprocess, offline against the simulator."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_universe_run_streams_every_active_market_of_a_synthetic_exchange() -> None:
    done = run_cli("run", "--universe", "USDT", "--sim", "--sim-markets", "40", "--quiet", "--duration", "12")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == ""  # --quiet: no md lines
    streamed = re.search(r"streamed (\d+) symbols; (\d+) md delivered", done.stderr)
    assert streamed is not None, done.stderr[-2000:]
    active = 40 - done.stderr.count("inactive on MEXC")
    assert int(streamed.group(1)) == active and int(streamed.group(2)) > active
    assert " ERROR " not in done.stderr and "bootstrap" in done.stderr  # the progress bar ran


def test_md_lines_for_named_symbols() -> None:
    done = run_cli("run", "BTC/USDT", "NOPE/USDT", "--sim", "--duration", "6")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines and all(" BTC/USDT " in line and "price=" in line for line in lines)
    assert "NOPE/USDT" in done.stderr and "not listed" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--sim"], "name the symbols to stream"),
        (["run", "BTC/USDT", "--top", "5", "--sim"], "select within a universe"),
        (["run", "--universe", "USDT", "--top", "0", "--sim"], "top must be at least 1"),
    ],
)
def test_bad_arguments_fail_fast_with_a_message(args: list[str], message: str) -> None:
    done = run_cli(*args, timeout=30.0)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
