"""Benchmark the gap filler against the seed loop and a pandas baseline.

Run by hand from the repository root (needs the ``bench`` extra, i.e. pandas):

    python benchmarks/bench_gap_filler.py                 # 1_000_000 bars, 5 % missing
    python benchmarks/bench_gap_filler.py 200000 --repeat 5 --pattern scattered

``bars`` is the length of the filled series (grid slots from first to last
bar); ``--missing`` of the slots are removed before filling, either
independently per slot (``scattered``: ~every missing bar is its own gap, the
worst case for the list path) or in runs of ~50 (``clustered``: outages).

What each timing includes (everything else is set up outside the timer):

* seed loop / fill_bars: list of ``[ms, o, h, l, c, v]`` lists in -> list of
  lists out (fill_bars also validates unless ``validate=False``).
* pandas resample (freqtrade's ``ohlcv_fill_up_missing_data``): numpy columns
  -> DataFrame -> ``resample(tf, on="date").agg(first/max/min/last/sum)`` ->
  close ``ffill`` -> o/h/l ``fillna(close)`` -> numpy columns + mask.
* pandas reindex: numpy columns -> DataFrame indexed by date -> ``reindex`` to
  the full ``date_range`` -> the same fills -> numpy columns + mask.
* fill_bars_columns: numpy columns in -> numpy columns + mask out (validated).
* floor rows (no fill, output not compared): reading the columns out of the list of lists
  that fill_bars must read, with the cheapest C-level reader numpy has
  (``np.fromiter(map(itemgetter(k), rows))``): the timestamps for ``validate=False``, plus
  high, low and volume for the validated fill.  No list entry point can beat these.

Each case runs once to warm up, then the cases run round-robin ``--repeat``
times with ``gc.collect()`` before every run (GC stays enabled while timing);
the table shows median and min.  All outputs are checked to agree before anything is printed.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from seed_reference import seed_fill_minute_bars

from backend.src.data.gap_filler import fill_bars, fill_bars_columns, minute_floor

logger = logging.getLogger("bench_gap_filler")

STEP_MS = 60_000
START_MS = minute_floor(1_700_000_000_000)
Columns = tuple[np.ndarray, ...]


def pandas_resample_fill(ts: np.ndarray, o, h, low, c, v, step_ms: int) -> Columns:  # type: ignore[no-untyped-def]
    """freqtrade-style: resample().agg(), ffill close, o/h/l <- close, volume 0."""
    df = pd.DataFrame(
        {
            "date": pd.to_datetime(ts, unit="ms", utc=True),
            "open": o,
            "high": h,
            "low": low,
            "close": c,
            "volume": v,
        }
    )
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    out = df.resample(f"{step_ms}ms", on="date").agg(agg)
    mask = out["close"].isna().to_numpy()
    out["close"] = out["close"].ffill()
    out.loc[:, ["open", "high", "low"]] = out[["open", "high", "low"]].fillna(
        value={"open": out["close"], "high": out["close"], "low": out["close"]}
    )
    ts_out = out.index.as_unit("ms").asi8
    return (ts_out, *(out[k].to_numpy() for k in agg), mask)


def pandas_reindex_fill(ts: np.ndarray, o, h, low, c, v, step_ms: int) -> Columns:  # type: ignore[no-untyped-def]
    """Lighter pandas variant: reindex to the full date range, then the same fills."""
    index = pd.to_datetime(ts, unit="ms", utc=True)
    df = pd.DataFrame({"open": o, "high": h, "low": low, "close": c, "volume": v}, index=index)
    full = pd.date_range(index[0], index[-1], freq=f"{step_ms}ms")
    out = df.reindex(full)
    mask = out["close"].isna().to_numpy()
    close = out["close"].ffill()
    return (
        full.as_unit("ms").asi8,
        out["open"].fillna(close).to_numpy(),
        out["high"].fillna(close).to_numpy(),
        out["low"].fillna(close).to_numpy(),
        close.to_numpy(),
        out["volume"].fillna(0.0).to_numpy(),
        mask,
    )


def make_data(bars: int, missing: float, pattern: str, seed: int) -> tuple[list[list[Any]], Columns]:
    """Seeded OHLCV on a 1m grid with ``missing`` of the interior slots removed."""
    rng = np.random.default_rng(seed)
    keep = np.ones(bars, dtype=bool)
    if pattern == "scattered":
        keep &= rng.random(bars) >= missing
    else:  # clustered: outages of geometric length, mean 50 bars
        n_runs = max(1, int(bars * missing / 50))
        starts = rng.choice(bars, n_runs, replace=False)
        lengths = rng.geometric(1 / 50, n_runs)
        delta = np.zeros(bars + 1, dtype=np.int64)
        np.add.at(delta, starts, 1)
        np.add.at(delta, np.minimum(starts + lengths, bars), -1)
        keep &= np.cumsum(delta[:-1]) == 0
    keep[0] = keep[-1] = True  # the span is exactly `bars` slots
    ts = START_MS + STEP_MS * np.flatnonzero(keep).astype(np.int64)
    n = ts.size
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.1, n))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) + rng.random(n) * 0.05
    low = np.minimum(open_, close) - rng.random(n) * 0.05
    volume = rng.random(n) * 10.0
    cols = (ts, open_, high, low, close, volume)
    rows = [list(r) for r in zip(ts.tolist(), *(c.tolist() for c in cols[1:]), strict=True)]
    return rows, cols


@dataclass
class Timing:
    name: str
    what: str
    median: float
    best: float


def measure(cases: list[tuple[str, str, Callable[[], Any]]], repeat: int) -> tuple[list[Timing], list[Any]]:
    """Warm every case up once, then time them round-robin, ``repeat`` rounds.

    Round-robin rather than case after case: on a shared machine a burst of load then hits
    every case of a round alike instead of skewing one case's runs, so the ratios hold.
    """
    outputs = [fn() for _, _, fn in cases]  # warm-up (imports, numpy/pandas caches, page faults)
    runs: list[list[float]] = [[] for _ in cases]
    for _ in range(repeat):
        for (_, _, fn), times in zip(cases, runs, strict=True):
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    timings = []
    for (name, what, _), times in zip(cases, runs, strict=True):
        logger.debug("%s runs: %s", name, times)
        timings.append(Timing(name, what, statistics.median(times), min(times)))
    return timings, outputs


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.1f}" if ms >= 10 else f"{ms:.3f}"


def rows_to_columns(rows: list[list[Any]]) -> Columns:
    arr = np.array(rows, dtype=np.float64)
    return (arr[:, 0].astype(np.int64), *(arr[:, i] for i in range(1, 6)))


def check_agreement(seed_rows, ours_rows, ours_nv_rows, ours_mask, pd_resample, pd_reindex, cols) -> None:  # type: ignore[no-untyped-def]
    """Every implementation must produce the same bars (asserted, not just printed)."""
    assert ours_rows == seed_rows, "fill_bars differs from the seed loop"
    assert ours_nv_rows == seed_rows, "fill_bars(validate=False) differs from the seed loop"
    reference = rows_to_columns(seed_rows)
    for label, other in (("resample", pd_resample), ("reindex", pd_reindex), ("columns", cols)):
        for i, (a, b) in enumerate(zip(reference, other[:6], strict=True)):
            assert np.array_equal(a, b), f"pandas/columns {label}: column {i} differs from the seed"
        assert np.array_equal(other[6], ours_mask), f"{label}: synthetic mask differs"


def read_columns(rows: list[list[Any]], columns: tuple[int, ...]) -> list[np.ndarray]:
    """What any list entry point pays before filling: one C-level pass per column it needs
    (int timestamps straight into int64, the cheapest conversion, as fill_bars does)."""
    return [
        np.fromiter(map(itemgetter(k), rows), dtype=np.int64 if k == 0 else np.float64, count=len(rows))
        for k in columns
    ]


def run(bars: int, missing: float, pattern: str, repeat: int, seed: int, console: Console) -> list[Timing]:
    rows, cols = make_data(bars, missing, pattern, seed)
    n_missing = bars - len(rows)
    cases: list[tuple[str, str, Callable[[], Any]]] = [
        ("seed loop", "list -> list", lambda: seed_fill_minute_bars(rows)),
        ("fill_bars", "list -> list, validated", lambda: fill_bars(rows)),
        ("fill_bars(validate=False)", "list -> list", lambda: fill_bars(rows, validate=False)),
        ("pandas resample+agg", "cols -> DataFrame -> cols", lambda: pandas_resample_fill(*cols, STEP_MS)),
        ("pandas reindex+ffill", "cols -> DataFrame -> cols", lambda: pandas_reindex_fill(*cols, STEP_MS)),
        ("fill_bars_columns", "cols -> cols, validated", lambda: fill_bars_columns(*cols, STEP_MS)),
        ("floor: read ts", "list -> 1 column", lambda: read_columns(rows, (0,))),
        ("floor: read ts, h, l, v", "list -> 4 columns", lambda: read_columns(rows, (0, 2, 3, 5))),
    ]
    timings, outputs = measure(cases, repeat)
    seed_out, ours, ours_nv, pd_res, pd_rei, col_out = outputs[:6]

    _, mask = fill_bars(rows, return_mask=True)
    check_agreement(seed_out, ours, ours_nv, mask, pd_res, pd_rei, col_out)

    gaps = int(np.count_nonzero(np.diff(cols[0]) > STEP_MS))
    by_name = {t.name: t.median for t in timings}
    table = Table(
        title=(
            f"{pattern}: {bars:,} bars out, {len(rows):,} in, {n_missing:,} missing "
            f"({n_missing / bars:.1%}) in {gaps:,} gaps; median of {repeat}"
        )
    )
    for col in ("implementation", "timed", "median ms", "min ms", "vs seed", "vs resample", "vs reindex"):
        table.add_column(col, justify="left" if col in ("implementation", "timed") else "right")
    for t in timings:
        table.add_row(
            t.name,
            t.what,
            _ms(t.median),
            _ms(t.best),
            f"{by_name['seed loop'] / t.median:.2f}x",
            f"{by_name['pandas resample+agg'] / t.median:.2f}x",
            f"{by_name['pandas reindex+ffill'] / t.median:.2f}x",
        )
    console.print(table)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bars", nargs="?", type=int, default=1_000_000, help="bars after filling")
    parser.add_argument("--missing", type=float, default=0.05, help="fraction of bars removed")
    parser.add_argument(
        "--pattern", choices=("scattered", "clustered", "both"), default="both", help="how bars go missing"
    )
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per case")
    parser.add_argument("--seed", type=int, default=42, help="RNG seed for the data")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")

    console = Console(width=max(Console().width, 132))  # keep the table readable in logs
    console.print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{os.cpu_count()} CPUs ({platform.machine()})"
    )
    patterns = ("scattered", "clustered") if args.pattern == "both" else (args.pattern,)
    for pattern in patterns:
        run(args.bars, args.missing, pattern, args.repeat, args.seed, console)
    console.print("all outputs agree (seed, fill_bars, pandas resample, pandas reindex, fill_bars_columns)")


if __name__ == "__main__":
    main()
