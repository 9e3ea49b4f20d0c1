"""Memory and CPU per 100 symbols, and how they grow from 10 to 2000 symbols.

The simulator (``python -m backend.src.sim --markets M``: a MEXC-sized synthetic universe
with MEXC-like skewed activity, see ``backend/src/sim/universe.py``) runs in its own process,
so its CPU is not counted. For every size N a fresh feeder process (clean RSS) streams the
top N USDT markets by 24 h quote volume, exactly as production does:
``MarketFeeder(universe=UniverseSpec("USDT", top=N))`` over ``MexcAdapter`` pointed at the
simulator, every md routed into a real ``Engine`` inbox per symbol (bounded queue, the
engine's own task consuming it, as ``EngineManager._on_md`` routes). The child measures:

* bootstrap: wall time until every selected symbol is bootstrapped, time to the first md,
  CPU seconds spent on it, the simulator's CPU meanwhile;
* a steady window (``--window`` s, after ``--settle`` s): CPU seconds per wall second of the
  feeder process (``getrusage``), RSS (``VmRSS``) at its start and end (growth) and the peak
  (``VmHWM``), md/s delivered, frames/s received (feed health), drops (feed health and engine
  inboxes), websocket connections, reconnects, stale symbols, rx → md latency p50/p95 of the
  window only (feed-health histograms, start subtracted), the simulator's CPU; and, to explain
  the figures, the garbage collector's pauses per generation (``gc.callbacks``), event-loop
  lag (overshoot of 50 ms sleeps), time spent runnable but not running (``/proc/self/schedstat``,
  the shared VM's share), the quiet-market checks' all-pairs REST fetches, drop reasons, and a
  time series every ``--series-every`` s from the start (JSON only).

Baselines in the same run: an idle process with the same imports (the interpreter + library
RSS floor), and the N=10 process (adds the REST client with every market loaded, the clock
sync, the monitor: per process, not per symbol). Per 100 symbols is quoted both ways:
``(X_N - X_idle) / N * 100`` (everything the process holds beyond the imports) and the
marginal ``(X_N - X_10) / (N - 10) * 100``. ``--repeat R`` interleaves R passes over the
sizes and reports medians (the VM is shared). ``--tracemalloc`` adds one more run of the
largest size with ``tracemalloc`` on from the first import and prints its top allocations
(file:line and file) at the end of the window; ``--profile`` adds one cProfile'd run of the
largest size over the window. Both distort CPU and RSS, so they are separate runs, never in
the table. ``--variants`` runs experiments beside the base case, interleaved in the same
passes (see ``VARIANTS``: the collector left at CPython's defaults instead of the entry
points' ``gc_policy``, idle engines waking every 60 s instead of 1 s, no stream watchdog).
Every child records a hash of ``backend/src`` as it imported it, and the report warns when the
sources changed during a run::

    python benchmarks/bench_scale.py --sizes 10,100,500,1000,2000 --window 60 --repeat 3
    python benchmarks/bench_scale.py --sizes 10,100 --window 10 --settle 3        # quick check
    python benchmarks/bench_scale.py --sizes 10,2000 --window 30 --tracemalloc --profile --json out.json
    python benchmarks/bench_scale.py --report out.json --markdown                  # tables again
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

SELF = Path(__file__).resolve()
ROOT = SELF.parents[1]
TICK = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024


# ---------------------------------------------------------------------------------- /proc
def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(line.split()[1]) / 1024
    return out


def proc_cpu(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_delay_s() -> float | None:
    """Seconds this process's main thread (the event loop) spent runnable but waiting for a
    CPU (``/proc/self/schedstat``): how much the shared VM delayed it."""
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def emit(kind: str, payload: Any = None) -> None:
    """One protocol line on stdout for the parent: ``@@ KIND json``."""
    sys.stdout.write(f"@@ {kind} {json.dumps(payload)}\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------- child: idle
def import_library() -> None:
    """The imports of a feeder process (the idle baseline imports exactly these)."""
    import ccxt.pro  # noqa: F401

    import backend.src.adapters.mexc_ccxt
    import backend.src.adapters.mexc_universe
    import backend.src.data.market_feeder
    import backend.src.engine.engine  # noqa: F401


def child_idle() -> None:
    import_library()
    emit("result", {"rss_mb": proc_status()["VmRSS"], "hwm_mb": proc_status()["VmHWM"]})


# ---------------------------------------------------------------------------------- child: feed
#: channels whose rx → md latency the window also reports on its own
CHANNELS = ("ticker", "trades", "swap")


def latency_counts(feeder: Any, channel: str | None = None) -> tuple[tuple[float, ...], list[int]] | None:
    """Bucket bounds and summed bucket counts of every channel's latency histogram, or of one
    channel's (the live streams only) (private attributes of ``FeedHealth``/``LatencyHistogram``;
    None if they changed)."""
    try:
        health = feeder.feed_health
        if channel is None:
            hists = [h.latency for h in [*health._channels.values(), *health._retired]]
        else:
            hists = [h.latency for key, h in health._channels.items() if key[1] == channel]
        if not hists:
            return None
        bounds = hists[0].bounds
        total = [0] * (len(bounds) + 1)
        for h in hists:
            for i, c in enumerate(list(h._counts)):
                total[i] += c
        return bounds, total
    except (AttributeError, IndexError):
        return None


def window_percentiles(start: Any, end: Any, qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, Any]:
    """Nearest-rank percentiles (bucket upper bounds, ms) of the samples recorded between two
    :func:`latency_counts` readings."""
    if start is None or end is None:
        return {}
    bounds, counts = end[0], [e - s for e, s in zip(end[1], start[1], strict=True)]
    n = sum(counts)
    out: dict[str, Any] = {"count": n}
    for q in qs:
        if n == 0:
            out[f"p{q:g}_ms"] = None
            continue
        rank, seen = max(1, -(-int(q * n) // 100)), 0
        for i, c in enumerate(counts):
            seen += c
            if seen >= rank:
                out[f"p{q:g}_ms"] = bounds[i] * 1000 if i < len(bounds) else float("inf")
                break
    return out


def feed_sample(feeder: Any, engines: dict[str, Any]) -> dict[str, Any]:
    """Counters that are cheap to read (no full health snapshot)."""
    adapter = feeder.adapter
    health = feeder.feed_health
    chans = [*health._channels.values(), *health._retired]
    shards = [ws for ws, _ in adapter.shards.entries.values()]
    events: Counter[str] = Counter()
    for (_, event), count in adapter.counters.items():
        events[event.split(".")[0]] += count
    return {
        "received": sum(h.received for h in chans),
        "parsed": sum(h.parsed for h in chans),
        "delivered": sum(feeder.delivered.values()),
        "dropped": sum(h.dropped_total for h in chans),
        "drop_reasons": dict(sum((Counter(h.dropped) for h in chans), Counter())),
        "reconnects": sum(h.reconnects for h in chans),
        "engine_received": sum(e.md_stats["received"] for e in engines.values()),
        "engine_dropped": sum(e.dropped for e in engines.values()),
        "engine_timeouts": sum(e.md_stats["md_timeouts"] for e in engines.values()),
        "shards": len(shards),
        "connections": sum(len(ws.clients) for ws in shards),
        "trades_overflow": sum(sum(getattr(ws, "trades_overflow", {}).values()) for ws in shards),
        "fast_frames": sum(getattr(ws, "fast_frames", 0) for ws in shards),
        "fast_fallbacks": sum(getattr(ws, "fast_fallbacks", 0) for ws in shards),
        "adapter_events": dict(events),
    }


def backfills_left(feeder: Any) -> int:
    """Symbols whose bootstrap-minute backfill has not run yet (private attributes of
    ``MarketFeeder``/``Backfill``): about one kline request per symbol in the minute or two
    after the bootstrap, which is not steady state (it moved a 30 s window's CPU by 8 points)."""
    pending = len(getattr(feeder.backfill, "_pending", {}))
    running = sum(1 for t in getattr(feeder, "_background", ()) if t.get_name().startswith("backfill:"))
    return pending + running


class RestCount:
    """REST requests the feeder's ccxt client sends (its ``fetch``, under the adapter's
    retries), by URL path: the bootstrap's request budget."""

    def __init__(self, client: Any) -> None:
        from urllib.parse import urlsplit

        self.by_path: Counter[str] = Counter()
        fetch = client.fetch

        async def counted(url: str, *args: Any, **kwargs: Any) -> Any:
            self.by_path[urlsplit(url).path] += 1
            return await fetch(url, *args, **kwargs)

        client.fetch = counted

    def total(self) -> int:
        return sum(self.by_path.values())


class Diagnostics:
    """Event-loop lag, all-pairs book fetch durations (the quiet-market check) and a time
    series of the feed's trouble counters, sampled every ``every`` seconds from the start."""

    def __init__(self, feeder: Any, every: float) -> None:
        self.feeder = feeder
        self.every = every
        self.lags: list[float] = []  # overshoot of 50 ms sleeps
        self.book_fetches: list[tuple[float, float]] = []  # (start, seconds)
        self.series: list[dict[str, Any]] = []
        self.phase = "bootstrap"
        #: (start, generation, seconds, CPU seconds of the collecting thread): a collection the
        #: shared VM preempted lasts longer on the wall clock than in CPU time
        self.gc_pauses: list[tuple[float, int, float, float]] = []
        self._gc_started = (0.0, 0.0)
        gc.callbacks.append(self._on_gc)
        books = getattr(feeder.adapter, "books", None)
        if books is not None and hasattr(books, "_fetch"):
            fetch = books._fetch

            async def timed() -> Any:
                started = time.perf_counter()
                try:
                    return await fetch()
                finally:
                    self.book_fetches.append((started, time.perf_counter() - started))

            books._fetch = timed

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = (time.perf_counter(), time.thread_time())
        else:
            (wall, cpu), gen = self._gc_started, info["generation"]
            self.gc_pauses.append((wall, gen, time.perf_counter() - wall, time.thread_time() - cpu))

    async def lag_monitor(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.05)
            self.lags.append(time.perf_counter() - started - 0.05)

    def counters(self) -> dict[str, Any]:
        feeder = self.feeder
        health = feeder.feed_health
        chans = [*health._channels.values(), *health._retired]
        events: Counter[str] = Counter()
        for (_, event), count in list(feeder.adapter.counters.items()):
            events[event.split(".")[0]] += count
        return {
            "reconnects": sum(h.reconnects for h in chans),
            "delivered": sum(feeder.delivered.values()),
            "stale_now": sum(1 for st in list(feeder.states.values()) if st.stale),
            "ready": feeder.progress.ready,
            **{f"ev_{k}": v for k, v in events.items()},
        }

    async def sampler(self, t0: float) -> None:
        prev_t, prev_cpu, prev_wait, prev_lags = time.perf_counter(), self_cpu(), run_delay_s(), 0
        prev = self.counters()
        while True:
            await asyncio.sleep(self.every)
            if self.phase == "window":  # reading every counter stalls the loop ~12 ms at 2000
                continue  # symbols: the window measures the feeder, not this sampler
            now, cpu, wait = time.perf_counter(), self_cpu(), run_delay_s()
            cur = self.counters()
            lags = self.lags[prev_lags:]
            fetches = [d for t, d in self.book_fetches if t >= prev_t]
            full_gcs = [d for t, g, d, _ in self.gc_pauses if t >= prev_t and g == 2]
            dt = now - prev_t
            row = {
                "t": round(now - t0, 1),
                "phase": self.phase,
                "cpu": round((cpu - prev_cpu) / dt, 3),
                "runq_wait": None if wait is None or prev_wait is None else round((wait - prev_wait) / dt, 3),
                "lag_max_ms": round(1000 * max(lags), 1) if lags else None,
                "book_fetch_max_s": round(max(fetches), 2) if fetches else None,
                "full_gc_s": round(sum(full_gcs), 2) if full_gcs else None,
                "stale_now": cur["stale_now"],
                "ready": cur["ready"],
            }
            for key in cur:
                if key not in ("stale_now", "ready"):
                    row[key] = cur[key] - prev.get(key, 0)
            self.series.append(row)
            prev_t, prev_cpu, prev_wait, prev_lags, prev = now, cpu, wait, len(self.lags), cur

    def window_summary(self, start: int, since: float) -> dict[str, Any]:
        lags = sorted(self.lags[start:])
        fetches = sorted(d for t, d in self.book_fetches if t >= since)

        def q(values: list[float], p: float) -> float | None:
            return values[min(len(values) - 1, int(p * len(values)))] if values else None

        pauses = [(g, d) for t, g, d, _ in self.gc_pauses if t >= since]
        cpu_pauses = [c for t, _, _, c in self.gc_pauses if t >= since]
        full = [d for g, d in pauses if g == 2]
        by_gen = {
            str(gen): {
                "count": len(ds := [d for g, d in pauses if g == gen]),
                "total_s": sum(ds),
                "max_s": max(ds, default=0.0),
            }
            for gen in (0, 1, 2)
        }
        return {
            "gc_pause_share": sum(d for _, d in pauses) / max(1e-9, time.perf_counter() - since),
            "gc_by_generation": by_gen,
            "full_gcs": len(full),
            "full_gc_max_s": max(full) if full else None,
            "gc_pause_max_ms": 1000 * max((d for _, d in pauses), default=0.0),
            "gc_pause_max_cpu_ms": 1000 * max(cpu_pauses, default=0.0),
            "gc_pause_p99_ms": 1000 * (q(sorted(d for _, d in pauses), 0.99) or 0.0),
            "loop_lag_p50_ms": None if not lags else 1000 * q(lags, 0.5),
            "loop_lag_p99_ms": None if not lags else 1000 * q(lags, 0.99),
            "loop_lag_max_ms": None if not lags else 1000 * lags[-1],
            "book_fetches": len(fetches),
            "book_fetch_p50_s": q(fetches, 0.5),
            "book_fetch_max_s": fetches[-1] if fetches else None,
        }


async def child_feed(args: argparse.Namespace) -> None:
    import logging

    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start(1)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    import_library()
    from backend.src.adapters.mexc_ccxt import MexcAdapter
    from backend.src.adapters.mexc_universe import UniverseSpec
    from backend.src.data.bootstrap import BootstrapProgress
    from backend.src.data.market_feeder import MarketFeeder
    from backend.src.engine.engine import Engine

    rss_imports = proc_status()["VmRSS"]
    loop = asyncio.get_running_loop()
    engines: dict[str, Engine] = {}
    engine_starts: set[asyncio.Task[None]] = set()
    bootstrapped = asyncio.Event()
    marks: dict[str, float] = {}
    first_md: dict[str, float] = {}  # symbol -> perf_counter of its first md
    unrouted = 0

    def on_progress(progress: BootstrapProgress, symbol: str) -> None:
        if symbol not in engines:  # the engine is up before the symbol's first md
            timeout = {} if args.engine_timeout is None else {"md_timeout": args.engine_timeout}
            engine = engines[symbol] = Engine(symbol, queue_size=args.queue_size, **timeout)
            task = loop.create_task(engine.start())
            engine_starts.add(task)
            task.add_done_callback(engine_starts.discard)
        if progress.total and progress.finished >= progress.total:
            marks.setdefault("bootstrapped", time.perf_counter())
            bootstrapped.set()

    def on_md(md: dict[str, Any]) -> None:  # EngineManager._on_md's routing
        nonlocal unrouted
        symbol = md["symbol"]
        if symbol not in first_md:
            first_md[symbol] = time.perf_counter()
        engine = engines.get(symbol)
        if engine is None:
            unrouted += 1
            return
        engine.push_md(md)

    watchdog: dict[str, Any] = {}
    if args.no_watchdog:  # experiment: no silence checks, so no resets (quiet symbols go stale)
        watchdog = {"stale_after": {"ticker": None, "swap": None}, "quiet_after": None}

    gc_policy = None if args.gc_default else importlib.import_module("backend.src.gc_policy")

    def timed_settle() -> None:  # the entry points' collector policy, its pause on record
        assert gc_policy is not None
        started = time.perf_counter()
        gc_policy.settle()
        marks["settle_s"] = time.perf_counter() - started

    adapter = MexcAdapter([], rate_limit=False, urls=json.loads(args.urls), **watchdog)
    rest = RestCount(adapter.rest)
    feeder = MarketFeeder(
        [],
        adapter=adapter,
        universe=UniverseSpec("USDT", top=args.n),
        bootstrap_concurrency=args.bootstrap_concurrency,
        # as ``backend/cli.py run`` and the bus ``feed`` command do, unless measuring without
        on_progress=on_progress if gc_policy is None else gc_policy.AfterBootstrap(on_progress, timed_settle),
    )
    diag = Diagnostics(feeder, args.series_every)
    cpu0, t0 = self_cpu(), time.perf_counter()
    run = loop.create_task(feeder.run(on_md))
    helpers = [loop.create_task(diag.lag_monitor()), loop.create_task(diag.sampler(t0))]
    result: dict[str, Any] = {"n": args.n, "rss_imports_mb": rss_imports, "code": args.code}
    try:
        done, _ = await asyncio.wait(
            [run, loop.create_task(bootstrapped.wait())],
            timeout=args.bootstrap_timeout,
            return_when="FIRST_COMPLETED",
        )
        if run in done:
            run.result()  # raises why the feeder ended
            raise RuntimeError("feeder ended during bootstrap")
        boot_wall = time.perf_counter() - t0
        rest_boot = rest.total()
        result["bootstrap"] = {
            "rest_requests": rest_boot,
            "rest_by_path": dict(rest.by_path),
            "complete": bootstrapped.is_set(),
            "wall_s": (marks["bootstrapped"] - t0) if "bootstrapped" in marks else None,
            "cpu_s": self_cpu() - cpu0,
            "wall_until_now_s": boot_wall,
            **{k: getattr(feeder.progress, k) for k in ("total", "ready", "failed")},
        }
        emit("bootstrapped", result["bootstrap"])
        diag.phase = "settle"
        result["bootstrap"]["gc_settle_s"] = marks.get("settle_s")
        result["bootstrap"]["gc_frozen"] = gc.get_freeze_count()
        waited = time.perf_counter()
        # polled: the feeder has no event for it (and the benchmark must not change the feeder)
        while backfills_left(feeder) and time.perf_counter() - waited < args.backfill_wait:  # noqa: ASYNC110
            await asyncio.sleep(1.0)
        result["bootstrap"]["backfill_wait_s"] = time.perf_counter() - waited
        result["bootstrap"]["backfills_left"] = backfills_left(feeder)
        await asyncio.sleep(args.settle)
        result["rss_after_bootstrap_mb"] = proc_status()
        diag.phase = "window"

        # ---- the steady window
        lat0, s0, rest0 = latency_counts(feeder), feed_sample(feeder, engines), rest.total()
        by_channel0 = {c: latency_counts(feeder, c) for c in CHANNELS}
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        emit("window_start")
        c0, w0, q0, lag_start = self_cpu(), time.perf_counter(), run_delay_s(), len(diag.lags)
        rss_trace = [proc_status()["VmRSS"]]
        end = w0 + args.window
        while (left := end - time.perf_counter()) > 0:
            await asyncio.sleep(min(1.0, left))
            rss_trace.append(proc_status()["VmRSS"])
        c1, w1, q1 = self_cpu(), time.perf_counter(), run_delay_s()
        emit("window_end")
        diag.phase = "after"
        if profiler is not None:
            profiler.disable()
        wall = w1 - w0
        s1, lat1 = feed_sample(feeder, engines), latency_counts(feeder)
        status = proc_status()
        snap = feeder.health()["totals"]
        result["window"] = {
            "wall_s": wall,
            "cpu_s": c1 - c0,
            "cpu_share": (c1 - c0) / wall,
            "runq_wait_share": None if q0 is None or q1 is None else (q1 - q0) / wall,
            **diag.window_summary(lag_start, w0),
            "rss_start_mb": rss_trace[0],
            "rss_end_mb": status["VmRSS"],
            "rss_max_mb": max(rss_trace),
            "hwm_mb": status["VmHWM"],
            "md_per_s": (s1["delivered"] - s0["delivered"]) / wall,
            "frames_per_s": (s1["received"] - s0["received"]) / wall,
            "engine_md_per_s": (s1["engine_received"] - s0["engine_received"]) / wall,
            "engine_wakeups_per_s": (s1["engine_timeouts"] - s0["engine_timeouts"]) / wall,
            "dropped": s1["dropped"] - s0["dropped"],
            "engine_dropped": s1["engine_dropped"] - s0["engine_dropped"],
            "reconnects": s1["reconnects"] - s0["reconnects"],
            "quiet_check_failures": s1["adapter_events"].get("quiet_check", 0)
            - s0["adapter_events"].get("quiet_check", 0),
            "rest_per_s": (rest.total() - rest0) / wall,
            "trades_overflow": s1["trades_overflow"] - s0["trades_overflow"],
            "latency": window_percentiles(lat0, lat1),
            "latency_by_channel": {
                c: window_percentiles(by_channel0[c], latency_counts(feeder, c)) for c in CHANNELS
            },
        }
        firsts = sorted(first_md.values())
        streamed = feeder.progress.total or args.n  # the top N less inactive markets
        result["bootstrap"]["first_md_s"] = firsts[0] - t0 if firsts else None
        result["bootstrap"]["half_md_s"] = (
            firsts[(streamed - 1) // 2] - t0 if len(firsts) >= streamed / 2 else None
        )
        result["bootstrap"]["all_md_s"] = firsts[-1] - t0 if len(firsts) >= streamed else None
        result["end"] = {
            **{
                k: s1[k]
                for k in (
                    "shards",
                    "connections",
                    "fast_frames",
                    "fast_fallbacks",
                    "adapter_events",
                    "drop_reasons",
                )
            },
            "symbols": len(feeder.symbols),
            "quiet_check_failures": s1["adapter_events"].get("quiet_check", 0),
            "rest_requests": rest.total(),
            "symbols_with_md": len(feeder.delivered),
            "failed": len(feeder.failed),
            "unrouted": unrouted,
            "stale_symbols": len(snap["stale_symbols"]),
            "stale_examples": snap["stale_symbols"][:5],
            "reconnects_total": snap["reconnects"],
            "dropped_total": snap["dropped"],
            "latency_total": snap["latency"],
            "backfilled_bars": sum(feeder.backfilled.values()),
        }
        if profiler is not None:
            import io
            import pstats

            buf = io.StringIO()
            stats = pstats.Stats(profiler, stream=buf)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(30)
            result["profile"] = buf.getvalue()
        if args.tracemalloc:
            result["tracemalloc"] = tracemalloc_report(args.top)
    finally:
        for task in helpers:
            task.cancel()
        result["series"] = diag.series
        emit("closing")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(feeder.close(), 30)
        if not run.done():
            run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        for engine in engines.values():
            await engine.stop(0.5)
    emit("result", result)


def tracemalloc_report(top: int) -> dict[str, Any]:
    import gc
    import tracemalloc

    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        ]
    )

    def rows(key: str) -> list[dict[str, Any]]:
        out = []
        for stat in snap.statistics(key)[:top]:
            frame = stat.traceback[0]
            where = (
                os.path.relpath(frame.filename, ROOT)
                if frame.filename.startswith(str(ROOT))
                else frame.filename
            )
            where = where.split("site-packages/")[-1]
            out.append(
                {
                    "where": f"{where}:{frame.lineno}" if key == "lineno" else where,
                    "mb": stat.size / MB,
                    "blocks": stat.count,
                }
            )
        return out

    traced, peak = tracemalloc.get_traced_memory()
    return {
        "traced_mb": traced / MB,
        "peak_mb": peak / MB,
        "gc_objects": len(gc.get_objects()),
        "by_line": rows("lineno"),
        "by_file": rows("filename"),
    }


# ---------------------------------------------------------------------------------- parent
class Sim:
    def __init__(self, markets: int, log_path: Path) -> None:
        self.markets = markets
        self.port = free_port()
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Sim:
        import aiohttp

        cmd = [
            sys.executable,
            "-m",
            "backend.src.sim",
            "--port",
            str(self.port),
            "--markets",
            str(self.markets),
        ]
        cmd += ["--log-level", "WARNING"]
        log = open_log(self.log_path)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=log
            )
        finally:
            os.close(log)
        async with aiohttp.ClientSession() as session:
            for _ in range(1500):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with session.get(f"http://127.0.0.1:{self.port}/api/v3/ping") as resp:
                        await resp.read()
                    return self
                await asyncio.sleep(0.02)
        raise RuntimeError("simulator did not start")

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return proc_cpu(self.pid)


async def run_child(
    argv: list[str], sim: Sim | None, log_path: Path, limit_s: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a child mode; returns (its result, the parent's observations: sim CPU shares, log)."""
    cmd = [sys.executable, str(SELF), *argv]
    seen: dict[str, Any] = {}
    result: dict[str, Any] = {}
    log = open_log(log_path)
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=log, limit=2**24
        )
    finally:
        os.close(log)
    assert proc.stdout is not None
    started, sim0 = time.perf_counter(), sim.cpu() if sim else 0.0
    marks: dict[str, tuple[float, float]] = {}
    try:
        async with asyncio.timeout(limit_s):
            while line := await proc.stdout.readline():
                text = line.decode()
                if not text.startswith("@@ "):
                    continue
                kind, payload = text[3:].split(" ", 1)
                marks[kind] = (time.perf_counter(), sim.cpu() if sim else 0.0)
                if kind == "result":
                    result = json.loads(payload)
            await proc.wait()
    except TimeoutError:
        seen["timeout"] = True
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if sim is not None:
        if "bootstrapped" in marks:
            t, c = marks["bootstrapped"]
            seen["sim_cpu_bootstrap"] = (c - sim0) / (t - started)
        if "window_start" in marks and "window_end" in marks:
            (ta, ca), (tb, cb) = marks["window_start"], marks["window_end"]
            seen["sim_cpu_window"] = (cb - ca) / (tb - ta)
        seen["sim_rss_mb"] = proc_status(sim.pid)["VmRSS"]
    seen["log"] = log_summary(log_path)
    return result, seen


def open_log(path: Path) -> int:
    """A file descriptor for a child's stderr (the caller closes it once the child has it)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def log_summary(path: Path) -> dict[str, Any]:
    """Counts of WARNING/ERROR lines in a child's log, and the first few of them."""
    text = path.read_text(errors="replace").splitlines()
    levels = Counter(w for line in text for w in ("WARNING", "ERROR", "CRITICAL") if f" {w} " in line)
    return {
        "counts": dict(levels),
        "first": [line[:300] for line in text if " WARNING " in line or " ERROR " in line][:8],
    }


def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def dig(d: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


METRICS = (
    "bootstrap.wall_s",
    "bootstrap.first_md_s",
    "bootstrap.half_md_s",
    "bootstrap.all_md_s",
    "bootstrap.cpu_s",
    "window.cpu_share",
    "window.rss_start_mb",
    "window.rss_end_mb",
    "window.hwm_mb",
    "window.md_per_s",
    "window.frames_per_s",
    "window.dropped",
    "window.engine_dropped",
    "window.reconnects",
    "window.trades_overflow",
    "window.latency.p50_ms",
    "window.latency.p95_ms",
    "window.engine_wakeups_per_s",
    "end.connections",
    "end.shards",
    "end.stale_symbols",
    "end.symbols_with_md",
    "end.failed",
    "sim_cpu_window",
    "sim_cpu_bootstrap",
    "bootstrap.ready",
    "bootstrap.total",
    "bootstrap.rest_requests",
    "bootstrap.gc_settle_s",
    "bootstrap.backfill_wait_s",
    "bootstrap.backfills_left",
    "window.loop_lag_p99_ms",
    "window.loop_lag_max_ms",
    "window.gc_pause_max_ms",
    "window.gc_pause_max_cpu_ms",
    "window.gc_pause_p99_ms",
    "window.gc_pause_share",
    "window.full_gcs",
    "window.quiet_check_failures",
    "window.rest_per_s",
    "window.runq_wait_share",
    "end.quiet_check_failures",
)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repeats of one size."""
    return {m: median([dig(r, m) for r in runs]) for m in METRICS}


def per_100(rows: dict[int, dict[str, Any]], idle_rss: float) -> dict[int, dict[str, Any]]:
    base_n = min(rows)
    base = rows[base_n]
    out = {}
    base_n = base.get("bootstrap.total") or base_n
    for key, row in rows.items():
        rss, cpu = row["window.rss_end_mb"], row["window.cpu_share"]
        n = row.get("bootstrap.total") or key  # symbols actually streamed (inactive markets are skipped)
        entry: dict[str, Any] = {
            "rss_mb_per_100_vs_idle": None if rss is None else (rss - idle_rss) / n * 100,
            "cpu_pct_per_100": None if cpu is None else 100 * cpu / n * 100,
        }
        if n != base_n and rss is not None and base["window.rss_end_mb"] is not None:
            entry["rss_mb_per_100_marginal"] = (rss - base["window.rss_end_mb"]) / (n - base_n) * 100
            entry["cpu_pct_per_100_marginal"] = 100 * (cpu - base["window.cpu_share"]) / (n - base_n) * 100
        out[key] = entry
    return out


def fmt(v: Any, spec: str = ".1f") -> str:
    if v is None:
        return "-"
    return format(v, spec) if isinstance(v, float) else str(v)


def pct(v: float | None) -> float | None:
    return None if v is None else 100 * v


#: (header, metric, format) of the main table; the metric is a key of ``summarise``'s dict.
MAIN_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("boot s", "bootstrap.wall_s", ".1f"),
    ("1st md s", "bootstrap.first_md_s", ".2f"),
    ("half md s", "bootstrap.half_md_s", ".1f"),
    ("boot CPU s", "bootstrap.cpu_s", ".1f"),
    ("CPU %", "window.cpu_share", "%"),
    ("RSS start MB", "window.rss_start_mb", ".0f"),
    ("RSS end MB", "window.rss_end_mb", ".0f"),
    ("HWM MB", "window.hwm_mb", ".0f"),
    ("md/s", "window.md_per_s", ".0f"),
    ("frames/s", "window.frames_per_s", ".0f"),
    ("drops", "window.dropped", "g"),
    ("engine drops", "window.engine_dropped", "g"),
    ("ws conns", "end.connections", "g"),
    ("reconnects", "window.reconnects", "g"),
    ("stale", "end.stale_symbols", "g"),
    ("rx→md p50 ms", "window.latency.p50_ms", ".2f"),
    ("rx→md p95 ms", "window.latency.p95_ms", ".2f"),
    ("loop lag p99 ms", "window.loop_lag_p99_ms", ".1f"),
    ("GC max ms", "window.gc_pause_max_ms", ".1f"),
    ("GC max CPU ms", "window.gc_pause_max_cpu_ms", ".1f"),
    ("boot REST", "bootstrap.rest_requests", ".0f"),
    ("quiet fails", "end.quiet_check_failures", ".0f"),
    ("sim CPU %", "sim_cpu_window", "%"),
)

#: (goal, metric, target, at most): the goal row of one feeder process at the largest N;
#: ``rss_mb_per_100_vs_idle`` and the REST budget come from ``per_100`` and ``--rest-budget``.
GOALS: tuple[tuple[str, str, float], ...] = (
    ("rx→md p95 ms", "window.latency.p95_ms", 5.0),
    ("event-loop lag p99 ms", "window.loop_lag_p99_ms", 20.0),
    ("longest GC pause ms", "window.gc_pause_max_ms", 20.0),
    ("longest GC pause, CPU time ms (preemption excluded)", "window.gc_pause_max_cpu_ms", 20.0),
    ("bootstrap s", "bootstrap.wall_s", 15.0),
    ("failed quiet-market checks", "end.quiet_check_failures", 0),
    ("reconnects", "window.reconnects", 0),
    ("drops (feed + engine inboxes)", "drops", 0),
    ("CPU % of a core", "cpu_pct", 25.0),
    ("RSS MB per 100 symbols (above the idle process)", "rss_per_100", 12.0),
)


def goal_rows(
    summary: dict[int, dict[str, Any]], derived: dict[int, dict[str, Any]], rest_budget: float | None
) -> list[list[str]]:
    """Each goal at the largest N: target, measured median, met or not."""
    n = max(summary)
    row, extra = summary[n], derived[n]
    value = {
        **row,
        "drops": (row["window.dropped"] or 0) + (row["window.engine_dropped"] or 0),
        "cpu_pct": pct(row["window.cpu_share"]),
        "rss_per_100": extra["rss_mb_per_100_vs_idle"],
    }
    goals = list(GOALS)
    if rest_budget is not None:
        goals.append(("bootstrap REST requests", "bootstrap.rest_requests", rest_budget))
    out = []
    for name, metric, target in goals:
        v = value.get(metric)
        out.append(
            [
                f"{name} (N={n})",
                format(target, "g"),
                fmt(v, ".2f"),
                "-" if v is None else "yes" if v <= target else "NO",
            ]
        )
    return out


def table_rows(
    summary: dict[int, dict[str, Any]], derived: dict[int, dict[str, Any]]
) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    """Headers and cells of the main and the per-100 table."""
    main_head = ["N", *(h for h, _, _ in MAIN_COLUMNS)]
    main = [
        [str(n)] + [fmt(pct(r[m])) if f == "%" else fmt(r[m], f) for _, m, f in MAIN_COLUMNS]
        for n, r in summary.items()
    ]
    per_head = [
        "N",
        "RSS MB/100 (vs idle imports)",
        "RSS MB/100 (marginal vs smallest N)",
        "CPU %/100",
        "CPU %/100 (marginal)",
        "RSS growth over window MB",
    ]
    per = []
    for n, e in derived.items():
        r = summary[n]
        growth = None
        if r["window.rss_end_mb"] is not None and r["window.rss_start_mb"] is not None:
            growth = r["window.rss_end_mb"] - r["window.rss_start_mb"]
        per.append(
            [
                str(n),
                fmt(e["rss_mb_per_100_vs_idle"]),
                fmt(e.get("rss_mb_per_100_marginal")),
                fmt(e["cpu_pct_per_100"], ".2f"),
                fmt(e.get("cpu_pct_per_100_marginal"), ".2f"),
                fmt(growth, "+.1f"),
            ]
        )
    return main_head, main, per_head, per


#: (header, metric, format) of the variants table.
VARIANT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("CPU %", "window.cpu_share", "%"),
    ("RSS end MB", "window.rss_end_mb", ".0f"),
    ("md/s", "window.md_per_s", ".0f"),
    ("reconnects", "window.reconnects", "g"),
    ("stale", "end.stale_symbols", "g"),
    ("rx→md p95 ms", "window.latency.p95_ms", ".2f"),
    ("GC pause %", "window.gc_pause_share", "%"),
    ("full GCs", "window.full_gcs", "g"),
    ("full GC max s", "window.full_gc_max_s", ".2f"),
    ("loop lag p99 ms", "window.loop_lag_p99_ms", ".1f"),
    ("loop lag max ms", "window.loop_lag_max_ms", ".0f"),
    ("GC max ms", "window.gc_pause_max_ms", ".1f"),
    ("boot s", "bootstrap.wall_s", ".1f"),
)


def print_variants(out: dict[str, Any], args: argparse.Namespace) -> None:
    """Medians per (variant, N), base first."""
    keys = sorted(
        {(r.get("variant", "base"), r["n"]) for r in out["runs"]},
        key=lambda k: (k[1], k[0] != "base", list(VARIANTS).index(k[0]) if k[0] in VARIANTS else 99),
    )
    head = ["variant", "N", *(h for h, _, _ in VARIANT_COLUMNS)]
    rows = []
    for variant, n in keys:
        runs = [r for r in out["runs"] if r.get("variant", "base") == variant and r["n"] == n]
        med = {m: median([dig(r, m) for r in runs]) for _, m, _ in VARIANT_COLUMNS}
        cells = [fmt(pct(med[m])) if f == "%" else fmt(med[m], f) for _, m, f in VARIANT_COLUMNS]
        rows.append([variant, str(n), *cells])
    out["variants"] = {f"{row[0]}@{row[1]}": dict(zip(head[2:], row[2:], strict=True)) for row in rows}
    print_table(head, rows, f"variants (medians of {args.repeat})", args.markdown)


def print_table(head: list[str], rows: list[list[str]], title: str, markdown: bool) -> None:
    """One table, as Markdown or on the console."""
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print()
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in head:
        table.add_column(h, justify="right")
    for row in rows:
        table.add_row(*row)
    Console(width=240).print(table)


def print_tables(
    summary: dict[int, dict[str, Any]], derived: dict[int, dict[str, Any]], idle: float, args: Any
) -> None:
    main_head, main, per_head, per = table_rows(summary, derived)
    title = f"feeder scaling, window {args.window:g} s, medians of {args.repeat} (idle imports {idle:.0f} MB)"
    print_table(main_head, main, title, args.markdown)
    print_table(per_head, per, "per 100 symbols", args.markdown)


#: experiments, each run beside the base case (same simulator, interleaved): child flags.
VARIANTS: dict[str, list[str]] = {
    "base": [],
    "no-watchdog": ["--no-watchdog"],  # no silence checks or resets in the adapter
    # CPython's collector settings: no gc_policy after the bootstrap (the only way to run this
    # benchmark on a tree older than gc_policy, for a same-run baseline)
    "gc-default": ["--gc-default"],
    "uvloop": ["--uvloop"],  # uvloop's event loop instead of asyncio's
    "slow-heartbeat": ["--engine-timeout", "60"],  # idle engines wake every 60 s, not 1 s
}


async def main_async(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = args.variants.split(",") if args.variants else []
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    variant_sizes = [int(s) for s in args.variant_sizes.split(",")] if args.variant_sizes else [max(sizes)]
    logs = Path(args.logs)
    print(f"logs in {logs}", flush=True)
    out: dict[str, Any] = {"args": vars(args), "runs": [], "idle": []}
    from backend.src.sim.server import sim_urls

    common = [
        "--series-every",
        str(args.series_every),
        "--bootstrap-concurrency",
        str(args.bootstrap_concurrency),
        "--queue-size",
        str(args.queue_size),
    ]
    common += ["--gc-default"] if args.gc_default else []
    common += [
        "--window",
        str(args.window),
        "--settle",
        str(args.settle),
        "--backfill-wait",
        str(args.backfill_wait),
        "--bootstrap-timeout",
        str(args.bootstrap_timeout),
    ]
    async with Sim(args.markets, logs / "sim.log") as sim:
        before, t = sim.cpu(), time.perf_counter()
        await asyncio.sleep(3)
        out["sim_idle_cpu"] = (sim.cpu() - before) / (time.perf_counter() - t)
        out["sim_start_rss_mb"] = proc_status(sim.pid)["VmRSS"]
        limit = args.bootstrap_timeout + args.backfill_wait + args.settle + args.window + 120
        urls = json.dumps(sim_urls(f"http://127.0.0.1:{sim.port}"))
        for rep in range(args.repeat):
            idle, _ = await run_child(["--child", "idle"], None, logs / f"idle.{rep}.log", 120)
            out["idle"].append(idle)
            print(f"[{rep}] idle: {idle}", flush=True)
            jobs = [("base", n) for n in sizes]
            jobs += [(v, n) for v in variants if v != "base" for n in variant_sizes]
            for variant, n in jobs:
                res, seen = await run_child(
                    ["--child", "feed", "--urls", urls, "--n", str(n), *common, *VARIANTS[variant]],
                    sim,
                    logs / f"feed.{variant}.{n}.{rep}.log",
                    limit,
                )
                run = {**res, **seen, "n": n, "repeat": rep, "variant": variant}
                out["runs"].append(run)
                w = run.get("window", {})
                print(
                    f"[{rep}] {variant} N={n}: boot {fmt(dig(run, 'bootstrap.wall_s'))} s, "
                    f"CPU {fmt(100 * w.get('cpu_share', 0))} %, "
                    f"RSS {fmt(w.get('rss_start_mb'), '.0f')}->{fmt(w.get('rss_end_mb'), '.0f')} MB, "
                    f"md/s {fmt(w.get('md_per_s'), '.0f')}, "
                    f"sim CPU {fmt(100 * (seen.get('sim_cpu_window') or 0))} %, "
                    f"log {seen['log']['counts']}" + (" TIMEOUT" if seen.get("timeout") else ""),
                    flush=True,
                )
                await asyncio.sleep(2)  # the sim drops the old connections
        extra = [("tracemalloc", "--tracemalloc"), ("profile", "--profile")]
        for name, flag in extra:
            if getattr(args, name):
                n = max(sizes)
                res, seen = await run_child(
                    [
                        "--child",
                        "feed",
                        "--urls",
                        urls,
                        "--n",
                        str(n),
                        "--top",
                        str(args.top),
                        flag,
                        *common,
                    ],
                    sim,
                    logs / f"{name}.{n}.log",
                    limit * 3,
                )
                out[name] = {**res, **seen}
    if args.json:
        write_json(args.json, out)  # the raw runs, even if the report fails
    report(out, args)
    if args.json:
        write_json(args.json, out)  # with the medians and per-100 figures
        print(f"wrote {args.json}")


def report(out: dict[str, Any], args: argparse.Namespace) -> None:
    """Summarise the runs in ``out`` (medians, per 100 symbols) and print everything."""
    base = [r for r in out["runs"] if r.get("variant", "base") == "base"]
    sizes = sorted({r["n"] for r in base})
    idle_rss = median([i.get("rss_mb") for i in out["idle"]]) or 0.0
    summary = {n: summarise([r for r in base if r["n"] == n]) for n in sizes}
    derived = per_100(summary, idle_rss)
    out["summary"], out["per_100"], out["idle_rss_mb"] = summary, derived, idle_rss
    print(
        f"simulator: {args.markets} markets, idle CPU {100 * out['sim_idle_cpu']:.1f} %, "
        f"RSS {out['sim_start_rss_mb']:.0f} MB at start"
    )
    print_tables(summary, derived, idle_rss, args)
    goals = goal_rows(summary, derived, args.rest_budget)
    out["goals"] = {g[0]: {"target": g[1], "value": g[2], "met": g[3]} for g in goals}
    print_table(["goal", "target (at most)", "median", "met"], goals, "goals", args.markdown)
    if any(r.get("variant", "base") != "base" for r in out["runs"]):
        print_variants(out, args)
    if "tracemalloc" in out and "tracemalloc" in out["tracemalloc"]:
        tm = out["tracemalloc"]["tracemalloc"]
        print(
            f"\ntracemalloc, N={out['tracemalloc']['n']}, end of window: traced {tm['traced_mb']:.0f} MB "
            f"(peak {tm['peak_mb']:.0f}), RSS {fmt(dig(out['tracemalloc'], 'window.rss_end_mb'), '.0f')} MB, "
            f"{tm['gc_objects']:,} gc objects"
        )
        for key in ("by_line", "by_file"):
            for row in tm[key]:
                print(f"  {row['mb']:8.1f} MB {row['blocks']:>10,} blocks  {row['where']}")
            print()
    if "profile" in out and "profile" in out["profile"]:
        print(out["profile"]["profile"])
    codes = Counter(r.get("code") for r in out["runs"])
    if len(codes) > 1:
        print(f"WARNING: the backend sources changed during the run: {dict(codes)} (hash: runs)")
    for r in out["runs"]:
        if r["log"]["counts"] or r.get("timeout") or not dig(r, "bootstrap.complete"):
            print(
                f"N={r['n']} rep {r['repeat']}: log {r['log']['counts']}, bootstrap complete: "
                f"{dig(r, 'bootstrap.complete')}",
                *r["log"]["first"][:3],
                sep="\n  ",
            )


def git_state() -> dict[str, Any]:
    """HEAD and the files changed since, so a result can be matched to the code it measured."""
    import subprocess

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout.rstrip()
        except OSError:
            return ""

    return {"head": git("rev-parse", "HEAD"), "dirty": git("status", "--short", "backend").splitlines()}


def write_json(path: str, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=1, default=str))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10,100,500,1000,2000", help="symbol counts, comma-separated")
    p.add_argument("--markets", type=int, default=2000, help="USDT markets the simulator lists")
    p.add_argument("--window", type=float, default=60.0, help="seconds of steady-state measurement")
    p.add_argument("--settle", type=float, default=10.0, help="seconds between bootstrap end and window")
    p.add_argument(
        "--backfill-wait",
        type=float,
        default=150.0,
        help="before the settle, wait (at most this long) for the bootstrap's backfills to have run",
    )
    p.add_argument("--repeat", type=int, default=1, help="passes over the sizes (medians)")
    p.add_argument("--bootstrap-concurrency", type=int, default=8, help="as the CLI default")
    p.add_argument("--bootstrap-timeout", type=float, default=900.0)
    p.add_argument("--queue-size", type=int, default=100, help="engine inbox size")
    p.add_argument("--tracemalloc", action="store_true", help="extra run of the largest N with tracemalloc")
    p.add_argument("--profile", action="store_true", help="extra run of the largest N with cProfile")
    p.add_argument("--top", type=int, default=12, help="tracemalloc rows")
    p.add_argument(
        "--variants",
        default="base",
        help=f"comma-separated experiments run beside the base case: {', '.join(VARIANTS)}",
    )
    p.add_argument("--variant-sizes", help="sizes the non-base variants run at (default: the largest)")
    p.add_argument("--no-watchdog", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--gc-default",
        action="store_true",
        help="every run with CPython's collector settings (no gc_policy): also runs on older trees",
    )
    p.add_argument("--uvloop", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--engine-timeout", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--series-every", type=float, default=5.0, help="seconds between time-series samples")
    p.add_argument(
        "--rest-budget",
        type=float,
        default=None,
        help="goal: at most this many REST requests in the largest N's bootstrap (a baseline run's)",
    )
    p.add_argument("--json", help="write everything to this file")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument("--report", metavar="JSON", help="only print the tables of an earlier --json run")
    p.add_argument("--logs", help="directory for the child and simulator logs (default: a temp dir)")
    p.add_argument("--child", choices=("idle", "feed"), help=argparse.SUPPRESS)
    p.add_argument("--urls", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    from backend.src.code_identity import source_hash  # the code each result measured

    if args.report:
        out = json.loads(Path(args.report).read_text())
        saved = argparse.Namespace(**{**out["args"], "markdown": args.markdown})
        report(out, saved)
    elif args.child == "idle":
        child_idle()
    elif args.child == "feed":
        args.code = source_hash()
        if args.uvloop:  # the optional extra (``pip install 'levibot-backend[uvloop]'``)
            import uvloop

            uvloop.run(child_feed(args))
        else:
            asyncio.run(child_feed(args))
    else:
        args.git = {**git_state(), "code": source_hash()}
        args.logs = args.logs or tempfile.mkdtemp(prefix="bench_scale_")
        Path(args.logs).mkdir(parents=True, exist_ok=True)
        asyncio.run(main_async(args))


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    main()
