"""Where ``python -m backend run`` keeps its bar store."""

from __future__ import annotations

import platformdirs

from backend.cli import build_parser, store_dir


def args(*argv: str):
    return build_parser().parse_args(["run", "BTC/USDT", *argv])


def test_the_store_is_on_by_default_against_mexc_in_the_users_data_directory() -> None:
    assert store_dir(args()) == platformdirs.user_data_dir("levibot", appauthor=False)


def test_the_simulator_never_writes_the_default_store() -> None:
    assert store_dir(args("--sim")) is None
    assert store_dir(args("--sim", "--data-dir", "/tmp/x")) == "/tmp/x"  # unless asked to


def test_no_store_wins() -> None:
    assert store_dir(args("--no-store")) is None
    assert store_dir(args("--no-store", "--data-dir", "/tmp/x")) is None
