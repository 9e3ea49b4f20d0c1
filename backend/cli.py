"""Command line: stream MEXC market data and print one line per md.

``python -m backend run BTC/USDT ETH/USDT`` streams from MEXC (needs a network);
``python -m backend run --universe USDT [--perp-only] [--top N]`` streams a whole universe
(every active USDT market, reloaded hourly) with a bootstrap progress bar;
``--sim`` starts the loopback MEXC simulator in-process and streams from it instead, through
the very same adapter code (only the URLs differ); ``--sim-markets N`` gives it a synthetic
universe of N USDT markets; ``--sim-url URL`` streams from a simulator running elsewhere.
``--record DIR`` records the session for ``python -m backend replay DIR`` (docs/RECORDING.md);
``--jsonl`` prints one md per line as JSON. ``python -m backend replay DIR`` prints a recorded
session's md again. This module is the application edge: it
configures logging and writes to stdout; the library underneath only logs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from .src import event_loop
from .src.adapters.mexc_ccxt import MexcAdapter, MexcConfig
from .src.bus.cli import add_bus_commands, run_engines, run_feed
from .src.data.bootstrap import BootstrapProgress
from .src.data.market_feeder import MarketFeeder
from .src.data.text_hub import TextHub
from .src.data.text_rss import RssTextSource
from .src.errors import LevibotError, UsageError
from .src.exchange_urls import exchange_urls
from .src.gc_policy import AfterBootstrap
from .src.ops.doctor_cli import add_doctor_command, run_doctor
from .src.recording.cli import add_replay_command, run_replay
from .src.recording.jsonl import md_json
from .src.universe_args import add_universe_arguments, universe_from_args

log = logging.getLogger("backend.cli")

#: ``python -m backend feed|engines``: a feeder node and an engine host on a NATS bus (docs/BUS.md)
BUS_COMMANDS = {"feed": run_feed, "engines": run_engines}


def format_md(md: dict[str, Any]) -> str:
    """One human-readable line per md (exchange time, UTC)."""
    ts = datetime.fromtimestamp(md["ts"] / 1000, tz=UTC).strftime("%H:%M:%S.%f")[:-3] if md["ts"] else "-"

    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    return (
        f"{ts} {md['symbol']:<10} price={num(md['price'], '.6g')} bid={num(md['bid'], '.6g')} "
        f"ask={num(md['ask'], '.6g')} spread={num(md['spread'], '.4g')} vol24h={num(md['vol'], '.6g')} "
        f"funding={num(md['funding'], '.6f')} oi={num(md['oi'], '.6g')} texts={len(md['texts'])}"
    )


@contextlib.contextmanager
def bootstrap_bar(show: bool) -> Iterator[Callable[[BootstrapProgress, str], None] | None]:
    """A console progress bar over the symbols' bootstraps (stderr), or nothing."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("bootstrap"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("", total=None)

        def update(progress: BootstrapProgress, symbol: str) -> None:
            failed = f" ({progress.failed} failed)" if progress.failed else ""
            bar.update(task, completed=progress.finished, total=progress.total, description=symbol + failed)

        yield update


async def run(args: argparse.Namespace) -> int:
    """Stream md lines (or only the bootstrap progress and errors with ``--quiet``)."""
    symbols, use_sim, duration = list(args.symbols), args.sim, args.duration
    universe = universe_from_args(args)
    rss = [RssTextSource(u) for u in args.rss]
    async with exchange_urls(use_sim, args.sim_markets, args.sim_url) as urls, TextHub(symbols, rss) as hub:
        config = MexcConfig(record_dir=args.record)
        adapter = MexcAdapter(symbols, rate_limit=urls is None, urls=urls, config=config)
        with bootstrap_bar(universe is not None or len(symbols) > 10) as on_progress:
            feeder = MarketFeeder(
                symbols,
                adapter=adapter,
                texts=hub,
                universe=universe,
                reload_interval=args.reload_interval,
                bootstrap_concurrency=args.bootstrap_concurrency,
                # the collector's settings for a long run, once the symbols have bootstrapped
                on_progress=AfterBootstrap(on_progress),
                data_dir=store_dir(args),
            )
            await stream(feeder, duration, args.metrics_port, quiet=args.quiet, jsonl=args.jsonl)
    if adapter.recorder is not None:
        log.info("recorded: %s", adapter.recorder.stats())
    return 0


def store_dir(args: argparse.Namespace) -> str | None:
    """Where ``run`` keeps its bar store: ``--data-dir``, else (against MEXC) the user's data
    directory; none with ``--no-store``, and none by default against the simulator, whose
    bars must never mix with MEXC's in the store a later real run warms up from."""
    if args.no_store:
        return None
    if args.data_dir is not None:
        return args.data_dir
    if args.sim or args.sim_url is not None:
        return None
    import platformdirs

    return platformdirs.user_data_dir("levibot", appauthor=False)


async def stream(
    feeder: MarketFeeder,
    duration: float | None,
    metrics_port: int | None,
    *,
    quiet: bool,
    jsonl: bool = False,
) -> None:
    """Run ``feeder`` for ``duration`` seconds (forever when None), md lines to stdout (as JSON
    with ``jsonl``)."""
    exporter = None
    if metrics_port is not None:
        from .src.data.metrics import start_exporter

        exporter = start_exporter(feeder.feed_health, metrics_port)
        log.info("Prometheus metrics on http://%s:%d/metrics", exporter.host, exporter.port)

    line = md_json if jsonl else format_md

    def on_md(md: dict[str, Any]) -> None:
        if not quiet:
            sys.stdout.write(line(md) + "\n")

    try:
        await asyncio.wait_for(feeder.run(on_md), timeout=duration)
    except TimeoutError:
        pass
    finally:
        await feeder.close()
        if exporter is not None:
            await asyncio.to_thread(exporter.stop)
        if feeder.failed:
            log.error("symbols not streamed: %s", feeder.failed)
        log.info("streamed %d symbols; %d md delivered", len(feeder.symbols), sum(feeder.delivered.values()))


def write_json(path: str, data: dict[str, Any]) -> None:
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2)


async def smoke(args: argparse.Namespace) -> int:
    """Run the feed under a fault schedule, print the KPI report; non-zero when a KPI is missed."""
    from rich.console import Console

    from .src.ops.fault_schedule import default_schedule, parse_duration, parse_schedule
    from .src.ops.render import format_kpi_table, smoke_progress
    from .src.ops.smoke import SmokeConfig, SmokeRun

    duration = parse_duration(args.duration)
    text = args.faults if args.faults is not None else (default_schedule(duration) if args.sim else "")
    config = SmokeConfig(args.symbols, duration, parse_schedule(text, duration), use_sim=args.sim)
    with smoke_progress(Console(stderr=True), duration) as show:
        result = await SmokeRun(config, progress=show).run()
    out = Console()
    out.print(
        format_kpi_table(
            result.rows, title=f"KPIs after {args.duration} ({'simulator' if args.sim else 'MEXC'})"
        )
    )
    out.print(f"schedule: {text or 'none'}")
    out.print(result.info)
    if args.report:
        report = {"kpis": [r._asdict() for r in result.rows], **result.info, "health": result.snapshot}
        await asyncio.to_thread(write_json, args.report, report)
    return 0 if result.passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__.split("\n")[0])
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="stream md lines for the given symbols or a universe")
    run_p.add_argument("symbols", nargs="*", help="unified spot symbols, e.g. BTC/USDT")
    add_universe_arguments(run_p, "every active spot market quoted in QUOTE, e.g. USDT")
    run_p.add_argument(
        "--reload-interval", type=float, default=3600.0, help="universe: reload markets every S (3600)"
    )
    run_p.add_argument(
        "--bootstrap-concurrency", type=int, default=8, help="symbols bootstrapping at once (default 8)"
    )
    run_p.add_argument(
        "--quiet", action="store_true", help="no md lines; progress, errors and a summary only"
    )
    source = run_p.add_mutually_exclusive_group()
    source.add_argument("--sim", action="store_true", help="offline: stream from the loopback simulator")
    source.add_argument(
        "--sim-url", default=None, metavar="URL", help="stream from a running simulator, e.g. http://127.0.0.1:8765"
    )
    run_p.add_argument("--sim-markets", type=int, default=None, help="with --sim: N synthetic USDT markets")
    run_p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    run_p.add_argument(
        "--data-dir",
        default=None,
        help="keep closed bars in a store here, so restarts read their history instead of "
        "downloading it (default: the user's data directory against MEXC, none with --sim)",
    )
    run_p.add_argument("--no-store", action="store_true", help="keep no bar store")
    run_p.add_argument(
        "--record",
        default=None,
        metavar="DIR",
        help="record the session (frames, REST, connection events) into DIR for `replay` (docs/RECORDING.md)",
    )
    run_p.add_argument("--jsonl", action="store_true", help="one md per line as JSON (the md schema's keys)")
    run_p.add_argument(
        "--rss", action="append", default=[], metavar="URL", help="RSS/Atom feed for md['texts'] (repeatable)"
    )
    run_p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on 127.0.0.1:PORT (off by default)",
    )
    smoke_p = sub.add_parser("smoke", help="run the feed for a while under faults; grade the KPIs")
    smoke_p.add_argument(
        "symbols", nargs="*", default=["BTC/USDT", "ETH/USDT"], help="default BTC/USDT ETH/USDT"
    )
    smoke_p.add_argument("--duration", default="24h", help="e.g. 90s, 30m, 24h (default 24h)")
    smoke_p.add_argument("--sim", action="store_true", help="offline: against the loopback simulator")
    smoke_p.add_argument(
        "--faults",
        default=None,
        help="fault schedule (simulator only), e.g. 'drop/5m,close@12m,silence@17m:20s,refuse@22m:30s'; "
        "default with --sim: the Epic's acceptance schedule scaled to the duration; '' for none",
    )
    smoke_p.add_argument("--report", default=None, help="also write the full report as JSON to this file")
    add_bus_commands(sub)
    add_doctor_command(sub)
    add_replay_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "smoke":
            return asyncio.run(smoke(args))
        if args.command == "doctor":
            return asyncio.run(run_doctor(args))
        if args.command == "replay":  # its own event loop, on the recording's virtual time
            return run_replay(args, format_md)
        # the long-running commands: on uvloop when its extra is installed (``event_loop``)
        if args.command in BUS_COMMANDS:
            return event_loop.run(BUS_COMMANDS[args.command](args))
        return event_loop.run(run(args))
    except KeyboardInterrupt:
        return 130
    except UsageError as exc:  # bad symbols, bad arguments: a message, not a traceback
        log.error("%s", exc)
        return 2
    except LevibotError as exc:  # an operational failure we named (e.g. the bus refused us)
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
