"""One error hierarchy: every exception the library raises on purpose derives from LevibotError."""

from __future__ import annotations

import ast
from pathlib import Path

import ccxt
import pytest

from backend.src import errors

SRC = Path(__file__).resolve().parents[2] / "src"
#: "cannot happen" (a bug), and what a protocol demands: a sequence's IndexError, argparse's
#: ArgumentTypeError, ``SystemExit`` from a ``__main__``
ALLOWED = {"AssertionError", "IndexError", "ArgumentTypeError", "SystemExit"}


def raised_names(path: Path) -> list[tuple[int, str]]:
    """``(line, name)`` of every ``raise Name(...)`` in ``path`` (re-raises are not new errors)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            name = getattr(func, "id", None) or getattr(func, "attr", "?")
            out.append((node.lineno, name))
    return out


def test_every_error_raised_outside_the_simulator_is_a_levibot_error() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if "sim" in path.relative_to(SRC).parts:
            continue  # the simulator plays MEXC: it raises what its web framework expects
        for line, name in raised_names(path):
            cls = getattr(errors, name, None)
            if not name[0].isupper() or name in ALLOWED:
                continue  # ``raise next(...)``: re-raises an error object made elsewhere
            if isinstance(cls, type) and issubclass(cls, errors.LevibotError):
                continue
            offenders.append(f"{path.relative_to(SRC)}:{line} raises {name}")
    assert offenders == []


@pytest.mark.parametrize(
    ("error", "also"),
    [
        (errors.UnknownSymbolError("X/USDT", "not listed"), ValueError),  # the Epic's spec
        (errors.NoValidSymbolError("none"), ValueError),
        (errors.UsageTypeError("bad"), TypeError),
        (errors.SubscriptionRejected("refused"), ccxt.NetworkError),  # travels through ccxt
        (errors.StaleStreamError("silent"), ccxt.NetworkError),
        (errors.CodecError("bad md"), ValueError),
        (errors.BusClosedError("closed"), ConnectionError),
    ],
)
def test_errors_keep_the_builtin_bases_callers_already_catch(error: Exception, also: type) -> None:
    assert isinstance(error, errors.LevibotError) and isinstance(error, also)


def test_usage_errors_name_the_symbol() -> None:
    error = errors.UnknownSymbolError("NOPE/USDT", "not listed on MEXC")
    assert (error.symbol, error.reason) == ("NOPE/USDT", "not listed on MEXC")
    assert "NOPE/USDT" in str(error) and isinstance(error, errors.UsageError)
