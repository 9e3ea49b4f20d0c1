"""Realistic MEXC frames and ccxt markets for N synthetic symbols (helper of bench_md_path).

Everything comes from the loopback simulator, so the benchmark sees what the tests see: the
market model (``backend.src.sim.market_model``) walks prices, trades and the book; the
simulator's frame builders (``backend.src.sim.frames``) turn its events into the protobuf and
JSON frames MEXC sends; ccxt's own ``load_markets`` parses the simulator's exchangeInfo and
contract-detail payloads (``backend.src.sim.rest``) into markets, without any I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt_async

from backend.src.sim import frames, rest
from backend.src.sim.intervals import ONE_MINUTE
from backend.src.sim.market_model import MarketModel, ModelConfig, SimMarket

DEALS = "deals"
BOOK_TICKER = "bookTicker"
KLINE = "kline"
SWAP_TICKER = "swapTicker"
KINDS = (BOOK_TICKER, DEALS, KLINE, SWAP_TICKER)

#: (price decimals, qty decimals, price) triples cycled over the symbols: BTC-, ETH-, DOGE-,
#: SHIB- and exotic-like precision, so number strings have 0–8 decimals and trailing zeros.
_PRECISIONS = ((2, 6, 60_000.0), (2, 5, 3_000.0), (5, 2, 0.15), (8, 0, 0.000012), (4, 3, 12.5))
START_MS = 1_700_000_000_000
PUSH_MS = 100  # MEXC's aggregated channels push every 100 ms


def sim_markets(n: int) -> list[SimMarket]:
    """``n`` active spot markets ``S0000/USDT``…; every other one has a USDT perpetual."""
    out = []
    for i in range(n):
        price_dp, qty_dp, price = _PRECISIONS[i % len(_PRECISIONS)]
        out.append(SimMarket(f"S{i:04d}/USDT", price, has_perp=i % 2 == 0,
                             price_decimals=price_dp, qty_decimals=qty_dp))
    return out


async def load_ccxt_markets(markets: list[SimMarket]) -> ccxt_async.mexc:
    """A REST ``ccxt.mexc`` whose markets ccxt parsed from the simulator's payloads.

    The two endpoints ``load_markets`` calls are replaced by coroutines returning what the
    simulator's REST routes would answer, so ccxt's real market parsing runs without I/O.
    The caller closes the exchange.
    """
    ex = ccxt_async.mexc({"enableRateLimit": False, "verify": False, "timeout_on_exit": 0})

    async def exchange_info(params: dict | None = None) -> dict[str, Any]:
        symbols = [rest.spot_symbol_info(m) for m in markets]
        return {"timezone": "CST", "serverTime": START_MS, "symbols": symbols}

    async def contract_detail(params: dict | None = None) -> dict[str, Any]:
        return {"success": True, "code": 0, "data": [rest.contract_detail(m) for m in markets if m.has_perp]}

    ex.spotPublicGetExchangeInfo = exchange_info
    ex.contractPublicGetDetail = contract_detail
    await ex.load_markets()
    return ex


@dataclass(frozen=True, slots=True)
class Frame:
    """One websocket frame as it arrives: ``data`` is bytes (spot) or text (swap JSON)."""

    kind: str
    symbol: str  # unified spot symbol the frame is about
    data: bytes | str
    items: int  # trades in a deals frame, else 1
    sent_ms: int  # the exchange's time when it sent the frame

    @property
    def hash(self) -> str:
        """ccxt's message hash the frame resolves (swap tickers resolve the perpetual's)."""
        return {
            BOOK_TICKER: f"ticker:{self.symbol}",
            DEALS: f"trades:{self.symbol}",
            KLINE: f"candles:{self.symbol}:1m",
            SWAP_TICKER: f"ticker:{self.symbol}:USDT",
        }[self.kind]


class _StepClock:
    """Simulated time for the market model: advanced by hand, one push at a time."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


def frame_stream(
    markets: list[SimMarket], *, seed: int = 42, max_trades: int = 5, swap_every: int = 10
) -> Iterator[Frame]:
    """Frames in wire order, push after push, forever (the caller takes what it needs).

    Per push and symbol: a deals frame (1–``max_trades`` trades, every push), a book-ticker
    frame when the best level changed, a 1m kline frame when a trade touched the bar, and every
    ``swap_every`` pushes a ``push.ticker`` JSON frame for symbols with a perpetual (MEXC
    sends those about once a second).
    """
    clock = _StepClock(START_MS)
    cfg = ModelConfig(history_minutes=2, quiet_probability=0.0, max_trades_per_push=max_trades)
    model = MarketModel(markets, seed, cfg, clock)  # type: ignore[arg-type]  # duck-typed clock
    by_symbol = {sm.market.symbol: sm for sm in model.symbols.values()}
    push = 0
    while True:
        push += 1
        clock.now += PUSH_MS
        now = clock.now
        for ev in model.step():
            m = ev.market
            if ev.trades:
                ch = f"{frames.DEALS_EVENT}@100ms@{m.spot_id}"
                yield Frame(DEALS, m.symbol, frames.pb_deals(ch, m, ev.trades, now), len(ev.trades), now)
            if ev.book_ticker is not None:
                ch = f"{frames.BOOK_TICKER_EVENT}@100ms@{m.spot_id}"
                yield Frame(BOOK_TICKER, m.symbol, frames.pb_book_ticker(ch, m, ev.book_ticker, now), 1, now)
            bar = by_symbol[m.symbol].bars.get(ev.bar_minutes[-1]) if ev.bar_minutes else None
            if bar is not None:
                ch = f"{frames.KLINE_EVENT}@{m.spot_id}@Min1"
                yield Frame(KLINE, m.symbol, frames.pb_kline(ch, m, ONE_MINUTE, bar, now), 1, now)
            if m.has_perp and push % swap_every == 0:
                sm = by_symbol[m.symbol]
                data = frames.swap_ticker_data(sm, sm.stats_24h(now), now)
                frame = frames.swap_push("push.ticker", m.perp_id, data, now)
                yield Frame(SWAP_TICKER, m.symbol, frame, 1, now)


def take(stream: Iterator[Frame], per_kind: int, kinds: tuple[str, ...] = KINDS) -> list[Frame]:
    """Frames in stream order until every kind in ``kinds`` has ``per_kind`` (others dropped)."""
    counts = dict.fromkeys(kinds, 0)
    out = []
    for frame in stream:
        if frame.kind not in counts or counts[frame.kind] >= per_kind:
            if all(c >= per_kind for c in counts.values()):
                break
            continue
        counts[frame.kind] += 1
        out.append(frame)
    return out
