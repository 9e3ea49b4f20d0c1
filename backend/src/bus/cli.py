"""Command line of the bus: ``feed`` (a feeder node) and ``engines`` (an engine host).

``python -m backend.src.bus feed --nats URL --node-id A [--sim | --sim-url URL] SYMBOLS...``
streams the symbols this node holds leases for and publishes their md; run it on N machines
with the same SYMBOLS and they split them. ``python -m backend.src.bus engines --nats URL
SYMBOLS...`` runs one engine per symbol fed from the bus. Both stop on SIGINT/SIGTERM (or after
``--duration``), release what they hold, and print their final stats as JSON on stdout.

Both take the connection options of :func:`add_nats_arguments`: credentials (user/password,
or in the URL; a creds file; an nkey seed) and TLS (CA, client certificate). The password may
come from ``LEVIBOT_NATS_PASSWORD`` instead of the command line, where ``ps`` would show it.

``add_bus_commands`` only declares arguments and imports nothing heavy, so ``backend/cli.py``
can add these subcommands without importing ``nats`` or ccxt; ``run_feed``/``run_engines``
import them when a command actually runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from .. import event_loop
from ..errors import BusClosedError, LevibotError, UsageError
from ..exchange_urls import exchange_urls
from ..universe_args import add_universe_arguments, universe_from_args

log = logging.getLogger("backend.src.bus")

DEFAULT_NATS = "nats://127.0.0.1:4222"
PASSWORD_ENV = "LEVIBOT_NATS_PASSWORD"


def default_node_id() -> str:
    """``<host>-<pid>``: unique per process, readable in the lease bucket."""
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())
    return f"{host or 'node'}-{os.getpid()}"


def add_nats_arguments(parser: argparse.ArgumentParser) -> None:
    """``--nats URL`` and how to authenticate to it and verify it."""
    parser.add_argument(
        "--nats",
        default=DEFAULT_NATS,
        help=f"NATS server URL(s), comma-separated; tls://... for TLS (default {DEFAULT_NATS})",
    )
    parser.add_argument("--nats-user", default=None, help="NATS user name")
    parser.add_argument(
        "--nats-password",
        default=os.environ.get(PASSWORD_ENV),
        help=f"NATS password (default: ${PASSWORD_ENV}, which keeps it out of the process list)",
    )
    parser.add_argument("--nats-creds", default=None, metavar="FILE", help="NATS credentials (.creds) file")
    parser.add_argument("--nats-nkey", default=None, metavar="FILE", help="NATS nkey seed file")
    parser.add_argument("--nats-tls-ca", default=None, metavar="FILE", help="CA file to verify the server")
    parser.add_argument("--nats-tls-cert", default=None, metavar="FILE", help="client certificate (PEM)")
    parser.add_argument("--nats-tls-key", default=None, metavar="FILE", help="client certificate key (PEM)")


def bus_client(args: argparse.Namespace, name: str) -> Any:
    """The :class:`BusClient` the connection options of ``args`` describe."""
    from .connection import BusClient, NatsAuth

    if args.nats_tls_key is not None and args.nats_tls_cert is None:
        raise UsageError("--nats-tls-key needs --nats-tls-cert")
    auth = NatsAuth(
        user=args.nats_user,
        password=args.nats_password,
        creds_file=args.nats_creds,
        nkey_file=args.nats_nkey,
        tls_ca=args.nats_tls_ca,
        tls_cert=args.nats_tls_cert,
        tls_key=args.nats_tls_key,
    )
    return BusClient(args.nats, name=name, auth=auth)


def add_bus_commands(subparsers: Any) -> None:
    """Add ``feed`` and ``engines`` to an argparse subparsers object."""
    feed = subparsers.add_parser("feed", help="feeder node: stream the leased symbols, publish md to NATS")
    feed.add_argument("symbols", nargs="*", help="the universe shared by all nodes, e.g. BTC/USDT ETH/USDT")
    add_universe_arguments(feed, "instead of SYMBOLS: every active spot market quoted in QUOTE")
    add_nats_arguments(feed)
    feed.add_argument("--node-id", default=None, help="unique node name (default <host>-<pid>)")
    source = feed.add_mutually_exclusive_group()
    source.add_argument("--sim", action="store_true", help="offline: stream from an in-process simulator")
    source.add_argument(
        "--sim-url",
        default=None,
        metavar="URL",
        help="stream from a running simulator, e.g. http://127.0.0.1:8765",
    )
    feed.add_argument("--lease-ttl", type=float, default=10.0, help="lease time in seconds (default 10)")
    feed.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    engines = subparsers.add_parser("engines", help="engine host: one engine per symbol, md from NATS")
    engines.add_argument("symbols", nargs="+", help="symbols to run engines for, e.g. BTC/USDT")
    add_nats_arguments(engines)
    engines.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    engines.add_argument(
        "--stats-every", type=float, default=10.0, help="log engine stats every N seconds (default 10)"
    )


async def _serve(main: Awaitable[None], stop: Callable[[], Awaitable[None]], duration: float | None) -> None:
    """Run ``main`` until it ends, SIGINT/SIGTERM or ``duration``; then ``stop()`` and re-raise
    what ``main`` raised. Signals are handled here so a stop releases leases cleanly."""
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)
    main_task = asyncio.ensure_future(main)
    waiter = asyncio.create_task(interrupted.wait())
    try:
        await asyncio.wait({main_task, waiter}, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
        await stop()
        await main_task
    finally:
        waiter.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_feed(args: argparse.Namespace) -> int:
    """``feed``: a :class:`FeederNode` with a dynamic ``MarketFeeder`` on MEXC or a simulator."""
    from ..adapters.mexc_ccxt import MexcAdapter
    from ..data.market_feeder import MarketFeeder
    from ..gc_policy import AfterBootstrap
    from .node import FeederNode

    node_id = args.node_id or default_node_id()
    async with exchange_urls(args.sim, sim_url=args.sim_url) as urls:
        adapter = MexcAdapter([], rate_limit=urls is None, urls=urls)
        universe = await _universe(args, adapter)
        # the collector's settings for a long run, as the leased symbols have bootstrapped
        feeder = MarketFeeder([], adapter=adapter, dynamic=True, on_progress=AfterBootstrap())
        client = bus_client(args, f"levibot-feed-{node_id}")
        node = FeederNode(client, feeder, node_id, universe, lease_ttl=args.lease_ttl)
        await _serve(node.run(), node.close, args.duration)
    sys.stdout.write(json.dumps(node.stats(), default=str) + "\n")
    return 0


async def _universe(args: argparse.Namespace, adapter: Any) -> list[str]:
    """The symbols the nodes share: as given, or resolved from MEXC's markets at start (every
    node resolves the same markets; a node started later may see listings the others do not
    lease until they restart)."""
    spec = universe_from_args(args)
    if spec is None:
        return list(args.symbols)
    symbols = list((await adapter.select_universe(spec)).symbols)
    log.info("universe %s: %d symbols shared by the nodes", spec, len(symbols))
    return symbols


async def run_engines(args: argparse.Namespace) -> int:
    """``engines``: an :class:`EngineManager` whose feeder is a :class:`BusSubscriber`."""
    from ..engine.manager import EngineManager
    from .subscriber import BusSubscriber

    client = bus_client(args, "levibot-engines")
    subscriber = BusSubscriber(client, args.symbols)
    manager = EngineManager(args.symbols, feeder=subscriber)

    async def serve() -> None:
        try:
            await client.connect()  # refused credentials end the command here, in one line
        except BusClosedError:
            return  # stopped before the server answered
        await manager.run()

    async def stop() -> None:
        await manager.stop()
        await client.close()

    async def report() -> None:
        while True:
            await asyncio.sleep(args.stats_every)
            log.info("bus %s; engines %s", subscriber.stats(), manager.stats()["engines"])

    reporter = asyncio.create_task(report())
    try:
        await _serve(serve(), stop, args.duration)
    finally:
        reporter.cancel()
    sys.stdout.write(json.dumps({"bus": subscriber.stats(), **manager.stats()}) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.src.bus", description=__doc__.split("\n")[0])
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (default INFO)")
    add_bus_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    command = run_feed if args.command == "feed" else run_engines
    try:
        return event_loop.run(command(args))  # on uvloop when its extra is installed
    except UsageError as exc:  # bad symbols, bad arguments: a message, not a traceback
        log.error("%s", exc)
        return 2
    except LevibotError as exc:  # an operational failure we named (e.g. the bus refused us)
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
