"""A replay takes timer-driven steps where the live session took them, among the frames.

Live, a timer fires as late as the busy loop lets it, and frames received meanwhile are
handled first; in a replay timers fire on time. Here the live feed monitor runs late (its
interval is stretched live only, as a busy loop would), so its stale marks come after md they
would precede on time: the replay must still deliver the very same sequence (``pacing``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from backend.src.adapters.mexc_ccxt import MexcAdapter, MexcConfig
from backend.src.data.feeder_config import FeederConfig
from backend.src.data.market_feeder import MarketFeeder
from backend.src.sim.server import MexcSimulator
from backend.tests.conftest import FAST_OPTIONS
from backend.tests.helpers import wait_until

from .session import SYMBOLS, feeding, quiet_end, replayed


async def record_late_monitor(directory: Path) -> list[dict[str, Any]]:
    """``SYMBOLS[0]`` goes silent long enough to be marked stale, then streams again, while
    the other symbol streams on; the monitor ticks every 0.1 s as recorded, 0.37 s live."""
    live: list[dict[str, Any]] = []
    async with MexcSimulator(seed=4, **FAST_OPTIONS) as sim:
        config = MexcConfig(rate_limit=False, urls=sim.urls, record_dir=str(directory))
        adapter = MexcAdapter(SYMBOLS, config=config)
        feeder_config = FeederConfig(monitor_interval=0.1, md_stale_after=0.4)
        feeder = MarketFeeder(SYMBOLS, adapter=adapter, config=feeder_config)
        feeder._monitor.interval = 0.37  # live only: the loop is late for the monitor
        quiet = "*" + SYMBOLS[0].replace("/", "")
        async with feeding(feeder, live):
            await wait_until(lambda: {m["symbol"] for m in live} == set(SYMBOLS), 10.0)
            await asyncio.sleep(0.5)
            sim.faults.silence(channel=quiet)
            await wait_until(lambda: any(m["stale"] for m in live), 5.0)
            await asyncio.sleep(0.3)
            sim.faults.silence(False, channel=quiet)
            await wait_until(lambda: not [m for m in live if m["symbol"] == SYMBOLS[0]][-1]["stale"], 5.0)
            await asyncio.sleep(0.5)
            await quiet_end(sim)
    return live


def test_timer_driven_md_keep_their_place_among_the_frames_md(tmp_path: Path) -> None:
    live = asyncio.run(record_late_monitor(tmp_path))
    assert any(m["stale"] for m in live) and len({m["symbol"] for m in live}) == 2
    mds, feeder = replayed(tmp_path)
    assert mds == live  # the whole sequence: the stale md among the other symbol's md
    stats = feeder.stats()["transport"]
    assert stats["marks"] > 10
