"""Benchmark the market-data path: MEXC frame → ccxt (or our fast path) → md → engine inbox.

Run by hand from the repository root (not collected by pytest):

    python benchmarks/bench_md_path.py                      # 1, 10, 100, 1000 symbols + e2e
    python benchmarks/bench_md_path.py --symbols 100 --frames 4000 --no-e2e
    python benchmarks/bench_md_path.py --symbols 1 100 1000 --no-e2e --repeat 5   # medians of 5 runs
    python benchmarks/bench_md_path.py --e2e-only --e2e-symbols 50 --push-interval 0.01

Synthetic part (one child process per symbol count, so peak RSS is per count): realistic
frames from the simulator's market model and frame builders (book ticker, aggregated deals
with 1–5 trades, 1m kline, swap ``push.ticker`` JSON), ccxt markets parsed by ccxt itself from
the simulator's exchangeInfo/contract-detail payloads. Every frame enters where aiohttp hands
it to ccxt, ``GuardedClient.handle_message(WSMessage)``, driven synchronously without a socket.
A consumer is always waiting: before each frame a future is created for the frame's message
hash, as ``watch_*`` does, so every frame pays ccxt's future resolution. Timing starts at a
long-running feeder's steady state: every symbol's ccxt trade cache already full.

Stages, timed per frame with ``perf_counter_ns`` (GC enabled):

* ``a ccxt``: ``client.handle_message`` with ccxt's own handling (decode with MessageToDict,
  parse, store, resolve) — ``MexcWsClient(fast_path=False)``.
* ``a fast``: the same call with the fast path (:mod:`backend.src.adapters.mexc_fast_path`).
* ``w watch``: ccxt's ``watch_*`` bookkeeping around it: creating the future, reading the
  result, and for trades ``getLimit`` + ``filter_by_since_limit`` (``newUpdates``). Same work
  on both paths.
* ``b ours``: ccxt value → record (``mexc_parsing``, as ``MexcAdapter.stream_*``) → feed
  health accounting, ``SymbolState.apply_*``, ``to_md`` (as ``MarketFeeder._pump``) →
  ``EngineManager._on_md`` → ``Engine.push_md``. One md per record, i.e. per trade push
  (``stream_trade_batches``), as the feeder does. Engines keep up: their
  inboxes are drained outside the timer. Klines end at ccxt (the md path builds bars from
  trades), so their ``b`` is empty. Measured on ccxt's values (``fast_path=False``).
* ``b fast``: the same work on the fast path's values, i.e. what runs in production (the fast
  path is on by default): its trade dicts carry only the fields the feed reads.
* ``c full`` = a ccxt + w + b;  ``d fast`` = a fast + w + b (each measured as one interval).

Frames/s = 1e9 / mean ns of the stage (one core; the timers cost ~0.1 µs per frame). The two
paths run alternately in blocks of the same frames, after a warm-up.

Memory (per symbol count, fast path): markets, one ws client, one SymbolState with 1500
bootstrap bars and one engine per symbol; then deals until every symbol's ccxt trade cache
holds ``tradesLimit`` trades and every engine inbox is full (steady state of a slow consumer).
RSS from /proc (peak from ``getrusage``); the Python-allocation breakdown uses tracemalloc.

End-to-end part: see ``md_path_e2e.py`` (loopback simulator, real sockets, real feeder).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import itertools
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import ccxt
from aiohttp import WSMessage, WSMsgType
from md_path_frames import (
    BOOK_TICKER,
    DEALS,
    KINDS,
    KLINE,
    START_MS,
    SWAP_TICKER,
    Frame,
    frame_stream,
    load_ccxt_markets,
    sim_markets,
    take,
)
from rich.console import Console
from rich.table import Table
from rss import peak_rss_mb, rss_mb

from backend.src import validation
from backend.src.adapters.mexc import ccxt_compat
from backend.src.adapters.mexc_ccxt import MexcAdapter
from backend.src.adapters.mexc_parsing import parse_book_ticker, parse_swap_ticker, parse_trades
from backend.src.adapters.mexc_ws_client import MexcWsClient
from backend.src.adapters.time_sync import ClockSync
from backend.src.data.health import ChannelHealth
from backend.src.data.live_bars import LiveBars
from backend.src.data.market_feeder import MarketFeeder
from backend.src.data.md_mapping import SymbolState
from backend.src.engine.engine import Engine
from backend.src.engine.manager import EngineManager

log = logging.getLogger("bench_md_path")
console = Console(width=200)

STAGES = ("a ccxt", "a fast", "w watch", "b ours", "b fast", "b per md", "c full", "d fast")
#: What the md path subscribes to; klines are timed on their own but left out of ``mix``.
MD_KINDS = (BOOK_TICKER, DEALS, SWAP_TICKER)
BOOTSTRAP_BARS = 1500
#: Targets of the task (µs, frames/s).
TARGETS = {"b ours p95": 20.0, "c full p95": 250.0, "d fast p95": 30.0, "d fast fps": 50_000.0}


# -- stage (b): our side of the path ---------------------------------------------------------


class _IdleFeeder:
    """The manager only needs a feeder object; md are pushed by :class:`OurPath` directly."""

    symbols: list[str] = []  # noqa: RUF012  # protocol attribute, never mutated

    async def run(self, on_md: Callable[[dict], Any]) -> None:  # pragma: no cover - never run
        await asyncio.Event().wait()

    async def close(self) -> None:  # pragma: no cover - never run
        return None


def bootstrap_bars() -> list[list[float]]:
    """The feeder's bootstrap history: closed 1 m bars up to ``START_MS``, every number its own
    object as ccxt parses them from JSON (shared constants would understate the memory)."""
    first = START_MS - BOOTSTRAP_BARS * 60_000
    bars = []
    for i in range(BOOTSTRAP_BARS):
        close = 100.0 + (i % 97) * 0.01
        bars.append([first + i * 60_000, close - 0.005, close + 0.01, close - 0.01, close, 1.0 + i])
    return bars


class OurPath:
    """What the library does with one resolved ccxt value, synchronously.

    Mirrors ``MexcAdapter._supervise_loop`` (backoff reset, ``rx`` lookup) and
    ``stream_ticker/stream_trade_batches/stream_swap_ticker`` (record, ``rx``, last trade
    price), ``MarketFeeder._pump`` (channel health, ``apply_*``, backfill check, ``ready``,
    ``to_md``, delivery count) and ``EngineManager._on_md`` → ``Engine.push_md``: one md per
    record, and one per trade push (a batch of trades). The sync pieces are the library's own
    methods (``stats.fresh``, ``records.parsed``, ``Backfill.maybe_run``, health, state,
    manager), so the mirror is only the glue; the async-generator and task hops are left out
    (the end-to-end run has those).
    """

    def __init__(self, symbols: list[str], contract_sizes: dict[str, float | None], queue_size: int = 100):
        self.states = {s: SymbolState(s, LiveBars(bootstrap_bars(), BOOTSTRAP_BARS)) for s in symbols}
        self.contract_sizes = contract_sizes
        self.adapter = MexcAdapter(symbols)
        #: exchange time as the frames tell it (set per frame by the runner, outside the timer)
        self.exchange_now = 0
        self.adapter.clock = ClockSync(clock_ms=lambda: self.exchange_now)
        self.gates = {s: validation.TradeGate() for s in symbols}
        never_stale = time.monotonic() + 1e9  # no background 24 h stats refresh (no REST here)
        for s in symbols:
            self.adapter.stats.cache[s] = (never_stale, {"last": None, "volume": 1000.0})
        self.feeder = MarketFeeder(symbols, adapter=self.adapter)
        self.feeder.states = self.states
        self.health = self.feeder.feed_health
        self.manager = EngineManager(symbols, feeder=_IdleFeeder(), queue_size=queue_size)
        self.backoff = self.adapter.backoff_factory()
        self._channels: dict[tuple[str, str], ChannelHealth] = {}
        self.delivered = 0

    def consume(self, kind: str, symbol: str, value: Any, ws: MexcWsClient) -> None:
        ad = self.adapter
        self.backoff.success()
        url_key = "swap" if kind == SWAP_TICKER else "spot"
        rx = ccxt_compat.frame_arrival(ws, url_key)
        state = self.states[symbol]
        if kind == BOOK_TICKER:
            stats = ad.stats.fresh(symbol)
            last = ad.stats.last_trade.get(symbol, stats.get("last"))
            record = ad.records.parsed(symbol, "ticker", parse_book_ticker, value, last, stats.get("volume"))
            record = ad.records.checked(symbol, "ticker", record, validation.check_book, ad.clock.now_ms())
            record["rx"] = rx
            self._pump(state, "ticker", state.apply_ticker, record)
        elif kind == DEALS:
            trades = ad.records.parsed(symbol, "trades", parse_trades, value, rx)
            trades = ad.records.valid_trades(symbol, trades, self.gates[symbol])
            if not trades:  # as the adapter: nothing left of the push, nothing to deliver
                return
            ad.stats.last_trade[symbol] = trades[-1]["price"]
            self._pump(state, "trades", state.apply_trades, trades)
        elif kind == SWAP_TICKER:
            size = self.contract_sizes.get(symbol)
            record = ad.records.parsed(symbol, "swap", parse_swap_ticker, value, size)
            record = ad.records.checked(symbol, "swap", record, validation.check_swap, ad.clock.now_ms())
            record["rx"] = rx
            self._pump(state, "swap", state.apply_swap, record)

    def _pump(self, state: SymbolState, channel: str, apply: Callable[[Any], bool], record: Any) -> None:
        key = (state.symbol, channel)
        health = self._channels.get(key)
        if health is None:  # the feeder looks it up once per stream
            health = self._channels[key] = self.health.channel(*key)
        n = len(record) if channel == "trades" else 1
        health.on_receive(n)
        try:
            applied = apply(record)
        except Exception:  # as the feeder: a counted drop
            health.on_drop("error", n)
            return
        if not applied:
            health.on_drop("stale")
            return
        if channel == "trades":
            self.feeder.backfill.maybe_run(state)
        if state.stale and channel == self.health.freshness_channel:
            state.stale = False
        if not state.ready():
            health.on_data(self.feeder.clock())
            return
        md = state.to_md([])
        rx = record[-1].get("rx") if channel == "trades" else record.get("rx")
        health.on_data(self.feeder.clock(), time.perf_counter() - rx if rx else None)
        result = self.manager._on_md(md)
        if inspect.isawaitable(result):  # pragma: no cover - _on_md is sync
            raise TypeError("EngineManager._on_md became async; mirror the await")
        self.feeder.delivered[md["symbol"]] += 1
        self.delivered += 1
        health.on_deliver()

    def drain(self, symbol: str) -> None:
        """The engine keeps up: take everything out of its inbox, counted as delivered."""
        engine = self.manager.engines[symbol]
        queue = engine._md_queue
        while not queue.empty():
            queue.get_nowait()
            engine._delivered += 1

    def engines(self) -> list[Engine]:
        return list(self.manager.engines.values())


# -- driving one path --------------------------------------------------------------------


class Runner:
    """One ``MexcWsClient`` (fast path on or off) plus :class:`OurPath`, fed frame by frame."""

    def __init__(self, ex: MexcWsClient, ours: OurPath) -> None:
        self.ex = ex
        self.ours = ours
        urls = ex.urls["api"]["ws"]
        self.spot, self.swap = ex.client(urls["spot"]), ex.client(urls["swap"])

    def run(self, frame: Frame, msg: WSMessage) -> tuple[int, int, int, int]:
        """Process one frame; returns ns of (handle, watch bookkeeping, ours, whole)."""
        clock = time.perf_counter_ns
        client = self.swap if frame.kind == SWAP_TICKER else self.spot
        self.ours.exchange_now = frame.sent_ms
        t0 = clock()
        future = client.future(frame.hash)
        t1 = clock()
        client.handle_message(msg)
        t2 = clock()
        value = future.result()
        if frame.kind == DEALS:  # what watch_trades does with the resolved ArrayCache
            limit = value.getLimit(frame.symbol, None)
            value = self.ex.filter_by_since_limit(value, None, limit, "timestamp", True)
        t3 = clock()
        self.ours.consume(frame.kind, frame.symbol, value, self.ex)
        t4 = clock()
        return t2 - t1, (t1 - t0) + (t3 - t2), t4 - t3, t4 - t0


def to_message(frame: Frame) -> WSMessage:
    kind = WSMsgType.TEXT if isinstance(frame.data, str) else WSMsgType.BINARY
    return WSMessage(kind, frame.data, None)


@dataclass
class Summary:
    n: int
    p50: float
    p95: float
    p99: float
    mean: float

    @classmethod
    def of(cls, ns: list[int]) -> Summary:
        if not ns:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        s = sorted(ns)
        q = statistics.quantiles(s, n=100, method="inclusive") if len(s) > 1 else [s[0]] * 99
        return cls(len(s), q[49] / 1e3, q[94] / 1e3, q[98] / 1e3, statistics.fmean(s) / 1e3)

    @property
    def fps(self) -> float:
        return 1e6 / self.mean if self.mean else float("nan")


def groups(kind: str) -> tuple[str, ...]:
    """The tables a frame counts in: its kind, ``spot`` (fast-path channels), ``mix`` (md path)."""
    if kind in (BOOK_TICKER, DEALS):
        return kind, "spot", "mix"
    return (kind, "mix") if kind in MD_KINDS else (kind,)


async def time_paths(
    markets_n: int, frames: list[Frame], warmup: int, block: int, config: dict[str, Any], fill_seed: int
) -> dict[str, dict[str, Summary]]:
    """Per group (see :func:`groups`) and stage: latency summaries of both paths, same frames.

    Timed at a long-running feeder's steady state: every symbol's ccxt trade cache is full
    first (:func:`fill_trade_caches`), then our side starts afresh. Why: with the caches
    filling during the timed frames, the heap grows into fresh pages and a tenth of the deals
    pushes at 1000 symbols took a page fault (p95 27 µs against 19 µs full); a feeder's caches
    fill within its first minutes. The set-up heap (markets, bootstrap bars, caches) is frozen
    out of the garbage collector before timing, so a full collection over it cannot land in
    one path's samples by chance; full-GC pauses are measured on their own
    (:func:`measure_memory`).
    """
    sims = sim_markets(markets_n)
    rest = await load_ccxt_markets(sims)
    symbols = [m.symbol for m in sims]
    sizes = {m.symbol: rest.markets[m.perp_symbol]["contractSize"] if m.has_perp else None for m in sims}
    deals = take(frame_stream(sims, seed=fill_seed), 2 * markets_n, (DEALS,))
    runners = {}
    for name, fast in (("ccxt", False), ("fast", True)):
        ex = MexcWsClient(config, fast_path=fast)
        ex.set_markets_from_exchange(rest)
        runner = Runner(ex, OurPath(symbols, sizes))
        fill_trade_caches(runner, symbols, deals)
        runner.ours = OurPath(symbols, sizes)  # our side afresh: the fill moved its clocks on
        runners[name] = runner
    msgs = [to_message(f) for f in frames]
    samples: dict[tuple[str, str], list[int]] = {}
    gc.collect()
    gc.freeze()
    for start in range(0, len(frames), block):
        for name, runner in runners.items():
            for frame, msg in zip(frames[start : start + block], msgs[start : start + block], strict=True):
                delivered = runner.ours.delivered
                a, w, b, total = runner.run(frame, msg)
                runner.ours.drain(frame.symbol)
                if start < warmup:
                    continue
                mds = runner.ours.delivered - delivered
                for kind in groups(frame.kind):
                    if name == "ccxt":
                        _add(samples, kind, ("a ccxt", a), ("w watch", w), ("b ours", b), ("c full", total))
                        if mds:
                            _add(samples, kind, ("b per md", b // mds))
                    else:
                        _add(samples, kind, ("a fast", a), ("b fast", b), ("d fast", total))
    gc.unfreeze()
    fast_ex = runners["fast"].ex
    if fast_ex.fast_fallbacks or not fast_ex.fast_frames:
        log.warning("fast path: %d frames, %d fallbacks", fast_ex.fast_frames, fast_ex.fast_fallbacks)
    for runner in runners.values():
        await runner.ex.close()
    await rest.close()
    out: dict[str, dict[str, Summary]] = {}
    for (kind, stage), ns in samples.items():
        out.setdefault(kind, {})[stage] = Summary.of(ns)
    return out


def _add(samples: dict[tuple[str, str], list[int]], kind: str, *pairs: tuple[str, int]) -> None:
    for stage, ns in pairs:
        samples.setdefault((kind, stage), []).append(ns)


# -- memory ------------------------------------------------------------------------------------


def ws_config(trades_limit: int | None) -> dict[str, Any]:
    """ccxt config of the benchmark's clients (no certificates, no 250 ms sleep on close)."""
    config: dict[str, Any] = {"verify": False, "timeout_on_exit": 0}
    if trades_limit is not None:
        config["options"] = {"tradesLimit": trades_limit}
    return config


def fill_trade_caches(runner: Runner, symbols: list[str], deals: list[Frame]) -> int:
    """Run ``deals`` through ``runner`` until every symbol's ccxt trade cache holds
    ``tradesLimit`` trades (a long-running feeder's steady state); returns that limit."""
    ex = runner.ex
    limit = ex.safe_integer(ex.options, "tradesLimit", 1000)
    msgs = [to_message(f) for f in deals]
    while min((len(ex.trades.get(s, ())) for s in symbols), default=limit) < limit:
        # the same deals again would be dropped as duplicates: each pass counts as new trades
        runner.ours.gates = {s: validation.TradeGate() for s in symbols}
        for frame, msg in zip(deals, msgs, strict=True):
            runner.run(frame, msg)
    return limit


async def measure_memory(n: int, seed: int, config: dict[str, Any]) -> dict[str, float]:
    """RSS of n symbols at steady state: full trade caches, full engine inboxes (fast path)."""
    gc.collect()
    base = rss_mb()
    sims = sim_markets(n)
    rest = await load_ccxt_markets(sims)
    ex = MexcWsClient(config, fast_path=True)
    ex.set_markets_from_exchange(rest)
    symbols = [m.symbol for m in sims]
    runner = Runner(ex, OurPath(symbols, {}))
    loaded = rss_mb()
    limit = fill_trade_caches(runner, symbols, take(frame_stream(sims, seed=seed), 2 * n, (DEALS,)))
    gc.collect()
    full = rss_mb()
    started = time.perf_counter()
    gc.collect()  # what a full (generation 2) collection costs at this heap size
    gc_ms = (time.perf_counter() - started) * 1e3
    tracked = len(gc.get_objects())
    await ex.close()
    await rest.close()
    return {"base_mb": base, "loaded_mb": loaded, "steady_mb": full, "peak_mb": peak_rss_mb(),
            "per_100_mb": (full - base) / n * 100, "trades_limit": limit, "full_gc_ms": gc_ms,
            "gc_objects": tracked}


def allocation_breakdown() -> dict[str, float]:
    """Python bytes (tracemalloc) per cached trade, ticker, SymbolState and full inbox."""

    async def measure() -> dict[str, float]:
        sims = sim_markets(1)
        rest = await load_ccxt_markets(sims)
        ex = MexcWsClient(ws_config(None), fast_path=True)
        ex.set_markets_from_exchange(rest)
        ours = OurPath([sims[0].symbol], {})
        runner = Runner(ex, ours)
        frames = take(frame_stream(sims), 400, (DEALS, BOOK_TICKER))
        msgs = [to_message(f) for f in frames]
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for frame, msg in zip(frames, msgs, strict=True):
            runner.run(frame, msg)
            ours.drain(frame.symbol)
        after = tracemalloc.get_traced_memory()[0]
        trades = len(ex.trades[sims[0].symbol])
        before_state = tracemalloc.get_traced_memory()[0]
        state = OurPath([f"X{i}/USDT" for i in range(10)], {})
        state_bytes = (tracemalloc.get_traced_memory()[0] - before_state) / 10
        md = ours.states[sims[0].symbol].to_md([])
        before_q = tracemalloc.get_traced_memory()[0]
        engine = Engine("X/USDT", queue_size=100)
        for _ in range(100):
            engine.push_md(dict(md))
        queue_bytes = tracemalloc.get_traced_memory()[0] - before_q
        tracemalloc.stop()
        del state
        await ex.close()
        await rest.close()
        return {"trade_cache_bytes_per_trade": (after - before) / trades, "symbol_state_bytes": state_bytes,
                "full_inbox_bytes": queue_bytes}

    return asyncio.run(measure())


# -- child: one symbol count ---------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    logging.getLogger("backend").setLevel(logging.ERROR)  # full inboxes log their drops
    n = args.child
    config = ws_config(args.trades_limit)
    memory = asyncio.run(measure_memory(n, args.seed, config))
    timings: dict[str, dict[str, Summary]] = {}
    if not args.memory_only:
        stream = frame_stream(sim_markets(n), seed=args.seed, max_trades=args.max_trades)
        frames = list(itertools.islice(stream, args.frames))
        warmup = min(len(frames) // 5, 2000)
        gc.collect()
        timings = asyncio.run(time_paths(n, frames, warmup, args.block, config, args.seed + 1))
    plain = {kind: {stage: asdict(s) for stage, s in stages.items()} for kind, stages in timings.items()}
    json.dump({"n": n, "memory": memory, "timings": plain}, sys.stdout)


def run_child(n: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(n), "--frames", str(args.frames), "--seed",
           str(args.seed), "--max-trades", str(args.max_trades), "--block", str(args.block)]
    if args.trades_limit is not None:
        cmd += ["--trades-limit", str(args.trades_limit)]
    if args.memory_only:
        cmd.append("--memory-only")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child for {n} symbols failed:\n{done.stderr}")
    if done.stderr.strip():
        log.info("child %d: %s", n, done.stderr.strip()[-2000:])
    return json.loads(done.stdout)


# -- report ------------------------------------------------------------------------------------


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result whose every figure (per kind and stage, and the memory's) is the median of
    ``runs``' — one run's p95 moves by a third between runs on a shared VM."""
    if len(runs) == 1:
        return runs[0]
    def figure(kind: str, stage: str, field: str) -> float:
        values = [r["timings"][kind][stage][field] for r in runs]
        return values[0] if field == "n" else statistics.median(values)  # n: the same frames

    timings = {
        kind: {stage: {f: figure(kind, stage, f) for f in fields} for stage, fields in stages.items()}
        for kind, stages in runs[0]["timings"].items()
    }
    memory = {k: statistics.median(r["memory"][k] for r in runs) for k in runs[0]["memory"]}
    spread = {stage: [r["timings"]["mix"][stage]["p95"] for r in runs] for stage in ("b fast", "b ours")}
    return {"n": runs[0]["n"], "memory": memory, "timings": timings, "runs": len(runs), "p95_runs": spread}



def _summ(d: dict[str, Any]) -> Summary:
    return Summary(**d)


def stage_table(results: list[dict[str, Any]], kind: str) -> Table:
    runs = results[0].get("runs", 1) if results else 1
    title = f"per frame, {kind} (µs; frames/s = 1e6 / mean µs)"
    title += f", median of {runs} runs" if runs > 1 else ""
    table = Table(title=title, title_justify="left")
    for col in ("symbols", "stage", "p50", "p95", "p99", "mean", "frames/s", "n"):
        table.add_column(col, justify="right" if col not in ("stage",) else "left")
    for res in results:
        stages = res["timings"].get(kind, {})
        for stage in STAGES:
            if stage not in stages:
                continue
            s = _summ(stages[stage])
            if kind == KLINE and stage in ("b ours", "b fast"):
                continue
            cells = (s.p50, s.p95, s.p99, s.mean)
            table.add_row(str(res["n"]), stage, *(f"{v:.1f}" for v in cells), f"{s.fps:,.0f}", f"{s.n:,}")
    return table


def ratio_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="ccxt path / fast path (same run, same frames; higher = fast path better)",
                  title_justify="left")
    for col in ("symbols", "kind", "decode p50", "decode p95", "full p50", "full p95", "full frames/s c → d"):
        table.add_column(col, justify="right" if col != "kind" else "left")
    for res in results:
        for kind in ("mix", "spot", *KINDS):
            st = {k: _summ(v) for k, v in res["timings"].get(kind, {}).items()}
            if not st:
                continue
            a, f, c, d = st["a ccxt"], st["a fast"], st["c full"], st["d fast"]
            table.add_row(str(res["n"]), kind, f"{a.p50 / f.p50:.1f}x", f"{a.p95 / f.p95:.1f}x",
                          f"{c.p50 / d.p50:.1f}x", f"{c.p95 / d.p95:.1f}x", f"{c.fps:,.0f} → {d.fps:,.0f}")
    return table


def memory_table(results: list[dict[str, Any]], breakdown: dict[str, float] | None) -> Table:
    title = "memory at steady state (fast path; full trade caches and engine inboxes)"
    if breakdown:
        title += (
            f"\ntracemalloc: {breakdown['trade_cache_bytes_per_trade']:.0f} B per cached ccxt trade, "
            f"{breakdown['symbol_state_bytes'] / 1024:.0f} KiB per SymbolState with {BOOTSTRAP_BARS} bars, "
            f"{breakdown['full_inbox_bytes'] / 1024:.0f} KiB per full engine inbox (100 md)"
        )
    table = Table(title=title, title_justify="left")
    for col in ("symbols", "tradesLimit", "RSS base MB", "RSS loaded MB", "RSS steady MB", "peak RSS MB",
                "MB / 100 symbols", "GC objects", "full GC ms"):
        table.add_column(col, justify="right")
    for res in results:
        m = res["memory"]
        table.add_row(str(res["n"]), str(m["trades_limit"]), f"{m['base_mb']:.0f}", f"{m['loaded_mb']:.0f}",
                      f"{m['steady_mb']:.0f}", f"{m['peak_mb']:.0f}", f"{m['per_100_mb']:.1f}",
                      f"{m['gc_objects']:,}", f"{m['full_gc_ms']:.0f}")
    return table


def verdicts(results: list[dict[str, Any]]) -> list[str]:
    """Each target against the group it is about: md path (``mix``) or fast-path channels."""
    lines = []
    for res in results:
        mix = {k: _summ(v) for k, v in res["timings"]["mix"].items()}
        spot = {k: _summ(v) for k, v in res["timings"]["spot"].items()}
        checks = [  # (what, measured, limit, at most?)
            ("our overhead p95 ≤ 20 µs (mix, production)", mix["b fast"].p95, TARGETS["b ours p95"], True),
            ("our overhead p95 ≤ 20 µs (mix, ccxt values)", mix["b ours"].p95, TARGETS["b ours p95"], True),
            ("full path via ccxt p95 ≤ 250 µs (mix)", mix["c full"].p95, TARGETS["c full p95"], True),
            ("fast decode p95 ≤ 30 µs (spot)", spot["a fast"].p95, TARGETS["d fast p95"], True),
            ("fast decode ≥ 50k frames/s (spot)", spot["a fast"].fps, TARGETS["d fast fps"], False),
            ("fast + ours p95 ≤ 30 µs (spot)", spot["d fast"].p95, TARGETS["d fast p95"], True),
            ("fast + ours ≥ 50k frames/s (spot)", spot["d fast"].fps, TARGETS["d fast fps"], False),
        ]
        for what, value, limit, at_most in checks:
            ok = value <= limit if at_most else value >= limit
            lines.append(f"{res['n']:>5} symbols  {what:<40} {value:>10,.1f}  {'met' if ok else 'NOT met'}")
        for stage, values in res.get("p95_runs", {}).items():
            each = ", ".join(f"{v:.1f}" for v in values)
            lines.append(f"{res['n']:>5} symbols  mix {stage} p95 of each run: {each}")
    return lines


def print_timings(results: list[dict[str, Any]], detail: bool) -> None:
    console.print(stage_table(results, "mix"))
    console.print(stage_table(results, "spot"))
    if detail:
        for kind in KINDS:
            console.print(stage_table(results, kind))
    console.print(ratio_table(results))


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import google.protobuf
    from google.protobuf.internal import api_implementation

    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, ccxt {ccxt.__version__}, "
            f"protobuf {google.protobuf.__version__} ({api_implementation.Type()}), {platform.platform()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, nargs="+", default=[1, 10, 100, 1000], help="symbol counts")
    parser.add_argument("--frames", type=int, default=30_000, help="frames per symbol count (wire order)")
    parser.add_argument("--max-trades", type=int, default=5, help="trades per deals frame: 1..this")
    parser.add_argument("--block", type=int, default=250, help="frames per alternation block")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--trades-limit", type=int,
                        help="ccxt options.tradesLimit (default: MexcWsClient's; ccxt's own is 1000)")
    parser.add_argument("--memory-only", action="store_true", help="only the memory table (no timings)")
    parser.add_argument("--detail", action="store_true", help="per-kind stage tables too")
    parser.add_argument("--json", type=Path, help="also write all results to this file")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per symbol count; every figure is the median over them")
    e2e = parser.add_argument_group("end to end (loopback simulator)")
    e2e.add_argument("--no-e2e", action="store_true", help="skip the simulator run")
    e2e.add_argument("--e2e-only", action="store_true", help="only the simulator run")
    e2e.add_argument("--e2e-symbols", type=int, default=50)
    e2e.add_argument("--push-interval", type=float, default=0.01, help="simulator push interval, s")
    e2e.add_argument("--e2e-max-trades", type=int, default=3)
    e2e.add_argument("--duration", type=float, default=10.0, help="seconds of streaming per e2e case")
    e2e.add_argument("--rss-every", type=float, help="sample RSS every this many s while streaming")
    e2e.add_argument("--slow-delay", type=float, default=0.05, help="s the slow engine spends per md")
    e2e.add_argument("--e2e-paths", nargs="+", choices=("fast", "ccxt"), default=["fast", "ccxt"])
    e2e.add_argument("--engines", nargs="+", choices=("library", "draining"),
                     default=["library", "draining"],
                     help="backend Engine as is, or with the proposed non-blocking inbox read")
    e2e.add_argument("--sim-modes", nargs="+", choices=("inprocess", "process"),
                     default=["inprocess", "process"],
                     help="simulator on this event loop, or in a child process (the other core)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.child is not None:
        child(args)
        return
    console.print(f"[bold]machine[/]: {machine()}")
    console.print(f"[bold]command[/]: python {' '.join([Path(__file__).name, *sys.argv[1:]])}")
    results: list[dict[str, Any]] = []
    if not args.e2e_only:
        runs: dict[int, list[dict[str, Any]]] = {n: [] for n in args.symbols}
        for round_ in range(args.repeat):  # rounds, so a slow spell of the VM hits every count
            for n in args.symbols:
                console.print(f"running {n} symbols ({round_ + 1}/{args.repeat}) ...")
                runs[n].append(run_child(n, args))
        results = [median_run(r) for r in runs.values()]
        breakdown = allocation_breakdown()
        if not args.memory_only:
            print_timings(results, args.detail)
        console.print(memory_table(results, breakdown))
        for line in [] if args.memory_only else verdicts(results):
            console.print(line)
    e2e_results: list[dict[str, Any]] = []
    if not args.no_e2e:
        from md_path_e2e import e2e_table, rss_table, run_e2e_cases

        e2e_results = run_e2e_cases(args)
        console.print(e2e_table(e2e_results))
        if args.rss_every is not None:
            console.print(rss_table(e2e_results))
    if args.json:
        everything = {"machine": machine(), "synthetic": results, "e2e": e2e_results}
        args.json.write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
