"""Where one hot-channel frame's time goes on the fast path: ccxt's share and ours.

Run by hand from the repository root::

    python benchmarks/md_path_split.py --symbols 100

Same setting as ``bench_md_path.py``: the same simulator frames, one ``Runner`` per path,
blocks of frames alternating between ccxt's path and the fast path (so caches are as cold as
there), GC on with the set-up heap frozen, a warm-up. The fast path's handling of each book
ticker and deals frame is cut into pieces, each timed with ``perf_counter_ns`` (~0.1 µs per
mark, included in the pieces):

* ccxt dispatch: ``GuardedClient.handle_message`` → ccxt's ``Client.handle_message`` →
  ``handle_text_or_binary_message`` → ``on_message_callback`` (our guard is a clock read);
* protobuf parse: ``ParseFromString``, the decoding floor;
* our decode: the fast path building ccxt-identical tickers / trade dicts;
* ccxt store / resolve: ``tickers[symbol] =`` or ``ArrayCache.append`` per trade, then
  ``client.resolve`` (a future nobody awaits here: waking the consumer task comes on top in
  real use and is part of the end-to-end figures);
* our glue: the rest of ``MexcWsClient.handle_message``/``_handle_fast`` and the return;
* w: ccxt's ``watch_*`` bookkeeping (future, result, ``getLimit``, ``filter_by_since_limit``);
* b: ours, record → md → engine inbox (``OurPath``).

It also times a *lean* deals decoder on the same messages, reading only what the feeder uses
(symbol, timestamp, side, price, amount): the gap to ``fast.deals`` is what building
ccxt-identical trade dicts (``info``, ``datetime``, exact ``cost``, fee fields) costs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import WSMessage
from bench_md_path import OurPath, Runner, to_message, ws_config
from md_path_frames import BOOK_TICKER, DEALS, Frame, frame_stream, load_ccxt_markets, sim_markets
from rich.console import Console
from rich.table import Table

from backend.src.adapters import mexc_fast_path as fast
from backend.src.adapters.mexc_ws_client import MexcWsClient

#: (piece, owner) in path order.
PIECES = (
    ("ccxt dispatch", "ccxt"),
    ("protobuf parse", "protobuf"),
    ("our decode", "ours"),
    ("ccxt store", "ccxt"),
    ("ccxt resolve", "ccxt"),
    ("our glue", "ours"),
    ("w ccxt watch", "ccxt"),
    ("b ours", "ours"),
)
Samples = dict[str, dict[str, list[int]]]
Lean = tuple[list[int], list[int]]
clock = time.perf_counter_ns


class SplitWsClient(MexcWsClient):
    """``MexcWsClient`` whose fast path records the ns of each piece of the latest frame."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config, fast_path=True)
        self.marks: dict[str, int] = {}
        self.entered = 0

    def handle_message(self, client: Any, message: Any) -> None:
        self.entered = clock()
        super().handle_message(client, message)

    def _handle_fast(self, client: Any, data: bytes | bytearray) -> bool:
        """``MexcWsClient._handle_fast`` for book tickers and deals, with marks."""
        t0 = clock()
        msg = fast.parse_wrapper(data)
        t1 = clock()
        update = fast.decode(msg, self.markets, self.markets_by_id, None, fast.channel_id(msg.channel))
        t2 = clock()
        if isinstance(update, fast.TickerUpdate):
            self.tickers[update.symbol] = update.ticker
            t3 = clock()
            client.resolve(update.ticker, "ticker:" + update.symbol)
        elif isinstance(update, fast.TradesUpdate):
            stored = self._trade_cache(update.symbol)
            for trade in update.trades:
                stored.append(trade)
            t3 = clock()
            client.resolve(stored, "trades:" + update.symbol)
        else:
            raise AssertionError("only book tickers and deals are split")
        t4 = clock()
        self.fast_frames += 1
        self.marks = {"glue in": t0 - self.entered, "protobuf parse": t1 - t0, "our decode": t2 - t1,
                      "ccxt store": t3 - t2, "ccxt resolve": t4 - t3, "done": t4}
        return True


def lean_deals(msg: Any, market: dict[str, Any]) -> list[dict[str, Any]]:
    """Only what ``parse_trades`` reads, from the same protobuf fields as ``fast.deals``."""
    symbol = market["symbol"]
    return [
        {"symbol": symbol, "timestamp": fast._int64_ms(d.time), "side": "buy" if d.tradeType == 1 else "sell",
         "price": fast.number(d.price), "amount": fast.number(d.quantity)}
        for d in msg.publicAggreDeals.deals
    ]


def split_frame(runner: Runner, frame: Frame, msg: WSMessage) -> dict[str, int]:
    """Run one frame through ``runner`` (over a :class:`SplitWsClient`); ns per piece."""
    ex = runner.ex
    assert isinstance(ex, SplitWsClient)
    t0 = clock()
    future = runner.spot.future(frame.hash)
    t1 = clock()
    runner.spot.handle_message(msg)
    t2 = clock()
    value = future.result()
    if frame.kind == DEALS:  # what watch_trades does with the resolved ArrayCache
        value = ex.filter_by_since_limit(value, None, value.getLimit(frame.symbol, None), "timestamp", True)
    t3 = clock()
    runner.ours.consume(frame.kind, frame.symbol, value, ex)
    t4 = clock()
    m = ex.marks
    return {
        "ccxt dispatch": ex.entered - t1,
        "protobuf parse": m["protobuf parse"],
        "our decode": m["our decode"],
        "ccxt store": m["ccxt store"],
        "ccxt resolve": m["ccxt resolve"],
        "our glue": m["glue in"] + (t2 - m["done"]),
        "w ccxt watch": (t1 - t0) + (t3 - t2),
        "b ours": t4 - t3,
        "total": t4 - t0,
    }


def lean_ratio(ex: MexcWsClient, frames: Iterable[Frame]) -> Lean:
    """ns of ``fast.deals`` and of :func:`lean_deals` on the same parsed deals messages."""
    real, lean = [], []
    for frame in frames:
        if frame.kind != DEALS:
            continue
        msg = fast.parse_wrapper(frame.data)
        market = fast.spot_market(msg.symbol, ex.markets_by_id)
        assert market is not None
        t0 = clock()
        fast.deals(msg, market)
        t1 = clock()
        lean_deals(msg, market)
        t2 = clock()
        real.append(t1 - t0)
        lean.append(t2 - t1)
    return real, lean


async def measure(n: int, n_frames: int, block: int, warmup: int) -> tuple[Samples, Lean]:
    """Per kind and piece, ns samples of the split fast path, alternating with ccxt's path."""
    sims = sim_markets(n)
    rest = await load_ccxt_markets(sims)
    symbols = [m.symbol for m in sims]
    sizes = {m.symbol: rest.markets[m.perp_symbol]["contractSize"] if m.has_perp else None for m in sims}
    ccxt_ex, split_ex = MexcWsClient(ws_config(None), fast_path=False), SplitWsClient(ws_config(None))
    for ex in (ccxt_ex, split_ex):
        ex.set_markets_from_exchange(rest)
    ccxt_runner = Runner(ccxt_ex, OurPath(symbols, sizes))
    split_runner = Runner(split_ex, OurPath(symbols, sizes))
    frames = [f for f in itertools.islice(frame_stream(sims), n_frames) if f.kind in (BOOK_TICKER, DEALS)]
    msgs = [to_message(f) for f in frames]
    samples: Samples = {kind: {} for kind in (BOOK_TICKER, DEALS)}
    gc.collect()
    gc.freeze()
    for start in range(0, len(frames), block):
        chunk = list(zip(frames[start : start + block], msgs[start : start + block], strict=True))
        for frame, msg in chunk:
            ccxt_runner.run(frame, msg)
            ccxt_runner.ours.drain(frame.symbol)
        for frame, msg in chunk:
            pieces = split_frame(split_runner, frame, msg)
            split_runner.ours.drain(frame.symbol)
            if start >= warmup:
                for piece, ns in pieces.items():
                    samples[frame.kind].setdefault(piece, []).append(ns)
    gc.unfreeze()
    lean = lean_ratio(split_ex, frames)
    for ex in (ccxt_ex, split_ex):
        await ex.close()
    await rest.close()
    return samples, lean


def _us(ns: list[int], q: int) -> float:
    return statistics.quantiles(ns, n=100, method="inclusive")[q - 1] / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--frames", type=int, default=30_000, help="frames generated (all kinds)")
    parser.add_argument("--block", type=int, default=250, help="frames per alternation block")
    args = parser.parse_args()
    samples, (real, lean) = asyncio.run(measure(args.symbols, args.frames, args.block, warmup=2000))
    console = Console(width=160)
    for kind, pieces in samples.items():
        total = pieces["total"]
        mean_total = statistics.fmean(total)
        title = (f"{kind}, fast path, {args.symbols} symbols, µs per frame: total p50 {_us(total, 50):.1f}, "
                 f"p95 {_us(total, 95):.1f}, n {len(total):,}")
        console.print(title)
        table = Table()
        for col in ("piece", "owner", "p50", "p95", "mean", "share of mean"):
            table.add_column(col, justify="left" if col in ("piece", "owner") else "right")
        for piece, owner in PIECES:
            ns = pieces[piece]
            mean = statistics.fmean(ns)
            table.add_row(piece, owner, f"{_us(ns, 50):.2f}", f"{_us(ns, 95):.2f}", f"{mean / 1e3:.2f}",
                          f"{mean / mean_total:.0%}")
        console.print(table)
    console.print(f"deals decode on the same messages: ccxt-identical dicts p50 {_us(real, 50):.2f} µs, lean "
                  f"(symbol, timestamp, side, price, amount) p50 {_us(lean, 50):.2f} µs, "
                  f"{statistics.fmean(real) / statistics.fmean(lean):.1f}x")


if __name__ == "__main__":
    main()
