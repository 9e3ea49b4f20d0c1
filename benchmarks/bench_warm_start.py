"""Restarts from the bar store against cold bootstraps, and what the store and the bar feed
cost the event loop; against the loopback simulator.

Run by hand from the repository root (medians over ``--rounds``, both arms of a comparison in
every round, alternating):

    python benchmarks/bench_warm_start.py restart --symbols 200 --rounds 3 [--rate-limit]
    python benchmarks/bench_warm_start.py loop --symbols 100 --rounds 5
    python benchmarks/bench_warm_start.py sweep --symbols 200 2000

* ``restart``: one simulator (in this process) with ``--symbols`` markets. Per round, a cold
  start on an empty data directory (every symbol's 1500 bars from REST), stopped once every
  symbol streams; the exchange's clock moved ``--stop-minutes`` on; a warm start on the same
  directory. Per start: the kline requests of the bootstrap, the wall time until every symbol
  has bootstrapped and until every symbol has delivered its first md. ``--rate-limit`` runs
  ccxt's request limiter as against MEXC, so the times are those of the real limits.
* ``loop``: the simulator in its own process (``md_path_e2e.SimProcess``, the second core),
  ``EngineManager`` + ``MarketFeeder`` here; three arms a round: no ``data_dir``, a cold start
  on an empty one (it writes every history), a warm start on it right after. rx→md latency
  exactly (every sample, not the feeder's bucketed histogram): over the start (first md until
  ``--settle`` s after every symbol streams: the history writes) and over the ``--duration`` s
  after that (steady state).
* ``sweep``: the bar feed's once-a-second sweep over N symbols of 1500 bars, with a listener,
  without and with the store's writer: µs per sweep when no bar closed (59 seconds of a minute)
  and when every symbol closed one (once a minute); the hot path (trades, md) does no bar work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from md_path_e2e import SimProcess, sim_options
from md_path_frames import sim_markets

from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.data.bar_feed import BarFeed
from backend.src.data.bar_sink import BarSink
from backend.src.data.bar_store import BarStore
from backend.src.data.bootstrap import BootstrapProgress
from backend.src.data.health import ChannelHealth
from backend.src.data.latency import nearest_rank
from backend.src.data.live_bars import LiveBars
from backend.src.data.market_feeder import MarketFeeder
from backend.src.data.md_mapping import SymbolState
from backend.src.engine.manager import EngineManager
from backend.src.market_data import MINUTE_MS, Bar
from backend.src.sim.server import MexcSimulator

T0 = 1_767_225_600_000


async def _until(cond: Callable[[], bool], limit_s: float) -> None:
    deadline = time.perf_counter() + limit_s
    while not cond():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not within {limit_s} s")
        await asyncio.sleep(0.01)


def _kline_requests(sim: MexcSimulator, since: int = 0) -> Counter[str]:
    """Kline requests per symbol among the simulator's REST requests from number ``since`` on."""
    log = sim.recorder.rest_log[since:]
    return Counter(q.get("symbol", "") for path, q in log if path.endswith("/klines"))


# ---- restart ---------------------------------------------------------------------------


async def _start(
    sim: MexcSimulator, symbols: list[str], data_dir: Path, rate_limit: bool
) -> dict[str, float]:
    """Start a feeder on ``data_dir``; stop it once every symbol streams; what it took."""
    marks: dict[str, float] = {}
    since = len(sim.recorder.rest_log)
    started = time.perf_counter()
    bootstrap_klines: dict[str, int] = {}

    def on_progress(progress: BootstrapProgress, symbol: str) -> None:
        # a symbol's requests until its own bootstrap is done: the backfill of the minute
        # forming at its bootstrap comes after, and is no part of the bootstrap
        bootstrap_klines[symbol] = _kline_requests(sim, since)[symbol.replace("/", "")]
        if progress.ready == len(symbols):
            marks["bootstrapped_s"] = time.perf_counter() - started
            marks["klines"] = sum(bootstrap_klines.values())
            marks["klines_max"] = max(bootstrap_klines.values())

    first_md: set[str] = set()
    adapter = MexcAdapter(symbols, rate_limit=rate_limit, urls=sim.urls)
    feeder = MarketFeeder(symbols, adapter=adapter, data_dir=data_dir, on_progress=on_progress)
    run = asyncio.create_task(feeder.run(lambda md: first_md.add(md["symbol"])))
    await _until(lambda: len(first_md) == len(symbols), 900.0)
    marks["streaming_s"] = time.perf_counter() - started
    await feeder.close()
    await run
    return marks


async def _restart_rounds(args: argparse.Namespace) -> list[dict[str, Any]]:
    symbols = [m.symbol for m in sim_markets(args.symbols)]
    rounds = []
    for i in range(args.rounds):
        # a simulator per round: the minutes its clock skips have no bars, and a later round's
        # cold start would need more pages for that hole than MEXC, which traded meanwhile
        data_dir = Path(tempfile.mkdtemp(prefix="bench-warm-"))
        try:
            async with MexcSimulator(sim_markets(args.symbols), seed=i + 1, push_interval=0.25) as sim:
                cold = await _start(sim, symbols, data_dir, args.rate_limit)
                sim.faults.skew_clock(sim.clock.skew_ms + args.stop_minutes * MINUTE_MS)
                warm = await _start(sim, symbols, data_dir, args.rate_limit)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        rounds.append({"cold": cold, "warm": warm})
        print(f"round {i + 1}: cold {cold}, warm {warm}", flush=True)
    return rounds


def _restart_table(rounds: list[dict[str, Any]], symbols: int) -> str:
    def med(arm: str, key: str) -> float:
        return statistics.median(r[arm][key] for r in rounds)

    lines = [
        f"| start ({symbols} symbols) | kline requests | most for one symbol | s until all bootstrapped "
        "| s until all stream |",
        "|---|---|---|---|---|",
    ]
    for arm in ("cold", "warm"):
        keys = ("klines", "klines_max", "bootstrapped_s", "streaming_s")
        cells = [f"{med(arm, k):.0f}" if k.startswith("klines") else f"{med(arm, k):.2f}" for k in keys]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    ratio = med("cold", "streaming_s") / med("warm", "streaming_s")
    lines.append(f"\nmedians of {len(rounds)} rounds; warm is {ratio:.2f}x as fast until all stream")
    return "\n".join(lines)


# ---- loop ------------------------------------------------------------------------------


class _Samples:
    """Every rx→md latency the feeder records (``ChannelHealth.on_data``), in ms."""

    def __init__(self) -> None:
        self.values: list[float] = []
        original = ChannelHealth.on_data

        def on_data(health: ChannelHealth, now: float, latency_s: float | None = None) -> None:
            if latency_s is not None:
                self.values.append(latency_s * 1e3)
            original(health, now, latency_s)

        ChannelHealth.on_data = on_data  # type: ignore[method-assign]

    def cut(self) -> list[float]:
        out, self.values = self.values, []
        return out


def _percentiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {f"p{q}": nearest_rank(ordered, q) for q in (50, 95, 99)} | {"n": len(ordered)}


async def _loop_arm(
    sim: SimProcess, symbols: list[str], data_dir: Path | None, samples: _Samples, args: argparse.Namespace
) -> dict[str, Any]:
    adapter = MexcAdapter(symbols, rate_limit=False, urls=sim.urls)
    feeder = MarketFeeder(symbols, adapter=adapter, data_dir=data_dir)
    manager = EngineManager(symbols, feeder=feeder, stop_timeout=30.0)
    try:
        await manager.start()
        await _until(lambda: sum(feeder.delivered.values()) > 0, 300.0)
        samples.cut()  # from the first md on
        await _until(lambda: len(feeder.delivered) == len(symbols), 300.0)
        await asyncio.sleep(args.settle)
        start = _percentiles(samples.cut())
        await asyncio.sleep(args.duration)
        steady = _percentiles(samples.cut())
        written = feeder.bar_sink.writer.written if feeder.bar_sink is not None else 0
    finally:
        await manager.stop()
    return {"start": start, "steady": steady, "bars_written": written}


#: the arms of a round: no store; a cold start on an empty data directory (it writes every
#: history); a warm start on that directory right after (it writes back what the store lacks)
ARMS = ("none", "cold", "warm")


async def _loop_rounds(args: argparse.Namespace) -> list[dict[str, Any]]:
    symbols = [m.symbol for m in sim_markets(args.symbols)]
    samples = _Samples()
    rounds = []
    async with SimProcess(args.symbols, 1, sim_options(args.push_interval, 3)) as sim:
        for i in range(args.rounds):
            data_dir = Path(tempfile.mkdtemp(prefix="bench-loop-"))
            try:
                order = ARMS if i % 2 == 0 else ("cold", "warm", "none")
                arms = {
                    arm: await _loop_arm(sim, symbols, None if arm == "none" else data_dir, samples, args)
                    for arm in order
                }
            finally:
                shutil.rmtree(data_dir, ignore_errors=True)
            rounds.append(arms)
            print(f"round {i + 1}: {json.dumps(arms)}", flush=True)
    return rounds


def _loop_table(rounds: list[dict[str, Any]], args: argparse.Namespace) -> str:
    def med(arm: str, window: str, key: str) -> float:
        return statistics.median(r[arm][window][key] for r in rounds)

    cols = (("start", "p50"), ("start", "p95"), ("steady", "p50"), ("steady", "p95"), ("steady", "p99"))
    lines = [
        f"| rx→md ms ({args.symbols} symbols, {args.push_interval * 1000:.0f} ms pushes) | "
        "start p50 | start p95 | steady p50 | steady p95 | steady p99 | bars written |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        cells = [f"{med(arm, w, k):.2f}" for w, k in cols]
        written = statistics.median(r[arm]["bars_written"] for r in rounds)
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {written:,.0f} |")
    for arm in ARMS[1:]:
        for window in ("start", "steady"):
            ratios = [r[arm][window]["p95"] / r["none"][window]["p95"] for r in rounds]
            lines.append(
                f"\n{arm}/none {window} p95, per round: {', '.join(f'{x:.2f}' for x in ratios)}; "
                f"median {statistics.median(ratios):.2f}"
            )
    return "\n".join(lines)


# ---- sweep -----------------------------------------------------------------------------


class _Count:
    """A bar listener that only counts (what the feeder hands out, not what engines do)."""

    def __init__(self) -> None:
        self.bars = 0

    def on_history(self, symbol: str, bars: list[Bar]) -> None:
        self.bars += len(bars)

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1


async def _sweep_costs(n: int, repeats: int, store: bool) -> dict[str, float]:
    """µs per sweep of ``n`` symbols (with the store's writer or without): nothing closed; one
    bar closed per symbol. The writer is not flushed: its thread's work is not the loop's."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        history = [[T0 + i * MINUTE_MS, 1.0, 1.0, 1.0, 1.0, 1.0] for i in range(1500)]
        states = {f"S{i:04d}/USDT": SymbolState(f"S{i:04d}/USDT", LiveBars(history)) for i in range(n)}
        now = [T0 + 1500 * MINUTE_MS + 30_000]
        feed = BarFeed(lambda: now[0])  # the histories go out without the store: not the sweep's work
        feed.listener = _Count()
        for state in states.values():
            await feed.history(state)
            state.bars.add_trade(now[0], 1.0, 1.0)  # the minute forming now
        sink = feed.sink = BarSink(BarStore(data_dir)) if store else None
        idle, closing = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            feed.sweep(states.values())
            idle.append((time.perf_counter() - started) * 1e6)
            now[0] += MINUTE_MS
            for state in states.values():
                state.bars.add_trade(now[0], 1.0, 1.0)  # closes the bar of the minute before
            started = time.perf_counter()
            feed.sweep(states.values())
            closing.append((time.perf_counter() - started) * 1e6)
            if sink is not None:
                sink.writer._pending.clear()
        if sink is not None:
            sink.close()
        return {"idle_us": statistics.median(idle), "closing_us": statistics.median(closing)}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _sweep_table(args: argparse.Namespace) -> str:
    lines = [
        "| symbols | store | sweep µs, no bar closed | sweep µs, every symbol closed one |",
        "|---|---|---|---|",
    ]
    for n in args.symbols:
        for store in (False, True):
            cost = asyncio.run(_sweep_costs(n, args.repeats, store))
            lines.append(
                f"| {n} | {'yes' if store else 'no'} | {cost['idle_us']:.0f} | {cost['closing_us']:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    restart = sub.add_parser("restart", help="warm restart against a cold bootstrap")
    restart.add_argument("--symbols", type=int, default=200)
    restart.add_argument("--rounds", type=int, default=3)
    restart.add_argument("--stop-minutes", type=int, default=10, help="how long the feeder was stopped")
    restart.add_argument("--rate-limit", action="store_true", help="ccxt's request limiter, as against MEXC")
    loop = sub.add_parser("loop", help="rx→md latency with and without data_dir")
    loop.add_argument("--symbols", type=int, default=100)
    loop.add_argument("--rounds", type=int, default=5)
    loop.add_argument("--push-interval", type=float, default=0.1)
    loop.add_argument("--settle", type=float, default=5.0, help="s after every symbol streams, still 'start'")
    loop.add_argument("--duration", type=float, default=20.0, help="s of steady state measured")
    sweep = sub.add_parser("sweep", help="cost of the bar feed's sweep")
    sweep.add_argument("--symbols", type=int, nargs="+", default=[200, 2000])
    sweep.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.mode == "restart":
        print(_restart_table(asyncio.run(_restart_rounds(args)), args.symbols))
    elif args.mode == "loop":
        print(_loop_table(asyncio.run(_loop_rounds(args)), args))
    else:
        print(_sweep_table(args))


if __name__ == "__main__":
    main()
