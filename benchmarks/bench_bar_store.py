"""Which format for the bar store: SQLite, Parquet (pyarrow) or DuckDB, measured.

Run by hand from the repository root (needs the ``bench`` extra):

    python benchmarks/bench_bar_store.py                  # 50 symbols x 1600 minutes
    python benchmarks/bench_bar_store.py --symbols 200 --formats sqlite parquet

The workload is the feeder's: every minute one closed bar per symbol arrives and is flushed
in one batch (the writer's flush), some minutes are revised later (a backfill after an
outage), and a restart reads "the last 1500 bars of one symbol". Per format:

* write: µs per bar, flushing one minute of every symbol at a time (median over minutes);
* revise: µs per bar, re-writing 60 minutes of one symbol;
* read: ms for the last 1500 bars of one symbol once the store holds ``minutes`` of history;
* size: bytes per stored bar on disk.

Crash behaviour is not timed here: SQLite's is tested (``test_bar_store.py``, ``kill -9``
mid-write); Parquet writes whole files (a crash leaves a truncated file unless written to a
temporary name and renamed); DuckDB has its own write-ahead log.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from backend.src.data.bar_store import BarStore

T0 = 1_767_225_600_000
MIN = 60_000
LAST = 1500


def minute_rows(symbols: list[str], minute: int) -> list[tuple[str, tuple]]:
    ts = T0 + minute * MIN
    return [
        (s, (ts, 100.0 + minute, 101.0 + minute, 99.0 + minute, 100.5 + minute, 1.25, False)) for s in symbols
    ]


class Sqlite:
    name = "SQLite (WAL, upsert)"

    def __init__(self, root: Path) -> None:
        self.store = BarStore(root)

    def write(self, batch: list[tuple[str, tuple]]) -> None:
        self.store.write_many(batch)

    def read_last(self, symbol: str) -> int:
        return len(self.store.last(symbol, LAST))

    def close(self) -> None:
        self.store.close()


class Parquet:
    """One file per flush (Parquet files are immutable); revisions are new files whose rows
    win by being newer. Reads scan every file of the dataset."""

    name = "Parquet (pyarrow, file per flush)"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0

    def write(self, batch: list[tuple[str, tuple]]) -> None:
        cols = list(zip(*[(s, *r) for s, r in batch], strict=True))
        names = ["symbol", "ts", "open", "high", "low", "close", "volume", "synthetic"]
        table = pa.table(dict(zip(names, cols, strict=True)))
        tmp = self.root / f".{self.n:08d}.parquet"
        pq.write_table(table, tmp)
        tmp.rename(self.root / f"{self.n:08d}.parquet")  # a crash leaves no half file behind
        self.n += 1

    def read_last(self, symbol: str) -> int:
        table = ds.dataset(self.root, format="parquet").to_table(filter=ds.field("symbol") == symbol)
        ts = table.column("ts").to_pylist()
        return len(sorted(set(ts))[-LAST:])

    def close(self) -> None:
        pass


class Duck:
    name = "DuckDB (upsert)"

    def __init__(self, root: Path) -> None:
        self.db = duckdb.connect(str(root / "bars.duckdb"))
        self.db.execute(
            "CREATE TABLE bars (symbol VARCHAR, ts BIGINT, open DOUBLE, high DOUBLE, low DOUBLE, "
            "close DOUBLE, volume DOUBLE, synthetic BOOLEAN, PRIMARY KEY (symbol, ts))"
        )

    def write(self, batch: list[tuple[str, tuple]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO bars VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(s, *r) for s, r in batch]
        )

    def read_last(self, symbol: str) -> int:
        q = "SELECT * FROM bars WHERE symbol=? ORDER BY ts DESC LIMIT ?"
        return len(self.db.execute(q, [symbol, LAST]).fetchall())

    def close(self) -> None:
        self.db.close()


FORMATS: dict[str, Callable[[Path], object]] = {"sqlite": Sqlite, "duckdb": Duck, "parquet": Parquet}


def size_of(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def measure(make: Callable[[Path], object], symbols: list[str], minutes: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="bench-bars-"))
    try:
        fmt = make(root)
        per_bar = []
        for minute in range(minutes):
            batch = minute_rows(symbols, minute)
            start = time.perf_counter()
            fmt.write(batch)  # type: ignore[attr-defined]
            per_bar.append((time.perf_counter() - start) / len(batch) * 1e6)
        revise = [(symbols[0], minute_rows(symbols[:1], m)[0][1]) for m in range(minutes - 60, minutes)]
        start = time.perf_counter()
        fmt.write(revise)  # type: ignore[attr-defined]
        revise_us = (time.perf_counter() - start) / len(revise) * 1e6
        reads = []
        for symbol in symbols[:: max(1, len(symbols) // 20)]:
            start = time.perf_counter()
            got = fmt.read_last(symbol)  # type: ignore[attr-defined]
            reads.append((time.perf_counter() - start) * 1e3)
            assert got == min(LAST, minutes), (fmt, got)
        fmt.close()  # type: ignore[attr-defined]
        return {
            "write_us": statistics.median(per_bar),
            "revise_us": revise_us,
            "read_ms": statistics.median(reads),
            "bytes_per_bar": size_of(root) / (len(symbols) * minutes),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=1600, help="history per symbol (>= 1500)")
    parser.add_argument("--formats", nargs="+", choices=sorted(FORMATS), default=list(FORMATS))
    args = parser.parse_args()
    symbols = [f"S{i:04d}/USDT" for i in range(args.symbols)]
    table = Table(title=f"bar store: {args.symbols} symbols x {args.minutes} minutes")
    for col in ("format", "write µs/bar", "revise µs/bar", f"read last {LAST} ms", "bytes/bar"):
        table.add_column(col, justify="right")
    for key in args.formats:
        make = FORMATS[key]
        started = time.perf_counter()
        r = measure(make, symbols, args.minutes)
        print(f"{make.name}: {time.perf_counter() - started:.0f} s", flush=True)
        table.add_row(
            make.name,
            f"{r['write_us']:.2f}",
            f"{r['revise_us']:.1f}",
            f"{r['read_ms']:.2f}",
            f"{r['bytes_per_bar']:.0f}",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
