"""The md an engine receives, defined once; the closed bars it receives beside them; the
stream records md are built from; the stream channels; the minute.

Why here, at the package root: the feeder builds md (``data.md_mapping``), engines consume it
(``engine``), the bus carries it (``bus.codec``) and the adapter names its streams by channel;
none of them should import another layer just for a schema. At runtime an md is a plain
``dict`` (the bus encodes it as JSON, engines index it); :class:`MarketData` gives its keys and
types to readers and type checkers.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import NotRequired, Protocol, TypedDict, runtime_checkable

#: One minute in ms: the grid of the bars the feeder keeps.
MINUTE_MS = 60_000


class Channel(StrEnum):
    """A per-symbol data stream (feed health keys, drop counters, watchdog thresholds)."""

    #: MEXC's spot book ticker (bid/ask); the symbol's freshness follows it
    TICKER = "ticker"
    #: MEXC's aggregated spot deals
    TRADES = "trades"
    #: the USDT perpetual's ``push.ticker`` (funding, open interest)
    SWAP = "swap"
    #: REST klines (bootstrap and backfill): only their rejected rows are counted
    KLINES = "klines"
    #: REST 24 h statistics: only their rejected figures are counted
    STATS = "stats"


class MarketData(TypedDict):
    """One md, as :meth:`backend.src.data.md_mapping.SymbolState.to_md` builds it.

    Every md satisfies the rules of :mod:`backend.src.validation` (finite positive prices,
    ``bid < ask``, ``ts`` within the window around the exchange clock); see the README.
    """

    #: unified spot symbol, e.g. ``BTC/USDT``
    symbol: str
    #: exchange time (ms) of the newest record folded in — never the local clock
    ts: int | None
    #: last trade price; before the first trade, the latest bar close
    price: float | None
    #: best bid / ask from MEXC's book ticker, and ``ask - bid``
    bid: float | None
    ask: float | None
    spread: float | None
    #: rolling 24 h base volume from the 1 m bars
    vol: float
    #: news/social texts about the symbol (``[]`` without text sources)
    texts: list[str]
    #: the perpetual's current funding rate; None when the symbol has no perpetual
    funding: float | None
    #: the perpetual's open interest in base units; None when it has no perpetual
    oi: float | None
    #: exchange time (ms) of the record that last set ``funding`` / ``oi``: they come from their
    #: own stream, which can stall or be refused while the book flows
    funding_ts: int | None
    oi_ts: int | None
    #: True while the symbol's book ticker has been silent past its threshold: the other
    #: fields are the last known values and must not be traded on
    stale: bool


class Bar(TypedDict):
    """One closed 1 m bar, as engines (``Engine.bars``, ``Engine.on_bar``), the bus and
    ``data.bar_store.load_bars`` give it. A plain ``dict`` at runtime, like an md."""

    #: unified spot symbol, e.g. ``BTC/USDT``
    symbol: str
    #: open time of the minute, exchange time (ms, a multiple of :data:`MINUTE_MS`)
    ts: int
    open: float
    high: float
    low: float
    close: float
    #: base volume traded in the minute
    volume: float
    #: True when no trade made the bar: forward-filled (close carried, volume 0)
    synthetic: bool
    #: True when this bar replaces one delivered before for the same ``ts`` (a backfill from
    #: the exchange after an outage corrected it)
    revision: bool


def make_bar(symbol: str, row: Sequence[float], synthetic: bool, revision: bool = False) -> Bar:
    """The :class:`Bar` of an OHLCV row ``[open ms, o, h, l, c, v, ...]`` (ccxt's shape, which the
    feeder's live bars and the bar store keep)."""
    return {
        "symbol": symbol,
        "ts": int(row[0]),
        "open": row[1],
        "high": row[2],
        "low": row[3],
        "close": row[4],
        "volume": row[5],
        "synthetic": synthetic,
        "revision": revision,
    }


class BarListener(Protocol):
    """Who is told of closed bars: the engines' manager, the bus publisher."""

    def on_history(self, symbol: str, bars: Sequence[Bar]) -> None:
        """Bars of ``symbol`` the listener did not see close, oldest first: the bootstrap
        history, or what a restarted stream fetched again. Sync, must not block."""

    def on_bar(self, bar: Bar) -> None:
        """A bar that just closed, or a revision of one (``bar["revision"]``). Sync, must not
        block: it runs on the feeder's event loop."""


@runtime_checkable
class BarSource(Protocol):
    """A feeder that can tell a :class:`BarListener` of closed bars (``MarketFeeder``,
    ``BusSubscriber``); a feeder without it gives md only."""

    def listen_bars(self, listener: BarListener) -> None:
        """Tell ``listener`` of every history and closed bar from now on (one listener)."""


class BookRecord(TypedDict):
    """A spot book-ticker record (``MexcAdapter.stream_ticker``): MEXC's best bid/ask."""

    ts: int  # exchange time, ms
    bid: float
    ask: float
    last: float | None  # the latest trade's price, else the REST 24 h ticker's
    spread: float
    volume: float | None  # MEXC's REST 24 h base volume
    rx: NotRequired[float]  # perf_counter() when the frame arrived


class TradeRecord(TypedDict):
    """One trade (``MexcAdapter.stream_trade_batches`` yields a list per push)."""

    ts: int
    price: float
    amount: float
    side: str
    rx: NotRequired[float]


class SwapRecord(TypedDict):
    """The perpetual's figures (``MexcAdapter.stream_swap_ticker``, REST at bootstrap)."""

    ts: int
    funding: float | None
    oi: float | None  # base units: holdVol x contract size
    oi_contracts: float | None
    mark: float | None
    index: float | None
    last: float | None
    rx: NotRequired[float]


#: The md keys, in the order the feeder builds them.
MD_FIELDS: tuple[str, ...] = tuple(MarketData.__annotations__)
