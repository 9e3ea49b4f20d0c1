"""Latency percentiles: a log-bucketed histogram with bounded memory, and nearest-rank percentiles.

Pure and synchronous. A KPI is judged on observed values only (nearest rank, never an
interpolation), and the histogram errs on the high side, so a latency ceiling can fail
spuriously near its boundary but never pass spuriously.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache

from ..errors import UsageError

_MS = 1000.0


def nearest_rank(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by nearest rank: the smallest value with at least
    ``q`` % of the values at or below it (numpy's ``method="inverted_cdf"``, but see
    :func:`_rank`). An observed value, never an interpolation, so a KPI is never judged on a
    number nobody measured."""
    n = len(sorted_values)
    if n == 0:
        return None
    return sorted_values[_rank(q, n) - 1]


def _rank(q: float, n: int) -> int:
    """1-based nearest rank of percentile ``q`` among ``n`` values, in exact arithmetic on the
    decimal ``q`` as written: 7 % of 200 values is rank 14, where floating point
    (``0.07 * 200 == 14.000000000000002``, numpy's ``inverted_cdf`` included) says 15."""
    if not 0.0 <= q <= 100.0:
        raise UsageError(f"percentile must be within 0..100, got {q}")
    return min(n, max(1, math.ceil(Fraction(repr(q)) * n / 100)))


@lru_cache(maxsize=8)
def _log_bounds(lowest: float, highest: float, per_decade: int) -> tuple[float, ...]:
    """Bucket upper bounds ``lowest * 10**(i/per_decade)`` up to the first one ≥ ``highest``;
    cached so every histogram of a layout shares one tuple (memory, and cheap merge checks)."""
    n = math.ceil(math.log10(highest / lowest) * per_decade - 1e-9)
    return tuple(lowest * 10.0 ** (i / per_decade) for i in range(n + 1))


class LatencyHistogram:
    """Log-bucketed latency histogram: O(1) :meth:`record`, fixed memory whatever the count.

    Buckets: ``[0, lowest]``, then ``(b[i-1], b[i]]`` with ``b[i] = lowest * 10**(i/per_decade)``
    up to ``highest``, then one overflow bucket. With the default 20 buckets per decade
    (1 µs … 60 s: 158 counters) adjacent bounds differ by ``10**(1/20) ≈ 1.122``.

    :meth:`percentile` returns the upper bound of the bucket holding the nearest-rank sample,
    clamped to the largest value recorded. That is *conservative* — never below the exact
    nearest-rank percentile (numpy ``method="inverted_cdf"``, rank computed exactly) — and at
    most 12.2 % above it for values within ``lowest``…``highest``. A KPI ceiling can therefore
    only fail spuriously near the boundary, never pass spuriously. Values below ``lowest``
    report ``lowest`` or the maximum if smaller (sub-µs precision is meaningless here); values
    above ``highest`` report the exact maximum.
    """

    __slots__ = ("_bounds", "_counts", "count", "max", "sum")

    def __init__(self, lowest: float = 1e-6, highest: float = 60.0, per_decade: int = 20) -> None:
        if not 0.0 < lowest < highest or per_decade < 1:
            raise UsageError("need 0 < lowest < highest and per_decade >= 1")
        self._bounds = _log_bounds(lowest, highest, per_decade)
        self._counts = [0] * (len(self._bounds) + 1)  # last one: overflow
        self.count = 0
        self.sum = 0.0
        self.max = 0.0

    @property
    def bounds(self) -> tuple[float, ...]:
        """Bucket upper bounds in seconds (the values :meth:`percentile` can report)."""
        return self._bounds

    def record(self, seconds: float) -> None:
        """Count one latency. Negative values (clock steps) count as 0.

        The bucket is a binary search over the stored bounds (``bisect`` runs in C): it runs
        once per md, and is both faster than a ``log10`` and exact at every bound.
        """
        if not seconds > 0.0:  # negative (or NaN): counts as 0, as max(0.0, seconds) would
            seconds = 0.0
        self._counts[bisect_left(self._bounds, seconds)] += 1
        self.count += 1
        self.sum += seconds
        if seconds > self.max:
            self.max = seconds

    def percentile(self, q: float) -> float | None:
        """Percentile ``q`` (0..100) in seconds, conservative (see the class doc); ``None``
        when nothing was recorded."""
        counts = list(self._counts)  # one consistent copy even if a record() runs concurrently
        total = sum(counts)
        if total == 0:
            return None
        rank = _rank(q, total)
        seen = 0
        bucket = 0
        while seen + counts[bucket] < rank:
            seen += counts[bucket]
            bucket += 1
        if bucket >= len(self._bounds):
            return self.max
        return min(self._bounds[bucket], self.max)

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add ``other``'s samples into this histogram (same bucket layout); returns self so
        totals across channels read ``LatencyHistogram().merge(a).merge(b)``."""
        if other._bounds != self._bounds:
            raise UsageError("cannot merge histograms with different bucket layouts")
        for i, c in enumerate(list(other._counts)):
            self._counts[i] += c
        self.count += other.count
        self.sum += other.sum
        self.max = max(self.max, other.max)
        return self

    def summary(self) -> dict[str, float | int | None]:
        """``count, sum_ms, p50_ms, p95_ms, p99_ms, max_ms``; percentiles ``None`` when empty."""

        def ms(q: float) -> float | None:
            v = self.percentile(q)
            return None if v is None else v * _MS

        return {
            "count": self.count,
            "sum_ms": self.sum * _MS,
            "p50_ms": ms(50),
            "p95_ms": ms(95),
            "p99_ms": ms(99),
            "max_ms": self.max * _MS if self.count else None,
        }
