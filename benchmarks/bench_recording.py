"""Session recording: its cost on the md path, its size on disk, replay speed, memory.

    python benchmarks/bench_recording.py                       # all parts, defaults below
    python benchmarks/bench_recording.py --symbols 50 --push-interval 0.01 --duration 20 --repeat 3
    python benchmarks/bench_recording.py --rss-duration 600    # RSS over a 10-minute recording
    python benchmarks/bench_recording.py --paired 15           # part 1 as on/off phases of one session

Parts (figures in docs/BENCHMARKS.md, "Recording"):

1. rx → md latency (the value the feeder's health records per md: frame arrival to md ready,
   every one kept for exact percentiles over the measured window) with and without
   ``--record``, at ``2 × symbols / push_interval`` spot frames per second (50 symbols every
   10 ms: 10 k frames/s, if the simulator keeps up). The simulator runs in a child process (the
   other core); cases alternate off/on ``--repeat`` times; medians, and the median of same-run
   ratios.
   With ``--paired N``: one session instead, its websocket frames recorded in every other
   ``--phase-s`` phase (N on/off pairs, the order flipped every pair), each phase measured after
   ``--settle-s`` (the writer has flushed the phase before). Why: separate runs differ by more
   than the budget (a simulator process started afresh, another core, another CPU share: the
   p95 of identical runs spread 1.0–1.7 ms on this VM); phases of one session share all that,
   so their ratio is the recording's own cost.
2. Bytes on disk per frame against the raw frame size, and the compressors compared on the
   recording's own flushes (one frame per flush, as the writer compresses them).
3. Replay speed at ``--speed max``: recorded websocket frames per wall second and per CPU
   second of the replaying process (one core: the replay is single-threaded).
4. RSS of a recording process sampled over ``--rss-duration`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import logging
import math
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import lz4.frame
import zstandard
from md_path_e2e import SimProcess, sim_options
from md_path_frames import sim_markets
from rss import rss_mb

from backend.src.adapters.mexc_ccxt import MexcAdapter, MexcConfig
from backend.src.data.health import ChannelHealth
from backend.src.data.market_feeder import MarketFeeder
from backend.src.recording.jsonl import md_json
from backend.src.recording.reader import RecordingReader
from backend.src.recording.replay import ReplayFeeder

log = logging.getLogger("bench_recording")


@contextlib.contextmanager
def latencies() -> Any:
    """Every rx → md latency the feeder's health records meanwhile, with the feeder's clock
    when it was recorded (its histogram's buckets are 26 % wide: too coarse for a 10 % budget)."""
    kept: list[tuple[float, float]] = []
    original = ChannelHealth.on_data

    def on_data(self: ChannelHealth, now: float, latency_s: float | None = None) -> None:
        if latency_s is not None:
            kept.append((now, latency_s))
        original(self, now, latency_s)

    ChannelHealth.on_data = on_data  # type: ignore[method-assign]
    try:
        yield kept
    finally:
        ChannelHealth.on_data = original  # type: ignore[method-assign]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, in ms (NaN when nothing was kept)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@contextlib.asynccontextmanager
async def streaming(
    n: int, push_interval: float, record_dir: Path | None, on_md: Callable[[dict[str, Any]], None]
) -> AsyncIterator[tuple[SimProcess, MexcAdapter, MarketFeeder]]:
    """A feeder of ``n`` symbols on a simulator process (recording into ``record_dir``, if
    given), entered once every symbol has delivered an md; closed on exit."""
    symbols = [m.symbol for m in sim_markets(n)]
    async with SimProcess(n, 1, sim_options(push_interval, 3)) as sim:
        config = MexcConfig(
            rate_limit=False, urls=sim.urls, record_dir=str(record_dir) if record_dir else None
        )
        adapter = MexcAdapter(symbols, config=config)
        feeder = MarketFeeder(symbols, adapter=adapter)
        task = asyncio.create_task(feeder.run(on_md))
        while len(feeder.states) < n or sum(feeder.delivered.values()) < n:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        try:
            yield sim, adapter, feeder
        finally:
            await feeder.close()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def live_case(
    n: int, push_interval: float, duration: float, record_dir: Path | None, rss_every: float | None = None
) -> dict[str, Any]:
    """Stream ``n`` symbols from a simulator process for ``duration`` s; the feeder's figures,
    and (recording, without ``rss_every``) every md as a JSON line, to compare with a replay."""
    md = 0
    lines: list[str] = []

    def on_md(item: dict[str, Any]) -> None:
        nonlocal md
        md += 1
        if record_dir is not None and rss_every is None:
            lines.append(md_json(item))

    async with streaming(n, push_interval, record_dir, on_md) as (sim, adapter, _):
        sent0, md0, cpu0, t0 = await sim.sent(), md, time.process_time(), time.perf_counter()
        rss: list[tuple[float, float]] = []
        # the RSS run keeps no latencies: a list of every one grows ~0.3 MiB/s by itself
        with latencies() if rss_every is None else contextlib.nullcontext([]) as kept:
            while (elapsed := time.perf_counter() - t0) < duration:
                if rss_every is not None:
                    rss.append((elapsed, rss_mb()))
                await asyncio.sleep(min(rss_every or duration, duration - elapsed))
        sent1, md1, cpu1, wall = await sim.sent(), md, time.process_time(), time.perf_counter() - t0
        stats = adapter.recorder.stats() if adapter.recorder is not None else None
    frames = sent1["spot_frames"] + sent1["swap_frames"] - sent0["spot_frames"] - sent0["swap_frames"]
    values = [v for _, v in kept]
    return {
        "frames_per_s": frames / wall,
        "md_per_s": (md1 - md0) / wall,
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "cpu_pct": 100 * (cpu1 - cpu0) / wall,
        "recorder": stats,
        "rss": rss,
        "lines": lines,
    }


async def paired_case(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """One recording session, its websocket frames recorded in every other phase (module doc,
    part 1): per phase the p95 over its measured window; per pair the ratio on/off. In an off
    phase the connections have no tap, as without ``--record``: only the writer's thread is
    there, idle."""
    session = streaming(args.symbols, args.push_interval, directory, lambda md: None)
    async with session as (_, adapter, feeder):
        recorder = adapter.recorder
        assert recorder is not None
        windows: list[tuple[bool, float, float]] = []
        with latencies() as kept:
            for pair in range(args.paired):
                for on in (True, False) if pair % 2 == 0 else (False, True):
                    for ws, _ in adapter.shards.entries.values():  # off: the connections have no tap
                        for conn in ws.clients.values():
                            conn.tap = recorder if on else None
                    start = feeder.clock()
                    await asyncio.sleep(args.phase_s)
                    windows.append((on, start + args.settle_s, feeder.clock()))
        stats = recorder.stats()
    phases = [(on, [v for t, v in kept if lo <= t < hi]) for on, lo, hi in windows]
    p95 = [(on, percentile(values, 95)) for on, values in phases]
    ratios = [
        (a if a_on else b) / (b if a_on else a) for (a_on, a), (_, b) in zip(p95[::2], p95[1::2], strict=True)
    ]
    pooled = {on: [v for o, values in phases if o == on for v in values] for on in (False, True)}
    return {"p95": p95, "ratios": ratios, "recorder": stats,
            "pooled_p95_ms": {on: percentile(values, 95) for on, values in pooled.items()},
            "pooled_p50_ms": {on: percentile(values, 50) for on, values in pooled.items()},
            "md": {on: len(values) for on, values in pooled.items()}}


def print_paired(args: argparse.Namespace, result: dict[str, Any]) -> None:
    for i, ratio in enumerate(result["ratios"]):
        (a_on, a), (_, b) = result["p95"][2 * i], result["p95"][2 * i + 1]
        off, on = (b, a) if a_on else (a, b)
        print(f"pair {i + 1:>2}: p95 off {off:.3f} ms  on {on:.3f} ms  ratio {ratio:.3f}")
    pooled, p50 = result["pooled_p95_ms"], result["pooled_p50_ms"]
    print(
        f"\n{args.paired} pairs of {args.phase_s:.0f} s phases (first {args.settle_s:.1f} s of each not "
        f"measured), {result['md'][False]} / {result['md'][True]} md off / on"
    )
    print(f"pooled p50 off {p50[False]:.3f} ms  on {p50[True]:.3f} ms")
    ratio = pooled[True] / pooled[False]
    print(f"pooled p95 off {pooled[False]:.3f} ms  on {pooled[True]:.3f} ms  ratio {ratio:.3f}")
    print(f"p95 on/off per pair: median {med(result['ratios']):.3f}")
    print(f"recorder: {result['recorder']}")


def disk_figures(directory: Path) -> dict[str, Any]:
    """Bytes on disk per recorded frame against the raw frame, and per-flush compressor trials."""
    reader = RecordingReader(directory)
    flushes = list(reader.frames(reader.paths[0]))
    raw_frames = frames = 0
    for record in reader.records():
        if record["type"] == "rx":
            frames += 1
            raw_frames += len(record["text"]) if "text" in record else len(record["b64"]) * 3 // 4
    on_disk = sum(p.stat().st_size for p in reader.paths)
    lines = sum(len(f) for f in flushes)
    trials = {
        "zstd -1": zstandard.ZstdCompressor(level=1).compress,
        "zstd -3 (chosen)": zstandard.ZstdCompressor(level=3).compress,
        "zstd -9": zstandard.ZstdCompressor(level=9).compress,
        "gzip -1": lambda b: gzip.compress(b, 1),
        "gzip -6": lambda b: gzip.compress(b, 6),
        "lz4": lz4.frame.compress,
    }
    compressors = {}
    for name, compress in trials.items():
        start = time.process_time()
        size = sum(len(compress(f)) for f in flushes)
        cpu = time.process_time() - start
        compressors[name] = {
            "ratio": lines / size,
            "bytes_per_frame": size / frames,
            "MB_per_cpu_s": lines / cpu / 1e6,
        }
    return {
        "frames": frames,
        "raw_bytes_per_frame": raw_frames / frames,
        "jsonl_bytes_per_frame": lines / frames,
        "disk_bytes_per_frame": on_disk / frames,
        "compressors": compressors,
    }


def replay_speed(directory: Path) -> dict[str, Any]:
    """One ``--speed max`` replay: recorded frames per wall second and per CPU second."""
    frames = sum(1 for r in RecordingReader(directory).records() if r["type"] in ("rx", "msg"))
    feeder = ReplayFeeder(directory)
    lines: list[str] = []

    def on_md(item: dict[str, Any]) -> None:
        lines.append(md_json(item))

    cpu, wall = time.process_time(), time.perf_counter()
    with feeder.runner() as runner:
        runner.run(feeder.run(on_md))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "frames": frames,
        "md": len(lines),
        "frames_per_s": frames / wall,
        "frames_per_cpu_s": frames / cpu,
        "lines": lines,
        "transport": feeder.stats()["transport"],
    }


def agreement(live: list[str], replayed: list[str]) -> str:
    """How far a replay of a loaded session matches its live md: whole sequence, per symbol."""
    by_symbol: dict[str, tuple[list[str], list[str]]] = {}
    for which, lines in ((0, live), (1, replayed)):
        for line in lines:
            by_symbol.setdefault(line[11 : line.index('"', 11)], ([], []))[which].append(line)
    same = sum(a == b for a, b in by_symbol.values())
    return (
        f"live {len(live)} md, replayed {len(replayed)}; whole sequence identical: {live == replayed}; "
        f"symbols with an identical md sequence: {same}/{len(by_symbol)}"
    )


def med(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--push-interval", type=float, default=0.01)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per case")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rss-duration", type=float, default=120.0, help="0: skip the RSS run")
    parser.add_argument("--rss-only", action="store_true", help="only the RSS run")
    parser.add_argument("--rss-baseline", action="store_true", help="the RSS run without recording")
    parser.add_argument("--paired", type=int, default=0, help="N: only part 1, as N on/off phase pairs")
    parser.add_argument("--phase-s", type=float, default=4.0, help="seconds per phase (--paired)")
    parser.add_argument("--settle-s", type=float, default=1.5, help="unmeasured start of a phase (--paired)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.paired:
        if not 0 <= args.settle_s < args.phase_s:
            parser.error("--settle-s must be at least 0 and below --phase-s")
        with tempfile.TemporaryDirectory() as tmp:
            print_paired(args, asyncio.run(paired_case(args, Path(tmp))))
        return
    if args.rss_only:
        with tempfile.TemporaryDirectory() as tmp:
            rss_run(args, Path(tmp))
        return
    cases: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        last_dir = None
        for i in range(args.repeat):
            for mode in ("off", "on"):
                directory = Path(tmp) / f"rec{i}" if mode == "on" else None
                case = asyncio.run(live_case(args.symbols, args.push_interval, args.duration, directory))
                cases[mode].append(case)
                last_dir = directory or last_dir
                print(
                    f"run {i + 1} {mode:>3}: {case['frames_per_s']:8.0f} frames/s  "
                    f"p50 {case['p50_ms']:.2f} ms  p95 {case['p95_ms']:.2f} ms  "
                    f"p99 {case['p99_ms']:.2f} ms  cpu {case['cpu_pct']:.0f} %"
                )
        ratios = [on["p95_ms"] / off["p95_ms"] for off, on in zip(cases["off"], cases["on"], strict=True)]
        print(
            f"\nmedian frames/s  off {med([c['frames_per_s'] for c in cases['off']]):.0f}  "
            f"on {med([c['frames_per_s'] for c in cases['on']]):.0f}"
        )
        for key in ("p50_ms", "p95_ms", "p99_ms", "cpu_pct"):
            print(
                f"median {key:<7} off {med([c[key] for c in cases['off']]):7.2f}  "
                f"on {med([c[key] for c in cases['on']]):7.2f}"
            )
        print(f"p95 on/off, same-run ratios {[round(r, 3) for r in ratios]}, median {med(ratios):.3f}")
        print(f"recorder: {cases['on'][-1]['recorder']}")
        assert last_dir is not None
        disk = disk_figures(last_dir)
        print(
            f"\nframes {disk['frames']}: raw {disk['raw_bytes_per_frame']:.1f} B/frame, JSON line "
            f"{disk['jsonl_bytes_per_frame']:.1f} B, on disk {disk['disk_bytes_per_frame']:.1f} B"
        )
        for name, c in disk["compressors"].items():
            print(
                f"  {name:<17} ratio {c['ratio']:5.2f}  {c['bytes_per_frame']:6.1f} B/frame  "
                f"{c['MB_per_cpu_s']:7.1f} MB/CPU-s"
            )
        speeds = [replay_speed(last_dir) for _ in range(args.repeat)]
        print(
            f"\nreplay --speed max of {speeds[0]['frames']} frames ({speeds[0]['md']} md): "
            f"{[round(s['frames_per_s']) for s in speeds]} frames/s, median "
            f"{med([s['frames_per_s'] for s in speeds]):.0f}; per CPU-s median "
            f"{med([s['frames_per_cpu_s'] for s in speeds]):.0f}"
        )
        print(f"replay vs live ({speeds[0]['transport']}):")
        print(f"  {agreement(cases['on'][-1]['lines'], speeds[0]['lines'])}")
        print(f"  two replays byte-identical: {speeds[0]['lines'] == speeds[-1]['lines']}")
        if args.rss_duration > 0:
            rss_run(args, Path(tmp))


def rss_run(args: argparse.Namespace, directory: Path) -> None:
    """RSS of a recording process, sampled 20 times over ``--rss-duration`` seconds."""
    every = max(1.0, args.rss_duration / 20)
    record = None if args.rss_baseline else directory
    case = asyncio.run(live_case(args.symbols, args.push_interval, args.rss_duration, record, every))
    samples = ", ".join(f"{t:.0f}s {mb:.0f}" for t, mb in case["rss"])
    rate = case["frames_per_s"]
    what = "streaming without recording" if args.rss_baseline else "recording"
    print(f"\nRSS over {args.rss_duration:.0f} s of {what} at {rate:.0f} frames/s: {samples} MiB")
    print(f"recorder: {case['recorder']}")


if __name__ == "__main__":
    main()
