"""``python -m backend replay DIR``: a recorded session's md again, as ``run`` printed them.

``add_replay_command`` only declares arguments; ``run_replay`` runs the replay on its own
event loop (the recording's virtual time, see ``replay``), so ``backend/cli.py`` calls it
instead of ``asyncio.run``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from ..errors import UsageError

log = logging.getLogger("backend.src.recording")


def parse_speed(text: str) -> float | None:
    """``max`` (None: as fast as it computes) or a positive factor of the recorded pace."""
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    if not speed > 0 or speed == float("inf"):
        raise UsageError(f"--speed must be 'max' or a positive number, got {text!r}")
    return speed


def add_replay_command(sub: Any) -> None:
    """Declare ``replay`` on the CLI's subcommands."""
    p = sub.add_parser("replay", help="replay a session recorded with `run --record DIR`")
    p.add_argument("directory", metavar="DIR", help="the recording's directory")
    p.add_argument(
        "--speed", default="max", help="max (default: as fast as possible), 1 (recorded pace), or N"
    )
    p.add_argument(
        "--symbols", nargs="+", default=None, metavar="SYMBOL", help="print these symbols' md only"
    )
    p.add_argument("--session", default=None, help="which session of DIR (default: the newest)")
    p.add_argument("--jsonl", action="store_true", help="one md per line as JSON (the md schema's keys)")
    p.add_argument("--quiet", action="store_true", help="no md lines; a summary only")


def run_replay(args: argparse.Namespace, format_md: Callable[[dict[str, Any]], str]) -> int:
    """Replay ``args.directory`` to stdout (``format_md`` lines, or JSON Lines)."""
    from .jsonl import md_json
    from .replay import ReplayFeeder

    speed = parse_speed(args.speed)
    feeder = ReplayFeeder(args.directory, speed, symbols=args.symbols, session=args.session)
    line = md_json if args.jsonl else format_md
    write = sys.stdout.write

    def on_md(md: dict[str, Any]) -> None:
        if not args.quiet:
            write(line(md) + "\n")

    with feeder.runner() as runner:
        runner.run(feeder.run(on_md))
    log.info("replayed %s", feeder.stats())
    return 0
