from __future__ import annotations

import random

import ccxt
import pytest

from backend.src.adapters.transient import is_rate_limit, is_transient
from backend.src.backoff import Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ceiling_doubles_from_one_second_up_to_the_cap() -> None:
    b = Backoff(base=1.0, cap=6.0, rng=random.Random(1), clock=FakeClock())
    ceilings = []
    for _ in range(6):
        ceilings.append(b.ceiling())
        b.next_delay()
    assert ceilings == [1.0, 2.0, 4.0, 6.0, 6.0, 6.0]


def test_full_jitter_stays_within_the_ceiling_and_spreads() -> None:
    b = Backoff(base=1.0, cap=6.0, rng=random.Random(7), clock=FakeClock())
    delays = []
    for _ in range(200):
        b.attempts = 3
        delays.append(b.next_delay())
    assert all(0.0 <= d <= 6.0 for d in delays)
    assert min(delays) < 1.0 and max(delays) > 5.0  # jitter covers the whole range


def test_retry_after_floor_overrides_the_cap() -> None:
    b = Backoff(rng=random.Random(1), clock=FakeClock())
    assert b.next_delay(floor=120.0) == 120.0


def test_reset_only_after_a_healthy_period() -> None:
    clock = FakeClock()
    b = Backoff(reset_after=30.0, rng=random.Random(1), clock=clock)
    b.next_delay()
    b.next_delay()
    clock.now = 10.0
    b.success()
    assert b.attempts == 2  # flapping: not healthy long enough
    clock.now = 40.0
    b.success()
    assert b.attempts == 0 and b.ceiling() == 1.0


@pytest.mark.parametrize(
    "exc",
    [
        ccxt.NetworkError("x"),
        ccxt.RequestTimeout("x"),
        ccxt.ExchangeNotAvailable("x"),
        ccxt.RateLimitExceeded("x"),
    ],
)
def test_transient_errors(exc: Exception) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc", [ccxt.BadSymbol("x"), ccxt.NotSupported("x"), ValueError("x"), ccxt.BadRequest("x")]
)
def test_permanent_errors(exc: Exception) -> None:
    assert not is_transient(exc)


def test_rate_limit_classification() -> None:
    assert is_rate_limit(ccxt.RateLimitExceeded("429")) and is_rate_limit(ccxt.DDoSProtection("418"))
    assert not is_rate_limit(ccxt.RequestTimeout("x"))
