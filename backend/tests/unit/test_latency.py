"""LatencyHistogram: accuracy against numpy's nearest rank, bounded memory, merging.

Time is always an argument, so every scenario below is exact arithmetic, no sleeping.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.src.data.latency import LatencyHistogram, _rank

#: Adjacent bucket bounds differ by this factor: the documented worst-case overestimate.
BUCKET_RATIO = 10 ** (1 / 20)

# Latencies spread over the whole 1 µs … 60 s range on a log scale, as real ones are.
log_latency = st.floats(min_value=-6.0, max_value=np.log10(60.0)).map(lambda e: 10.0**e)


def histogram_of(values: list[float]) -> LatencyHistogram:
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    return h


# ---- LatencyHistogram ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(log_latency, min_size=1, max_size=300),
    q=st.sampled_from([0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0]),
)
def test_percentile_is_conservative_and_within_12_percent_of_numpy(values: list[float], q: float) -> None:
    exact = float(np.percentile(values, q, method="inverted_cdf"))
    estimate = histogram_of(values).percentile(q)
    assert estimate is not None
    assert exact <= estimate <= exact * BUCKET_RATIO * (1 + 1e-12)
    assert BUCKET_RATIO - 1 < 0.123


def test_nearest_rank_is_exact_where_floating_point_is_not() -> None:
    """numpy's inverted_cdf agrees with us for the list sizes above, but computes ranks in
    floating point, which goes one rank high in cases like these."""
    assert _rank(7, 200) == 14  # 0.07 * 200 == 14.000000000000002
    assert _rank(0.1, 1000) == 1
    assert _rank(99.9, 1000) == 999
    assert (_rank(0, 5), _rank(100, 5)) == (1, 5)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        _rank(101, 5)


def test_every_bound_lands_in_its_own_bucket() -> None:
    """A value exactly on a bound belongs to the bucket it closes (log10 rounding aside)."""
    for bound in LatencyHistogram().bounds:
        h = histogram_of([bound, 1000.0])
        assert h.percentile(50) == bound


def test_out_of_range_values() -> None:
    h = histogram_of([1e-9, -0.5])  # sub-µs and a clock step backwards
    assert h.percentile(100) == 1e-9
    assert h.max == 1e-9
    h.record(120.0)  # beyond the last bucket: the exact maximum is reported
    assert h.percentile(100) == 120.0
    assert h.summary()["max_ms"] == 120_000.0


def test_memory_is_bounded_whatever_the_count() -> None:
    h = LatencyHistogram()
    buckets = len(h._counts)
    rng = random.Random(3)
    for _ in range(20_000):
        h.record(10 ** rng.uniform(-9, 4))
    assert len(h._counts) == buckets == len(h.bounds) + 1 < 200
    assert h.count == 20_000


def test_empty_summary_has_no_percentiles() -> None:
    assert LatencyHistogram().summary() == {
        "count": 0,
        "sum_ms": 0.0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "max_ms": None,
    }


def test_merge_equals_recording_everything_in_one() -> None:
    rng = random.Random(5)
    a = [10 ** rng.uniform(-5, -2) for _ in range(500)]
    b = [10 ** rng.uniform(-3, 0) for _ in range(300)]
    merged = LatencyHistogram().merge(histogram_of(a)).merge(histogram_of(b))
    whole = histogram_of(a + b)
    assert merged.summary() == pytest.approx(whole.summary())
    assert [merged.percentile(q) for q in (10, 50, 99)] == [whole.percentile(q) for q in (10, 50, 99)]


def test_merge_refuses_a_different_layout() -> None:
    with pytest.raises(ValueError, match="layout"):
        LatencyHistogram().merge(LatencyHistogram(per_decade=10))
