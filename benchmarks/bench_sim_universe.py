"""What a MEXC-sized universe costs the simulator: startup, memory, REST sweeps, CPU.

Starts ``python -m backend.src.sim --markets N`` in its own process and measures, from the
outside: time until it answers ``/api/v3/ping`` (interpreter start and imports included),
its RSS (``/proc``), how long the all-market REST calls take (24 h tickers, exchangeInfo,
contract detail and tickers), and its CPU share (``/proc/<pid>/stat``) idle and while raw
websocket clients stream the top ``--symbols`` markets by 24 h quote volume the way the
feeder does (spot deals + book ticker, contract ticker for those with a perpetual)::

    python benchmarks/bench_sim_universe.py --markets 2000 --symbols 200 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
PER_CONNECTION = 30  # MEXC's subscription limit per websocket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def timed_get(session: aiohttp.ClientSession, url: str) -> tuple[float, object]:
    started = time.perf_counter()
    async with session.get(url) as resp:
        body = await resp.json()
    return time.perf_counter() - started, body


async def cpu_share(pid: int, seconds: float) -> float:
    before, started = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


async def stream(url: str, messages: list[str], counts: Counter[str], stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0) as ws:
        for msg in messages:
            await ws.send_str(msg)
        while not stop.is_set():
            try:
                msg = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            counts["binary" if msg.type == aiohttp.WSMsgType.BINARY else "text"] += 1


async def measure(args: argparse.Namespace) -> None:
    port = free_port()
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "backend.src.sim", "--port", str(port), "--markets", str(args.markets)]
    cmd += ["--push-interval", str(args.push_interval), "--log-level", "WARNING"]
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    await timed_get(session, base + "/api/v3/ping")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
            print(f"startup (spawn to first answer): {time.perf_counter() - started:.2f} s")
            print(f"RSS after start: {rss_mb(proc.pid):.0f} MB")
            print(f"CPU idle (no subscribers): {100 * await cpu_share(proc.pid, args.idle):.1f} %")

            for name, path in (
                ("ticker/24hr, all (first: generates history)", "/api/v3/ticker/24hr"),
                ("ticker/24hr, all (again)", "/api/v3/ticker/24hr"),
                ("exchangeInfo", "/api/v3/exchangeInfo"),
                ("contract/detail", "/api/v1/contract/detail"),
                ("contract/ticker, all", "/api/v1/contract/ticker"),
            ):
                seconds, body = await timed_get(session, base + path)
                if path == "/api/v3/ticker/24hr":
                    tickers = body
                elif path == "/api/v1/contract/detail":
                    perps = {d["baseCoin"] + d["quoteCoin"]: d["symbol"] for d in body["data"]}  # type: ignore[index]
                print(f"{name}: {seconds * 1000:.0f} ms")
            print(f"RSS after the sweeps: {rss_mb(proc.pid):.0f} MB")

        usdt = [t for t in tickers if t["symbol"].endswith("USDT")]  # type: ignore[union-attr]
        top = sorted(usdt, key=lambda t: float(t["quoteVolume"]), reverse=True)[: args.symbols]
        spot = [
            f"spot@public.aggre.{kind}.v3.api.pb@100ms@{t['symbol']}"
            for t in top
            for kind in ("deals", "bookTicker")
        ]
        swap = [p for t in top if (p := perps.get(t["symbol"]))]
        jobs = [
            (
                ws_base + "/ws",
                [json.dumps({"method": "SUBSCRIPTION", "params": spot[i : i + PER_CONNECTION]})],
            )
            for i in range(0, len(spot), PER_CONNECTION)
        ]
        jobs += [
            (
                ws_base + "/edge",
                [
                    json.dumps({"method": "sub.ticker", "param": {"symbol": p}})
                    for p in swap[i : i + PER_CONNECTION]
                ],
            )
            for i in range(0, len(swap), PER_CONNECTION)
        ]
        counts: Counter[str] = Counter()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(stream(url, msgs, counts, stop)) for url, msgs in jobs]
        await asyncio.sleep(2.0)  # subscribed and streaming
        before = counts.copy()
        share = await cpu_share(proc.pid, args.duration)
        frames = (counts["binary"] - before["binary"]) / args.duration
        texts = (counts["text"] - before["text"]) / args.duration
        print(
            f"streaming top {len(top)} by quote volume ({len(spot)} spot channels, {len(swap)} contract "
            f"tickers, {len(jobs)} connections): sim CPU {100 * share:.1f} % of a core, "
            f"{frames:.0f} spot frames/s, {texts:.0f} contract frames/s"
        )
        print(f"RSS while streaming: {rss_mb(proc.pid):.0f} MB")
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        proc.terminate()
        await proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--markets", type=int, default=2000)
    p.add_argument("--symbols", type=int, default=200, help="streamed markets (top by quote volume)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of CPU measurement")
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement")
    p.add_argument("--push-interval", type=float, default=0.1)
    asyncio.run(measure(p.parse_args()))


if __name__ == "__main__":
    main()
