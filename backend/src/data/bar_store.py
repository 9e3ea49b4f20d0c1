"""Closed 1 m bars on disk, so a restart reads its history instead of downloading it again.

Why SQLite (measured in ``benchmarks/bench_bar_store.py``, figures in docs/BENCHMARKS.md):
bars arrive one minute at a time per symbol, are revised when a backfill replaces them, and
are read back as "the last 1500 of one symbol". SQLite does all three in place — an upsert
per bar, an indexed range read — from the standard library, with transactions that survive
``kill -9`` (write-ahead log: a crash loses at most the transaction in flight, never the
file). Parquet files are immutable: appending a minute means a new small file per flush and a
compaction job, and revisions mean rewriting files. DuckDB is an extra 60 MB dependency whose
single-row upserts are slower than SQLite's. Standard tools read the store as it is:
``sqlite3 bars.sqlite3 "select * from bars where symbol='BTC/USDT' order by ts"``, or DuckDB's
``sqlite_scan``.

One file per data directory, one writer at a time: the store takes an exclusive lock on
``bar_store.lock`` beside it, and a second feeder on the same directory fails at once with
:class:`StoreLockedError` instead of interleaving its writes.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import StoreLockedError, StoreVersionError
from ..market_data import Bar, make_bar

#: Format version of the file; a store written by another version is refused, not misread.
STORE_VERSION = 1
DB_NAME = "bars.sqlite3"
LOCK_NAME = "bar_store.lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bars (
    symbol TEXT NOT NULL,
    ts INTEGER NOT NULL,            -- bar open, exchange time, ms
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,           -- base units
    synthetic INTEGER NOT NULL,     -- 1: forward-filled, no trade in that minute
    PRIMARY KEY (symbol, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


#: ``(ts, open, high, low, close, volume, synthetic)``, the row shape the writer takes
Row = tuple[int, float, float, float, float, float, bool]


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a power cut may lose the last commits, a process crash loses nothing
    # committed, and the file is never corrupted either way
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class BarStore:
    """The bar store of one data directory, opened for writing (holds the directory's lock)."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.dir / LOCK_NAME, "a+")  # held for the store's life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise StoreLockedError(
                f"bar store {self.dir} is in use by another process (one feeder per data directory; "
                "give this one its own --data-dir, or --no-store)"
            ) from None
        self._db = _connect(self.dir / DB_NAME)
        self._db.executescript(_SCHEMA)
        self._check_version()

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('version', ?)", (str(STORE_VERSION),))
        elif row[0] != str(STORE_VERSION):
            self.close()
            raise StoreVersionError(
                f"bar store {self.dir} has format {row[0]}, this library reads {STORE_VERSION}"
            )

    def write(self, symbol: str, rows: Iterable[Row]) -> int:
        """Insert or replace ``rows`` of ``symbol`` in one transaction; returns how many."""
        return self.write_many([(symbol, row) for row in rows])

    def write_many(self, batch: Sequence[tuple[str, Row]]) -> int:
        """``(symbol, row)`` pairs of any symbols in one transaction (the writer's flush); a bar
        already stored for that minute is replaced (a backfill's revision)."""
        data = [(s, int(r[0]), r[1], r[2], r[3], r[4], r[5], int(bool(r[6]))) for s, r in batch]
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO bars VALUES (?, ?, ?, ?, ?, ?, ?, ?)", data)
        return len(data)

    def _transaction(self) -> sqlite3.Connection:
        self._db.execute("BEGIN")
        return self._db  # ``with`` commits, or rolls back on an exception

    def last(self, symbol: str, limit: int) -> list[Row]:
        """The newest ``limit`` bars of ``symbol``, oldest first."""
        rows = self._db.execute(
            "SELECT ts, open, high, low, close, volume, synthetic FROM bars WHERE symbol=? "
            "ORDER BY ts DESC LIMIT ?",
            (symbol, limit),
        ).fetchall()
        return [(ts, o, h, low, c, v, bool(syn)) for ts, o, h, low, c, v, syn in reversed(rows)]

    def close(self) -> None:
        """Release the database and the directory's lock; safe to call twice."""
        if self._lock.closed:
            return
        self._db.close()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


def load_bars(
    data_dir: str | os.PathLike[str], symbol: str, start: int | None = None, end: int | None = None
) -> list[Bar]:
    """Every stored bar of ``symbol`` with ``start <= ts <= end`` (ms, both optional), oldest
    first. Read-only: works while a feeder writes the store (no lock taken)."""
    path = Path(data_dir) / DB_NAME
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT ts, open, high, low, close, volume, synthetic FROM bars "
            "WHERE symbol=? AND ts>=? AND ts<=? ORDER BY ts",
            (symbol, start if start is not None else -(2**63), end if end is not None else 2**63 - 1),
        ).fetchall()
    finally:
        db.close()
    return [make_bar(symbol, row, bool(row[6])) for row in rows]
