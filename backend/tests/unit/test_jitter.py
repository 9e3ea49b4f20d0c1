"""``Jitter``: each stream's own reproducible fractions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.src.jitter import Jitter


def test_the_sequence_is_splitmix64() -> None:
    """The reference generator's first outputs from state 0 (Vigna's ``splitmix64.c``)."""
    jitter = Jitter(0, "")
    jitter._state = 0
    assert jitter.random() == (0xE220A8397B1DCDAF >> 11) / 2**53
    assert jitter.random() == (0x6E789E6AA1B965F4 >> 11) / 2**53


@given(st.integers(0, 2**32 - 1), st.text(max_size=30))
def test_a_stream_draws_the_same_fractions_in_every_run_and_only_its_own(seed: int, name: str) -> None:
    first, again, other = Jitter(seed, name), Jitter(seed, name), Jitter(seed, name + "x")
    drawn = [first.random() for _ in range(20)]
    assert drawn == [again.random() for _ in range(20)]
    assert drawn != [other.random() for _ in range(20)]
    assert all(0.0 <= f < 1.0 for f in drawn)


def test_fractions_spread_over_the_unit_interval() -> None:
    jitter = Jitter(7, "BTC/USDT ticker")
    drawn = [jitter.random() for _ in range(20_000)]
    deciles = [sum(int(f * 10) == d for f in drawn) for d in range(10)]
    assert all(1_800 < n < 2_200 for n in deciles), deciles
