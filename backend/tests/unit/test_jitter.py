"""``Jitter``: each stream's own reproducible fractions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.src.adapters.mexc.config import MexcConfig
from backend.src.adapters.mexc.runtime import MexcRuntime
from backend.src.backoff import Backoff
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


def test_each_stream_draws_its_own_reconnect_delays_whatever_order_streams_fail_in() -> None:
    """After a drop every stream on the connection fails at once, in an order a busy loop does
    not repeat: a replay must still give each stream the delays it had live."""
    live, replay = MexcRuntime(MexcConfig(), Backoff, None), MexcRuntime(MexcConfig(), Backoff, None)
    replay.seed = live.seed
    names = [f"S{i}/USDT ticker" for i in range(5)]
    drawn_live = {n: live.stream_backoff(n).next_delay() for n in names}
    drawn_replay = {n: replay.stream_backoff(n).next_delay() for n in reversed(names)}
    assert drawn_live == drawn_replay
    assert len(set(drawn_live.values())) == len(names)


def test_a_callers_backoff_factory_is_kept_for_streams() -> None:
    mine = Backoff(base=0.01, cap=0.02)
    runtime = MexcRuntime(MexcConfig(), lambda: mine, None)
    assert runtime.stream_backoff("S0/USDT trades") is mine
