"""Standalone simulator: ``python -m backend.src.sim --port 8765 [--symbols ... | --markets N]``.

Runs until interrupted. Point ccxt at it with the ``urls`` dict printed in the banner.
``--markets N`` serves a synthetic MEXC-sized universe (N USDT pairs with Zipf-like
activity, plus a few USDC/BTC pairs; see ``universe.py``) and ``--churn-every`` lists and
delists markets while it runs. Fault flags either apply from the start (skew, silence,
no-pong, rejections, missing minutes, REST errors) or repeat periodically (drops, closes,
malformed frames, jumps) so a long-running consumer can be soaked against them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace

from .intervals import MINUTE_MS
from .market_model import DEFAULT_MARKETS, SimMarket
from .server import MexcSimulator
from .universe import synthetic_markets

log = logging.getLogger("backend.src.sim")


def build_markets(
    symbols: list[str] | None,
    spot_only: list[str],
    inactive: list[str],
    universe: int | None = None,
    seed: int = 1,
) -> list[SimMarket]:
    """A synthetic universe of ``universe`` USDT markets, or the default markets by name
    where known, else a 100.0-priced market with a perp."""
    if universe is not None:
        base = list(synthetic_markets(universe, seed))
    else:
        known = {m.symbol: m for m in DEFAULT_MARKETS}
        base = [known.get(name, SimMarket(name, 100.0)) for name in symbols or list(known)]
    return [
        replace(
            m,
            has_perp=m.has_perp and m.symbol not in spot_only,
            active=m.active and m.symbol not in inactive,
        )
        for m in base
    ]


def describe(markets: list[SimMarket]) -> str:
    """Every market for a short list, else counts and the first few."""
    if len(markets) <= 12:
        return ", ".join(
            m.symbol + ("" if m.active else " (inactive)") + (" +perp" if m.has_perp else "") for m in markets
        )
    quotes = Counter(m.quote for m in markets)
    return (
        f"{len(markets)} ({', '.join(f'{n} {q}' for q, n in quotes.items())}; "
        f"{sum(m.has_perp for m in markets)} perpetuals, {sum(not m.active for m in markets)} inactive): "
        + ", ".join(m.symbol for m in markets[:5])
        + ", ..."
    )


def churn(sim: MexcSimulator, seed: int) -> Callable[[], None]:
    """One listing change per call: a new coin ``L0001/USDT``... (no history, a perpetual
    on every other one) is listed, and a random quiet active market (under one trade a
    second, where delistings happen; busy pairs stay) is delisted (inactive)."""
    rng = random.Random(f"churn:{seed}")
    listed = 0

    def step() -> None:
        nonlocal listed
        listed += 1
        sim.list_market(
            SimMarket(
                f"L{listed:04d}/USDT",
                round(10 ** rng.uniform(-3, 2), 4),
                has_perp=listed % 2 == 0,
                contract_size=1.0,
                price_decimals=6,
                qty_decimals=2,
                listing_minutes_ago=0,
                activity=0.5,
            )
        )
        quiet = [m.symbol for m in sim.markets if m.active and m.activity is not None and m.activity < 1]
        if quiet:
            sim.delist_market(rng.choice(quiet))

    return step


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m backend.src.sim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--seed", type=int, default=1)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--symbols", nargs="+", metavar="BASE/QUOTE")
    which.add_argument(
        "--markets", type=int, metavar="N", help="synthetic universe: N USDT markets (+ a few USDC/BTC)"
    )
    p.add_argument("--spot-only", nargs="+", default=[], metavar="BASE/QUOTE")
    p.add_argument("--inactive", nargs="+", default=[], metavar="BASE/QUOTE")
    p.add_argument("--push-interval", type=float, default=0.1, help="seconds between pushes")
    p.add_argument("--ticker-interval", type=float, default=1.0)
    p.add_argument("--max-trades-per-push", type=int, default=5)
    p.add_argument("--history-minutes", type=int, default=3000)
    p.add_argument(
        "--churn-every", type=float, metavar="S", help="every S seconds list one market and delist one"
    )
    p.add_argument("--log-level", default="INFO")
    q = p.add_argument_group("quirks of the real MEXC (recorded; off by default)")
    q.add_argument(
        "--btcusdt-no-api-trading",
        action="store_true",
        default=None,
        help='BTCUSDT status "1" but isSpotTradingAllowed false, as on MEXC since 2025-12',
    )
    q.add_argument(
        "--klines-ignore-start-with-limit",
        action="store_true",
        help="klines with limit ignore startTime and end at endTime (or now)",
    )
    f = p.add_argument_group("faults")
    f.add_argument("--skew-ms", type=int, default=0, help="server clock offset")
    f.add_argument(
        "--missing-minutes",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="leave out the bars N minutes before start",
    )
    f.add_argument("--silence", action="store_true", help="send no data, answer pings")
    f.add_argument("--no-pong", action="store_true", help="do not answer pings")
    f.add_argument("--reject-sub", action="append", default=[], metavar="GLOB")
    f.add_argument("--rest-error", action="append", default=[], metavar="STATUS[:COUNT[:PATH]]")
    f.add_argument(
        "--refuse-every",
        type=float,
        metavar="S",
        help="every S seconds refuse connections for --refuse-for seconds",
    )
    f.add_argument("--refuse-for", type=float, default=3.0)
    f.add_argument("--drop-every", type=float, metavar="S", help="reset websockets every S s")
    f.add_argument("--close-every", type=float, metavar="S", help="close websockets every S s")
    f.add_argument(
        "--malformed-every", metavar="KIND:S", help="send a malformed frame of KIND every S seconds"
    )
    f.add_argument("--jump", action="append", default=[], metavar="SYMBOL:PCT:EVERY_S")
    return p.parse_args(argv)


def apply_static_faults(sim: MexcSimulator, args: argparse.Namespace) -> None:
    faults = sim.faults
    faults.skew_clock(args.skew_ms)
    if args.missing_minutes:
        start = sim.clock.now_ms() // MINUTE_MS * MINUTE_MS
        faults.omit_minutes([start - n * MINUTE_MS for n in args.missing_minutes])
    if args.silence:
        faults.silence()
    if args.no_pong:
        faults.stop_pong()
    for pattern in args.reject_sub:
        faults.reject_subscriptions(pattern)
    for spec in args.rest_error:
        status, count, path = [*spec.split(":", 2), "1", ""][:3]
        faults.rest_error(int(status), int(count), path=path or None)


Job = tuple[str, float, Callable[[], Awaitable[object]]]


def periodic_faults(sim: MexcSimulator, args: argparse.Namespace) -> list[Job]:
    """(name, every seconds, action) for each repeating fault flag."""
    faults = sim.faults
    jobs: list[Job] = []

    async def now(value: object = None) -> object:
        return value

    if args.drop_every:
        jobs.append(("drop websockets", args.drop_every, lambda: now(faults.drop_ws())))
    if args.close_every:
        jobs.append(("close websockets", args.close_every, faults.close_ws))
    if args.refuse_every:
        jobs.append(
            ("refuse connections", args.refuse_every, lambda: now(faults.refuse_connections(args.refuse_for)))
        )
    if args.malformed_every:
        kind, every = args.malformed_every.split(":")
        jobs.append((f"malformed {kind}", float(every), lambda: faults.send_malformed(kind)))
    if args.churn_every:
        listing_change = churn(sim, args.seed)
        jobs.append(("listing churn", args.churn_every, lambda: now(listing_change())))
    for spec in args.jump:
        symbol, pct, every = spec.rsplit(":", 2)
        jobs.append(
            (
                f"jump {symbol} {pct}%",
                float(every),
                lambda s=symbol, p=float(pct): now(faults.jump_price(s, p)),
            )
        )
    return jobs


async def run(args: argparse.Namespace) -> None:
    markets = build_markets(args.symbols, args.spot_only, args.inactive, args.markets, args.seed)
    sim = MexcSimulator(
        markets,
        seed=args.seed,
        host=args.host,
        port=args.port,
        push_interval=args.push_interval,
        ticker_interval=args.ticker_interval,
        max_trades_per_push=args.max_trades_per_push,
        history_minutes=args.history_minutes,
        klines_ignore_start_with_limit=args.klines_ignore_start_with_limit,
        **({"btcusdt_no_api_trading": True} if args.btcusdt_no_api_trading else {}),
    )
    async with sim:
        apply_static_faults(sim, args)
        print(f"MEXC simulator on {sim.base_url}  (ws: {sim.ws_url}/ws, {sim.ws_url}/edge)")
        print("markets:", describe(markets))
        print("ccxt config:", json.dumps({"urls": {"api": sim.urls}, "enableRateLimit": False}))

        async def repeat(name: str, every: float, job: Callable[[], Awaitable[object]]) -> None:
            while True:
                await asyncio.sleep(every)
                log.info("periodic fault: %s", name)
                await job()

        tasks = [asyncio.create_task(repeat(*job)) for job in periodic_faults(sim, args)]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    print("MEXC simulator stopped")


if __name__ == "__main__":
    main()
