"""A replay meets a busy live session: bootstraps that finished in another order.

Live, a symbol's bootstrap can finish late because the loop was busy (its computation takes
time, other symbols' work runs first); in a replay computation takes no time, so bootstraps
finish in the order their recorded answers came. Which connection carries a symbol must not
depend on that order: the recorded frames of a connection are replayed on that connection,
so a symbol laid out on another one would get no data at all.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from backend.src.adapters.mexc_ccxt import MexcAdapter, MexcConfig
from backend.src.data.bootstrap import Bootstrap
from backend.src.data.market_feeder import MarketFeeder
from backend.src.data.md_mapping import SymbolState
from backend.src.sim.server import MexcSimulator
from backend.tests.conftest import FAST_OPTIONS
from backend.tests.helpers import wait_until

from .session import SYMBOLS, feeding, quiet_end, replayed

#: how long the first symbol's bootstrap "computes" in the live session (not in the replay)
LIVE_ONLY_DELAY = 0.5
#: seconds the live session takes at most, bootstrap included
SESSION_S = 10


async def record_late_bootstrap(directory: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Two symbols on one connection each; the first one's bootstrap finishes after the
    second's live only (an ``asyncio.sleep`` the replay does not make)."""
    symbol = Bootstrap.symbol

    async def late_first(self: Bootstrap, name: str) -> tuple[SymbolState, bool]:
        result = await symbol(self, name)
        if name == SYMBOLS[0]:
            await asyncio.sleep(LIVE_ONLY_DELAY)
        return result

    # The delay is computation a replay cannot see; were it to straddle a minute's end, the
    # forming minute's backfill would be planned for another minute live than in the replay
    # (docs/RECORDING.md, "Exactness", point 1). So the session keeps clear of a minute's end.
    if (into := time.time() % 60) > 60 - SESSION_S:
        await asyncio.sleep(60 - into + 0.1)
    live: list[dict[str, Any]] = []
    async with MexcSimulator(seed=3, **FAST_OPTIONS) as sim:
        config = MexcConfig(
            rate_limit=False, urls=sim.urls, record_dir=str(directory), symbols_per_connection=1
        )
        adapter = MexcAdapter(SYMBOLS, config=config)
        feeder = MarketFeeder(SYMBOLS, adapter=adapter)
        with monkeypatch.context() as patch:
            patch.setattr(Bootstrap, "symbol", late_first)
            async with feeding(feeder, live):
                await wait_until(lambda: {m["symbol"] for m in live} == set(SYMBOLS), 10.0)
                first = live[0]["symbol"]
                assert first == SYMBOLS[1], "the second symbol must have streamed first live"
                await asyncio.sleep(1.0)
                await quiet_end(sim)
    return live


def test_symbols_keep_their_connections_when_bootstraps_finish_in_another_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = asyncio.run(record_late_bootstrap(tmp_path, monkeypatch))
    mds, feeder = replayed(tmp_path)
    for symbol in SYMBOLS:  # each symbol's md, md for md (both had data on their connection)
        mine = [m for m in live if m["symbol"] == symbol]
        assert len(mine) > 10
        assert [m for m in mds if m["symbol"] == symbol] == mine
    stats = feeder.stats()["transport"]
    assert stats["unmatched_dials"] == stats["unmatched_rest"] == 0
