"""End-to-end md path against the loopback simulator (helper of bench_md_path).

One process, one event loop, real sockets: ``MexcSimulator`` pushes protobuf/JSON frames for
N symbols every ``push_interval``; the real ``EngineManager`` → ``MarketFeeder`` →
``MexcAdapter`` → ``MexcWsClient`` chain consumes them into per-symbol engines. The simulator
and the consumer share the core, so the achieved frame rate is what one core sustains for
both (the simulator's own cost is part of the CPU figure).

Accounting, after the simulator is silenced and the client has drained:

* frames: written by the simulator (``sim.recorder``) == received by the ws clients;
* trades: trade items sent == trade records the feeder received + trades still waiting in
  ccxt's cache for a next frame (a ``watch_trades`` call returns only when a new frame comes);
* book tickers: frames received − ticker records = updates ccxt *conflated* (frames that
  arrived while no ``watch_ticker`` was pending only overwrite ``exchange.tickers``);
* engines: received == delivered + dropped (queue full) + queued, exactly, per engine;
  feeder md delivered == engines received + unrouted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from md_path_frames import sim_markets
from rich.table import Table
from rss import rss_mb

from backend.src.adapters.mexc import shards
from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.adapters.mexc_ws_client import MexcWsClient
from backend.src.data.market_feeder import MarketFeeder
from backend.src.engine.engine import Engine
from backend.src.engine.manager import EngineManager
from backend.src.sim.server import MexcSimulator

log = logging.getLogger("bench_md_path.e2e")


class CountingWsClient(MexcWsClient):
    """``MexcWsClient`` that counts frames as they reach ccxt; fast path set per case."""

    fast_default = True
    instances: list[CountingWsClient] = []  # noqa: RUF012  # registry of one benchmark case

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("fast_path", self.fast_default)
        super().__init__(config, **kwargs)
        self.rx_binary = 0
        self.rx_text = 0
        CountingWsClient.instances.append(self)

    def handle_message(self, client: Any, message: Any) -> None:
        if isinstance(message, bytes | bytearray):
            self.rx_binary += 1
        else:
            self.rx_text += 1
        super().handle_message(client, message)


@contextlib.contextmanager
def counting_clients(fast_path: bool) -> Iterator[list[CountingWsClient]]:
    """Make ``MexcAdapter`` build :class:`CountingWsClient` websockets for one case."""
    original = shards.MexcWsClient
    CountingWsClient.fast_default = fast_path
    CountingWsClient.instances = []
    shards.MexcWsClient = CountingWsClient  # type: ignore[misc]
    try:
        yield CountingWsClient.instances
    finally:
        shards.MexcWsClient = original  # type: ignore[misc]


class DrainingEngine(Engine):
    """``Engine`` whose inbox read takes a waiting md without a task or a timer.

    Why it is here: the library's ``Engine._get_md`` wraps every read in
    ``asyncio.wait_for(queue.get(), ...)``, which (Python 3.11) creates a task and a timer per
    md, so an engine takes at most one md per two event-loop iterations however cheap its
    strategy is. Under load an iteration lasts milliseconds and a do-nothing engine falls
    behind. This variant is the proposed fix, measured side by side (``--engines``); the
    accounting (``delivered``) is the same.
    """

    async def _get_md(self) -> dict[str, Any]:
        if not self._md_queue.empty():
            self._delivered += 1
            return self._md_queue.get_nowait()
        return await super()._get_md()


class SlowEngine(Engine):
    """An engine whose strategy takes ``delay`` seconds per md: its inbox overflows."""

    delay = 0.005

    async def on_market_data(self, md: dict[str, Any]) -> None:
        await asyncio.sleep(self.delay)
        self.last_md = md


class SlowDrainingEngine(SlowEngine, DrainingEngine):
    """The slow engine of a ``--engines draining`` case."""


def _sent(sim: MexcSimulator) -> dict[str, int]:
    out = {"spot_frames": 0, "swap_frames": 0, "deals_frames": 0, "book_frames": 0}
    for conn in sim.recorder.connections.values():
        for channel, rec in conn.channels.items():
            if conn.path == "/ws":
                out["spot_frames"] += rec.frames
                if ".deals." in channel:
                    out["deals_frames"] += rec.frames
                elif ".bookTicker." in channel:
                    out["book_frames"] += rec.frames
            else:
                out["swap_frames"] += rec.frames
    out["trades"] = sum(sim.recorder.trades_sent.values())
    return out


def _stranded_trades(clients: list[CountingWsClient]) -> int:
    """Trades appended to ccxt's caches after the consumer's last ``getLimit`` (see doc)."""
    total = 0
    for ws in clients:
        for symbol, cache in ws.trades.items():
            if not cache._clear_updates_by_symbol.get(symbol, False):
                total += cache._new_updates_by_symbol.get(symbol, 0)
    return total


async def _wait_until(predicate: Any, limit_s: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


def sim_options(push_interval: float, max_trades: int) -> dict[str, Any]:
    """Simulator options of a case: every push trades, 1 s swap tickers, no queue cut-off."""
    return {"push_interval": push_interval, "ticker_interval": 1.0, "funding_interval": 5.0,
            "max_trades_per_push": max_trades, "quiet_probability": 0.0, "history_minutes": 1600,
            "max_queue": 1_000_000}


class InProcessSim:
    """The simulator on this process's event loop: it competes with the consumer for the core."""

    def __init__(self, n: int, seed: int, options: dict[str, Any]) -> None:
        self.sim = MexcSimulator(sim_markets(n), seed=seed, **options)

    async def __aenter__(self) -> InProcessSim:
        await self.sim.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sim.stop()

    @property
    def urls(self) -> dict[str, Any]:
        return self.sim.urls

    async def sent(self) -> dict[str, Any]:
        return _sent(self.sim)

    async def silence(self) -> None:
        self.sim.faults.silence()


class SimProcess:
    """The simulator in a child process (``md_path_e2e.py --serve``), on the other core.

    Line protocol on its stdin/stdout: it prints ``{"urls": ...}`` once started, answers
    ``sent`` with the recorder totals (and its CPU seconds), ``silence`` with ``{}``, and
    exits on ``stop``.
    """

    def __init__(self, n: int, seed: int, options: dict[str, Any]) -> None:
        self.args = [sys.executable, str(Path(__file__).resolve()), "--serve", json.dumps(
            {"n": n, "seed": seed, "options": options})]
        self.proc: asyncio.subprocess.Process | None = None
        self.urls: dict[str, Any] = {}

    async def __aenter__(self) -> SimProcess:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self.urls = (await self._read())["urls"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"stop\n")
        await self.proc.wait()

    async def _read(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        return json.loads(await self.proc.stdout.readline())

    async def _ask(self, command: str) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._read()

    async def sent(self) -> dict[str, Any]:
        return await self._ask("sent")

    async def silence(self) -> None:
        await self._ask("silence")


async def serve(spec: dict[str, Any]) -> None:
    """Child side of :class:`SimProcess`."""
    loop = asyncio.get_running_loop()
    async with MexcSimulator(sim_markets(spec["n"]), seed=spec["seed"], **spec["options"]) as sim:
        print(json.dumps({"urls": sim.urls}), flush=True)
        while (line := (await loop.run_in_executor(None, sys.stdin.readline)).strip()) not in ("stop", ""):
            if line == "silence":
                sim.faults.silence()
                print("{}", flush=True)
            elif line == "sent":
                print(json.dumps({**_sent(sim), "cpu_s": time.process_time()}), flush=True)


async def _stream_for(duration: float, rss_every: float | None) -> list[tuple[float, float]]:
    """Let the case stream for ``duration`` s; with ``rss_every``, sample ``(s, RSS MiB)``."""
    if rss_every is None:
        await asyncio.sleep(duration)
        return []
    samples = []
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < duration:
        samples.append((elapsed, rss_mb()))
        await asyncio.sleep(min(rss_every, duration - elapsed))
    samples.append((time.perf_counter() - start, rss_mb()))
    return samples


async def run_case(n: int, *, push_interval: float, max_trades: int, duration: float, fast_path: bool,
                   slow_delay: float | None, separate: bool, draining: bool = False,
                   seed: int = 1, rss_every: float | None = None,
                   trades_limit: int | None = None) -> dict[str, Any]:
    """Stream for ``duration`` s and account for every frame, record and md (module doc)."""
    symbols = [m.symbol for m in sim_markets(n)]
    normal, slow = (DrainingEngine, SlowDrainingEngine) if draining else (Engine, SlowEngine)

    def engine_factory(symbol: str, **kwargs: Any) -> Engine:
        if slow_delay is not None and symbol == symbols[0]:
            engine = slow(symbol, **kwargs)
            engine.delay = slow_delay
            return engine
        return normal(symbol, **kwargs)

    sim_kind = SimProcess if separate else InProcessSim
    with counting_clients(fast_path) as clients:
        async with sim_kind(n, seed, sim_options(push_interval, max_trades)) as sim:
            options = {} if trades_limit is None else {"options": {"tradesLimit": trades_limit}}
            adapter = MexcAdapter(symbols, rate_limit=False, urls=sim.urls, ccxt_config=options)
            feeder = MarketFeeder(symbols, adapter=adapter)
            manager = EngineManager(
                symbols, feeder=feeder, engine_factory=engine_factory, queue_size=100, stop_timeout=60.0
            )
            await manager.start()
            try:
                started = await _wait_until(
                    lambda: all(e.md_stats["received"] for e in manager.engines.values()), limit_s=120.0
                )
                if not started:
                    log.warning("not every engine received md within 120 s")
                rx0, sent0 = sum(c.rx_binary + c.rx_text for c in clients), await sim.sent()
                cpu0, t0 = time.process_time(), time.perf_counter()
                rss = await _stream_for(duration, rss_every)
                rx1, sent1 = sum(c.rx_binary + c.rx_text for c in clients), await sim.sent()
                cpu1, t1 = time.process_time(), time.perf_counter()
                await sim.silence()
                deadline = time.monotonic() + 60.0
                while (await sim.sent())["spot_frames"] != sum(c.rx_binary for c in clients):
                    if time.monotonic() > deadline:
                        log.warning("client did not drain within 60 s")
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)  # let the feeder and engines take what is in flight
                slow_symbol = symbols[0] if slow_delay is not None else None
                result = _account(await sim.sent(), clients, feeder, manager, slow_symbol)
            finally:
                await manager.stop()
    wall = t1 - t0
    sim_cpu = sent1["cpu_s"] - sent0["cpu_s"] if "cpu_s" in sent0 else None
    result.update(
        symbols=n, fast_path=fast_path, slow_engine=slow_delay is not None, push_interval=push_interval,
        draining_engines=draining,
        separate_sim=separate, duration_s=wall, frames_per_s=(rx1 - rx0) / wall,
        cpu_pct=100 * (cpu1 - cpu0) / wall, cpu_us_per_frame=1e6 * (cpu1 - cpu0) / max(rx1 - rx0, 1),
        sim_cpu_pct=None if sim_cpu is None else 100 * sim_cpu / wall, rss_mb=rss,
    )
    return result


def _account(sent: dict[str, Any], clients: list[CountingWsClient], feeder: MarketFeeder,
             manager: EngineManager, slow_symbol: str | None) -> dict[str, Any]:
    stats = manager.stats()
    engines = stats["engines"].values()
    keys = ("received", "delivered", "dropped_queue_full", "queued")
    totals = {k: sum(e[k] for e in engines) for k in keys}
    exact = all(e["received"] == e["delivered"] + e["dropped_queue_full"] + e["queued"] for e in engines)
    health = feeder.feed_health.snapshot(time.monotonic())
    channels: dict[str, int] = {}
    for sym in health["symbols"].values():
        for name, ch in sym["channels"].items():
            channels[name] = channels.get(name, 0) + ch["received"]
    received_binary = sum(c.rx_binary for c in clients)
    return {
        "sent": sent,
        "received_spot_frames": received_binary,
        "fast_frames": sum(c.fast_frames for c in clients),
        "fast_fallbacks": sum(c.fast_fallbacks for c in clients),
        "malformed": sum(sum(c.malformed.values()) for c in clients),
        "trade_records": channels.get("trades", 0),
        "ticker_records": channels.get("ticker", 0),
        "swap_records": channels.get("swap", 0),
        "trades_stranded_in_ccxt": _stranded_trades(clients),
        "trades_overflow": sum(sum(c.trades_overflow.values()) for c in clients),
        "trades_limit": clients[0].options.get("tradesLimit") if clients else None,
        "tickers_conflated": sent["book_frames"] - channels.get("ticker", 0),
        "feeder_md": sum(feeder.delivered.values()),
        "unrouted": stats["unrouted"],
        "engines": totals,
        "dropped_by_other_engines": sum(
            e["dropped_queue_full"] for s, e in stats["engines"].items() if s != slow_symbol
        ),
        "engine_invariant_exact": exact,
        "md_drop_pct": 100 * totals["dropped_queue_full"] / max(totals["received"], 1),
        "feed_health": {k: health["totals"][k] for k in ("received", "delivered", "dropped")},
        "latency_ms": health["totals"]["latency"],
    }


def run_e2e_cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Fast path on and off, engines keeping up and one slow engine."""
    logging.getLogger("backend").setLevel(logging.ERROR)  # the slow engine logs its drops
    out = []
    cases = itertools.product(args.sim_modes, args.e2e_paths, args.engines, (None, args.slow_delay))
    for mode, path, engines, slow in cases:
        case = asyncio.run(run_case(args.e2e_symbols, push_interval=args.push_interval,
                                    max_trades=args.e2e_max_trades, duration=args.duration,
                                    fast_path=path == "fast", slow_delay=slow, separate=mode == "process",
                                    draining=engines == "draining", seed=args.seed,
                                    rss_every=args.rss_every, trades_limit=args.trades_limit))
        out.append(case)
    return out


def e2e_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="end to end against the loopback simulator (real sockets, feeder, manager, engines)",
                  title_justify="left")
    cols = ("sim", "path", "Engine", "engines", "symbols", "frames/s", "CPU %", "CPU µs /frame",
            "spot sent = recv", "trades sent = recs + stranded", "trades lost (cache)", "tickers conflated",
            "md to engines",
            "dropped", "delivered + dropped + queued", "md drop %", "rx→md p95 ms")
    for col in cols:
        table.add_column(col, justify="right")
    for r in results:
        e = r["engines"]
        sent = r["sent"]
        accounted = e["delivered"] + e["dropped_queue_full"] + e["queued"]
        others = r["dropped_by_other_engines"]
        table.add_row(
            "own process" if r["separate_sim"] else "same loop",
            "fast" if r["fast_path"] else "ccxt",
            "draining" if r.get("draining_engines") else "library",
            "1 slow" if r["slow_engine"] else "keep up",
            str(r["symbols"]),
            f"{r['frames_per_s']:,.0f}",
            f"{r['cpu_pct']:.0f}",
            f"{r['cpu_us_per_frame']:.0f}",
            f"{sent['spot_frames']:,} = {r['received_spot_frames']:,}",
            f"{sent['trades']:,} = {r['trade_records']:,} + {r['trades_stranded_in_ccxt']:,}",
            f"{r['trades_overflow']:,} (limit {r['trades_limit']})",
            f"{r['tickers_conflated']:,}",
            f"{e['received']:,}",
            f"{e['dropped_queue_full']:,}" + (f" ({others:,} others)" if r["slow_engine"] else ""),
            f"{accounted:,} " + ("exact" if r["engine_invariant_exact"] else "MISMATCH"),
            f"{r['md_drop_pct']:.3f}",
            f"{r['latency_ms']['p95_ms']:.2f}" if r["latency_ms"]["p95_ms"] is not None else "n/a",
        )
    return table


def rss_table(results: list[dict[str, Any]]) -> Table:
    """RSS over each case's streaming window: growth shows as a rising second half."""
    table = Table(title="RSS while streaming (MiB; sampled with --rss-every)", title_justify="left")
    for col in ("path", "engines", "symbols", "tradesLimit", "samples", "s", "first", "min", "max", "last",
                "2nd half slope MiB/min"):
        table.add_column(col, justify="right")
    for r in results:
        samples = r["rss_mb"]
        if len(samples) < 4:
            continue
        half = samples[len(samples) // 2 :]
        (t0, m0), (t1, m1) = half[0], half[-1]
        values = [m for _, m in samples]
        table.add_row("fast" if r["fast_path"] else "ccxt", "1 slow" if r["slow_engine"] else "keep up",
                      str(r["symbols"]), str(r["trades_limit"]), str(len(samples)), f"{samples[-1][0]:.0f}",
                      f"{values[0]:.1f}", f"{min(values):.1f}", f"{max(values):.1f}", f"{values[-1]:.1f}",
                      f"{(m1 - m0) / max(t1 - t0, 1e-9) * 60:+.2f}")
    return table


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        logging.basicConfig(level=logging.WARNING)
        asyncio.run(serve(json.loads(sys.argv[2])))
