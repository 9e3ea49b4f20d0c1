"""``python -m backend doctor``: the command-line edge of :mod:`backend.src.ops.doctor`.

Kept apart from ``backend/cli.py`` so that file only gains a subcommand and a dispatch line.
This module prints (a rich table, like ``smoke``); the checks themselves only log.
Exit codes: 0 every check passed (WARN/INFO/SKIP allowed), 1 a check FAILED, 2 bad arguments
or an unknown symbol — one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from .doctor import Doctor
from .doctor_model import DoctorReport, Status

_STYLE = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.SKIP: "dim",
    Status.INFO: "cyan",
}


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``prog: error: ...``), exit 2, and which
    reports unknown options itself (the parent parser would print its usage too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be in (0, 3600] seconds, got {text}")
    return value


def _symbol(text: str) -> str:
    if "/" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a unified symbol like BTC/USDT")
    return text


def add_doctor_command(sub: Any) -> None:
    """Register ``doctor`` on the subparsers action ``sub`` of ``python -m backend``."""
    doctor_p = sub.add_parser(
        "doctor", help="check the library's assumptions about MEXC (page sizes, closed bars, frames, ...)"
    )
    # argparse builds subparsers with the parent's class; the subclass only changes error output
    doctor_p.__class__ = OneLineParser
    doctor_p.add_argument("symbols", nargs="*", type=_symbol, default=["BTC/USDT"], help="default BTC/USDT")
    where = doctor_p.add_mutually_exclusive_group()
    where.add_argument("--sim", action="store_true", help="offline: against an in-process simulator")
    where.add_argument("--sim-url", default=None, metavar="URL", help="against a simulator already running")
    doctor_p.add_argument("--save", default=None, metavar="DIR", help="save all bodies and frames (JSONL)")
    doctor_p.add_argument("--timeout", type=_timeout, default=30.0, help="seconds per check (default 30)")


def format_report(report: DoctorReport) -> Any:
    """The rich table of a doctor run."""
    from rich.table import Table

    table = Table(title=f"MEXC assumptions ({report.target})", show_lines=False)
    for header in ("check", "symbol", "status", "measured", "expected"):
        table.add_column(header, overflow="fold")
    for row in report.results:
        status = f"[{_STYLE[row.status]}]{row.status}[/]"
        table.add_row(row.name, row.symbol or "-", status, row.measured, row.expected)
    return table


async def run_doctor(args: argparse.Namespace) -> int:
    """Run the checks, print the table; 1 when a check failed (ValueError → 2 in ``main``)."""
    from rich.console import Console

    from ..exchange_urls import exchange_urls

    target = args.sim_url or ("simulator" if args.sim else "MEXC")
    async with exchange_urls(args.sim, sim_url=args.sim_url) as urls:
        doctor = Doctor(
            list(args.symbols),
            urls=urls,
            timeout=args.timeout,
            target=target,
            save_dir=args.save,
            rate_limit=urls is None,
        )
        report = await doctor.run()
    # a pipe gets 200 columns (rich would wrap at 80) unless COLUMNS says otherwise
    console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200)
    console.print(format_report(report))
    counts = report.counts()
    summary = ", ".join(f"{counts[str(s)]} {s}" for s in Status if counts[str(s)])
    console.print(f"doctor: {summary}" + (f"; saved to {report.saved_to}" if report.saved_to else ""))
    return 1 if report.failed else 0
