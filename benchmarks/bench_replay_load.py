"""Exact replay of a saturated, faulty session: live md against replayed md.

The simulator runs on the feeder's own event loop (``InProcessSim``), so the loop is as busy
as it gets; meanwhile the spot connections are reset twice, the contract one closed cleanly,
and one symbol's trades refused for a few seconds. The recording is then replayed at
``--speed max`` and compared md for md: the whole sequence, and symbol by symbol.

    python3 benchmarks/bench_replay_load.py --symbols 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
from pathlib import Path

from bench_recording import agreement, replay_speed
from bench_scale_out import positive
from md_path_e2e import InProcessSim, sim_markets, sim_options

from backend.src.adapters.mexc_ccxt import MexcAdapter, MexcConfig
from backend.src.data.market_feeder import MarketFeeder
from backend.src.recording.jsonl import md_json


async def record(directory: Path, n: int, push_interval: float) -> tuple[list[str], float]:
    """The md lines of a recorded faulty session, and its frames' rate."""
    symbols = [m.symbol for m in sim_markets(n)]
    lines: list[str] = []
    async with InProcessSim(n, 1, sim_options(push_interval, 3)) as s:
        sim = s.sim
        config = MexcConfig(rate_limit=False, urls=sim.urls, record_dir=str(directory))
        feeder = MarketFeeder(symbols, adapter=MexcAdapter(symbols, config=config))
        task = asyncio.create_task(feeder.run(lambda md: lines.append(md_json(md))))
        while len(feeder.states) < n:  # noqa: ASYNC110 - until every symbol streams
            await asyncio.sleep(0.1)
        sent0, t0 = await s.sent(), time.perf_counter()
        await asyncio.sleep(3)
        sim.faults.drop_ws(path="/ws")  # TCP resets: every spot stream reconnects
        await asyncio.sleep(3)
        await sim.faults.close_ws(path="/edge", code=1000)  # a clean close of the contract side
        await asyncio.sleep(2)
        sim.faults.reject_subscriptions(f"spot@public.aggre.deals*{symbols[-1].replace('/', '')}")
        sim.faults.drop_ws(path="/ws")
        await asyncio.sleep(3)
        sim.faults.clear_rejections()
        await asyncio.sleep(4)
        sent1, wall = await s.sent(), time.perf_counter() - t0
        sim.faults.silence()
        await asyncio.sleep(0.3)
        await feeder.close()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    frames = sent1["spot_frames"] + sent1["swap_frames"] - sent0["spot_frames"] - sent0["swap_frames"]
    return lines, frames / wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=positive(int), default=100)
    parser.add_argument("--push-interval", type=positive(float), default=0.01)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        live, rate = asyncio.run(record(Path(tmp), args.symbols, args.push_interval))
        print(f"live: {len(live)} md, {rate:.0f} frames/s sent while faults ran")
        replayed = replay_speed(Path(tmp))
        print(f"replay: {replayed['frames_per_s']:.0f} frames/s; transport {replayed['transport']}")
        print(agreement(live, replayed["lines"]))


if __name__ == "__main__":
    main()
