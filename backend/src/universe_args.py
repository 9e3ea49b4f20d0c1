"""The command-line face of a universe (``--universe QUOTE [--perp-only] [--top N]``), shared by
``python -m backend run`` and the bus's ``feed``, so both parse and check it the same way."""

from __future__ import annotations

import argparse
from typing import Any

from .adapters.mexc_universe import UniverseSpec
from .errors import UsageError


def add_universe_arguments(parser: Any, help_universe: str) -> None:
    """``--universe``, ``--perp-only`` and ``--top`` on an argparse parser."""
    parser.add_argument("--universe", metavar="QUOTE", help=help_universe)
    parser.add_argument("--perp-only", action="store_true", help="universe: only markets with a perpetual")
    parser.add_argument("--top", type=int, default=None, help="universe: the N busiest by 24 h quote volume")


def universe_from_args(args: argparse.Namespace) -> UniverseSpec | None:
    """The spec asked for, or None for a plain symbol list; ValueError for a contradiction."""
    if args.universe:
        return UniverseSpec(args.universe.upper(), perp_only=args.perp_only, top=args.top)
    if not args.symbols:
        raise UsageError("name the symbols to stream, or a universe with --universe USDT")
    if args.perp_only or args.top is not None:
        raise UsageError("--perp-only and --top select within a universe: add --universe USDT")
    return None
