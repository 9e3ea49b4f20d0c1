"""Supervision of the feed against the loopback simulator, through the real ccxt clients.

Sharding over websocket connections, rotation before MEXC's 24 h cut, a slow engine, REST
storms while bootstrapping, unanswered pings, refused connections and refused subscriptions.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from backend.src.adapters.mexc_ccxt import MexcAdapter, MexcConfig
from backend.src.data.market_feeder import MarketFeeder
from backend.src.data.md_mapping import SymbolState
from backend.src.engine.engine import MD, Engine
from backend.src.engine.manager import EngineManager
from backend.src.sim.market_model import SimMarket
from backend.src.sim.net import abort_transport
from backend.src.sim.server import MexcSimulator
from backend.tests.conftest import FAST_OPTIONS
from backend.tests.helpers import assert_accounting, wait_until

from .streams import Collector
from .test_feeder_health import running

MIN = 60_000
CHANNELS = ("ticker", "trades")
#: More symbols than one connection may carry (15): two shards, of 15 and 5 symbols.
SPOT_20 = tuple(SimMarket(f"S{i:02d}/USDT", 10.0 + i, has_perp=False) for i in range(20))


@pytest_asyncio.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[MexcSimulator]:
    """The fast simulator of ``backend/tests/conftest.py``; a test lists other markets with
    ``@pytest.mark.parametrize("sim", [markets], indirect=True)``."""
    async with MexcSimulator(getattr(request, "param", None), seed=1, **FAST_OPTIONS) as simulator:
        yield simulator


def collect_all(adapter: MexcAdapter, symbols: list[str]) -> dict[tuple[str, str], Collector]:
    """A collector per symbol and spot channel (``stream_ticker`` / ``stream_trades``)."""
    return {(s, ch): Collector(getattr(adapter, f"stream_{ch}")(s)) for s in symbols for ch in CHANNELS}


async def stop_all(collectors: dict[tuple[str, str], Collector]) -> None:
    for collector in collectors.values():
        await collector.stop()


def symbol_of(channel: str) -> str:
    """Unified symbol of a spot channel name (``...@100ms@S03USDT`` → ``S03/USDT``)."""
    return channel.rsplit("@", 1)[-1].removesuffix("USDT") + "/USDT"


def streams_with_counters(adapter: MexcAdapter) -> set[str]:
    """Symbols whose streams counted anything (retries, stale, rotations)."""
    return {name.rsplit(" ", 1)[0] for name, _ in adapter.counters}


class DisconnectLog:
    """A ``StreamListener`` that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.drops: list[tuple[str, str, str]] = []

    def on_disconnect(self, symbol: str, channel: str, reason: str) -> None:
        self.calls.append((symbol, channel, reason))

    def on_drop(self, symbol: str, channel: str, reason: str) -> None:
        self.drops.append((symbol, channel, reason))


class TimedSink(list[dict[str, Any]]):
    """md sink for ``running``: a list that also keeps each md's local arrival time."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    def append(self, md: dict[str, Any]) -> None:
        super().append(md)
        self.arrivals.append(time.monotonic())

    def between(self, start: float, end: float) -> list[float]:
        return [t for t in self.arrivals if start < t < end]


class SlowEngine(Engine):
    """A strategy that needs 50 ms per md: far slower than the feed."""

    async def on_market_data(self, md: MD) -> None:
        await asyncio.sleep(0.05)
        await super().on_market_data(md)


# ---- sharding ------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("sim", [SPOT_20], ids=["20-spot-markets"], indirect=True)
async def test_twenty_symbols_use_two_connections_and_a_drop_hits_only_its_shard(
    sim: MexcSimulator, make_adapter
) -> None:
    symbols = [m.symbol for m in SPOT_20]
    adapter: MexcAdapter = make_adapter(symbols)
    streams = collect_all(adapter, symbols)
    try:
        await wait_until(lambda: all(c.records for c in streams.values()), 10.0)  # all 20 deliver
        conns = list(sim.spot.conns.values())
        assert len(sim.recorder.open_connections("/ws")) == len(conns) == 2
        assert sorted(len(c.subs) for c in conns) == [10, 30]  # 5 and 15 symbols, 30 at most
        assert not sim.recorder.refused_subscriptions
        shards = [{symbol_of(channel) for channel in c.subs} for c in conns]
        assert sorted(map(len, shards)) == [5, 15]  # a symbol's two channels share a connection
        assert shards[0] | shards[1] == set(symbols)
        # one market table (the REST client's) and one CA bundle for every shard's client
        clients = [ws for ws, _ in adapter.shards.entries.values()]
        assert len(clients) == 2 and clients[0].markets is clients[1].markets is adapter.rest.markets
        assert clients[0].ssl_context is clients[1].ssl_context

        victim = min(conns, key=lambda c: len(c.subs))
        hit = shards[conns.index(victim)]
        abort_transport(victim.transport)  # only this connection: a TCP reset, no close frame
        await wait_until(
            lambda: victim.id not in sim.spot.conns and len(sim.recorder.open_connections("/ws")) == 2, 3.0
        )
        back = time.monotonic()
        for collector in streams.values():
            await collector.next_after(back, timeout=2.0)  # every stream flows again
    finally:
        await stop_all(streams)
    assert streams_with_counters(adapter) == hit, dict(adapter.counters)
    for symbol in hit:
        assert any(adapter.counters[(f"{symbol} {ch}", "retry.NetworkError")] for ch in CHANNELS), symbol


# ---- rotation ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_connections_are_rotated_without_a_gap_and_the_listener_is_told(
    sim: MexcSimulator, make_adapter
) -> None:
    grace = MexcConfig(rotation_grace=0.3)
    listener = DisconnectLog()
    adapter: MexcAdapter = make_adapter(max_connection_age=0.5, listener=listener, config=grace)
    ticks = Collector(adapter.stream_ticker("BTC/USDT"))
    try:
        await ticks.wait_for(1)
        await asyncio.sleep(2.0)
        adapter.max_connection_age = float("inf")  # no rotation left half-done when we stop
        await ticks.wait_for(len(ticks.records) + 1)
    finally:
        await ticks.stop()
    await wait_until(lambda: len(sim.recorder.open_connections("/ws")) == 1, 1.0)  # grace is over
    rotations = adapter.counters[("BTC/USDT ws", "rotation")]
    opened = [r for r in sim.recorder.connections.values() if r.path == "/ws"]
    assert rotations >= 2 and len(opened) == rotations + 1  # one new connection per rotation
    assert all(r.closed_ms is not None for r in opened[:-1])  # every rotated-out one was closed
    gaps = [b - a for a, b in itertools.pairwise(ticks.arrivals)]
    assert max(gaps) < 1.0
    assert listener.calls == [("BTC/USDT", "ticker", "rotation")] * rotations  # only what streams
    assert not listener.drops
    assert not [key for key in adapter.counters if key[1] != "rotation"]  # no error on the way


@pytest.mark.asyncio
async def test_a_stream_idle_across_a_rotation_survives_the_old_connection_closing(
    sim: MexcSimulator, make_adapter
) -> None:
    """An illiquid market's trade watch stays pending on the rotated-out connection until the
    grace ends; closing that connection must not end the stream."""
    grace = MexcConfig(rotation_grace=0.3)
    adapter: MexcAdapter = make_adapter(max_connection_age=0.5, config=grace)
    ticks = Collector(adapter.stream_ticker("BTC/USDT"))
    trades = Collector(adapter.stream_trades("BTC/USDT"))
    try:
        await trades.wait_for(1)
        sim.faults.silence(channel="*deals*")  # no trade for a while
        await wait_until(lambda: adapter.counters[("BTC/USDT ws", "rotation")] >= 1, 2.0)
        await asyncio.sleep(0.6)  # past the grace: the connection the watch waits on is closed
        assert not trades.task.done(), f"the trade stream ended: error={trades.error!r}"
        sim.faults.silence(False)
        await trades.wait_for(len(trades.records) + 1, timeout=3.0)
    finally:
        await ticks.stop()
        await trades.stop()


@pytest.mark.asyncio
async def test_closing_the_adapter_during_the_grace_closes_the_rotated_out_connection(
    sim: MexcSimulator, make_adapter
) -> None:
    grace = MexcConfig(rotation_grace=5.0)
    adapter: MexcAdapter = make_adapter(max_connection_age=0.3, config=grace)
    ticks = Collector(adapter.stream_ticker("BTC/USDT"))
    try:
        await wait_until(lambda: adapter.counters[("BTC/USDT ws", "rotation")] >= 1, 2.0)
        adapter.max_connection_age = float("inf")
        await ticks.wait_for(len(ticks.records) + 1)  # on the new connection
    finally:
        await ticks.stop()
    rotations = adapter.counters[("BTC/USDT ws", "rotation")]
    assert len(sim.recorder.open_connections("/ws")) == rotations + 1  # old ones are in their grace
    await adapter.close()
    await wait_until(lambda: not sim.recorder.open_connections("/ws"), 1.0)


@pytest.mark.asyncio
async def test_rotation_leaves_no_pending_recovery_on_channels_a_symbol_does_not_stream(
    sim: MexcSimulator, make_adapter
) -> None:
    """DOGE/USDT has no perpetual: a rotation must not open a recovery on a swap channel that
    can never deliver (it would count as an outage growing forever and fail the KPI)."""
    grace = MexcConfig(rotation_grace=0.3)
    adapter: MexcAdapter = make_adapter(["DOGE/USDT"], max_connection_age=0.5, config=grace)
    feeder = MarketFeeder(["DOGE/USDT"], adapter=adapter)

    def pending() -> dict[str, float]:
        channels = feeder.health()["symbols"]["DOGE/USDT"]["channels"]
        waits = {ch: v["recoveries"]["pending_s"] for ch, v in channels.items()}
        return {ch: s for ch, s in waits.items() if s is not None}

    async with running(feeder, []):
        await wait_until(lambda: adapter.counters[("DOGE/USDT ws", "rotation")] >= 1, 3.0)
        adapter.max_connection_age = float("inf")  # one rotation is enough
        try:
            await wait_until(lambda: not pending(), 2.0)
        except TimeoutError:
            pytest.fail(f"recoveries still pending 2 s after the rotation: {pending()}")
        ticker = feeder.health()["symbols"]["DOGE/USDT"]["channels"]["ticker"]
    assert ticker["recoveries"]["count"] >= 1  # the seam was measured, and closed


# ---- slow consumer -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_slow_engine_drops_oldest_md_and_never_slows_the_feeder(
    sim: MexcSimulator, make_adapter
) -> None:
    symbols = ["BTC/USDT", "ETH/USDT"]
    feeder = MarketFeeder(symbols, adapter=make_adapter(symbols))
    manager = EngineManager(symbols, feeder=feeder, engine_factory=SlowEngine, queue_size=5)

    def pace() -> dict[str, int]:
        """Running totals: md the feeder delivered, md the engines consumed and dropped, book
        tickers the exchange sent and the feeder received."""
        engines = [e.md_stats for e in manager.engines.values()]
        return {
            "delivered": sum(feeder.delivered.values()),
            "consumed": sum(int(e["delivered"]) for e in engines),
            "dropped": sum(int(e["dropped_queue_full"]) for e in engines),
            "sent": sum(sim.recorder.book_tickers_sent[s.replace("/", "")] for s in symbols),
            "received": sum(feeder.feed_health.channel(s, "ticker").received for s in symbols),
        }

    await manager.start()
    try:
        await wait_until(lambda: all(e.dropped > 0 for e in manager.engines.values()), 10.0)
        before = pace()
        await asyncio.sleep(1.0)
        after = pace()
        lag_ms = {s: sim.clock.now_ms() - feeder.states[s].ts for s in symbols}
    finally:
        await manager.stop()
    window = {key: after[key] - before[key] for key in after}
    assert window["received"] >= window["sent"] - 2, window  # every book ticker taken in at once ...
    assert window["delivered"] >= window["received"], window  # ... and passed on as an md
    assert all(lag < 500 for lag in lag_ms.values()), lag_ms  # md are as new as the exchange's data
    assert window["consumed"] <= 2 * (1.0 / 0.05 + 2), window  # two engines at 50 ms per md ...
    assert window["dropped"] > 0, window  # ... so they shed the oldest md, and count it
    stats = manager.stats()
    for engine in manager.engines.values():
        assert_accounting(engine)  # received == delivered + dropped_queue_full + queued
    received = sum(e["received"] for e in stats["engines"].values())
    assert sum(feeder.delivered.values()) == received + stats["unrouted"]
    assert feeder.health()["totals"]["dropped"] == 0  # the feeder itself lost nothing


# ---- REST storms ---------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "count", "retry_after", "error"),
    [(429, 4, 1, "RateLimitExceeded"), (503, 6, None, "ExchangeNotAvailable")],
    ids=["429-storm", "503-storm"],
)
async def test_rest_storm_during_bootstrap_is_retried_and_nothing_is_lost(
    sim: MexcSimulator, make_adapter, status: int, count: int, retry_after: int | None, error: str
) -> None:
    sim.faults.rest_error(status, count=count, path="/api/v3/klines", retry_after=retry_after)
    adapter: MexcAdapter = make_adapter()
    feeder = MarketFeeder(["BTC/USDT"], adapter=adapter)
    mds: list[dict] = []
    started = time.monotonic()
    async with running(feeder, mds):
        elapsed = time.monotonic() - started
        report = feeder.health()
    assert adapter.counters[("fetch_ohlcv", f"retry.{error}")] == count  # every refusal retried
    assert not feeder.failed and {md["symbol"] for md in mds} == {"BTC/USDT"}
    assert len(feeder.states["BTC/USDT"].bars.closed) == 1500  # no bar lost to the storm
    assert report["totals"]["dropped"] == 0
    if retry_after is not None:  # 3 pages refused at once, then one of them again: 2 x Retry-After
        assert elapsed >= 2 * retry_after - 0.05


# ---- unanswered pings ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unanswered_pings_time_out_are_retried_and_heal(sim: MexcSimulator, make_adapter) -> None:
    """ccxt's keepalive (MEXC default 8 s, two misses) must be configurable through the adapter."""
    adapter: MexcAdapter = make_adapter(ccxt_config={"streaming": {"keepAlive": 300}})
    ticks = Collector(adapter.stream_ticker("BTC/USDT"))
    timeouts = ("BTC/USDT ticker", "retry.RequestTimeout")
    try:
        await ticks.wait_for(2)
        sim.faults.stop_pong(True)
        await wait_until(lambda: adapter.counters[timeouts] >= 1, 3.0)
        sim.faults.stop_pong(False)
        healed = time.monotonic()
        recovery = await ticks.next_after(healed, timeout=2.0)
        await asyncio.sleep(1.0)  # a connection dialled during the fault may still miss one pong
        settled = adapter.counters[timeouts]
        await asyncio.sleep(1.0)
        flowing = await ticks.next_after(time.monotonic(), timeout=1.0)
    finally:
        await ticks.stop()
    assert recovery < 2.0 and flowing < 1.0
    assert adapter.counters[timeouts] == settled  # pongs answered again: no more timeouts


# ---- refused connections -------------------------------------------------------------------


async def close_current_minute(sim: MexcSimulator, adapter: MexcAdapter) -> None:
    """Move the exchange's clock just past the next minute boundary, and let the adapter
    measure the new offset, so the forming minute closes without waiting for it."""
    sim.faults.skew_clock(sim.clock.skew_ms + MIN - sim.clock.now_ms() % MIN + 500)
    await adapter.fetch_time(samples=7)  # a fresh median: the whole window after the jump


def exchange_bar(sim: MexcSimulator, symbol: str, minute: int) -> list[float] | None:
    """The simulator's 1 m bar as ``[open_ms, o, h, l, c, v]`` in prices and base units."""
    bar = sim.model.bar(symbol, minute)
    if bar is None:
        return None
    scale = sim.model.get(symbol)
    p, q = scale.price_scale, scale.qty_scale
    return [minute, bar.open / p, bar.high / p, bar.low / p, bar.close / p, bar.volume / q]


def bars_unlike_the_exchange(sim: MexcSimulator, state: SymbolState, since: int) -> dict[int, Any]:
    """Closed bars from minute ``since`` on that differ from the exchange's: ``{minute: (ours, theirs)}``."""
    pairs = {int(b[0]): (list(b), exchange_bar(sim, state.symbol, int(b[0]))) for b in state.bars.closed}
    return {
        m: (ours, theirs)
        for m, (ours, theirs) in pairs.items()
        if m >= since and (theirs is None or ours != pytest.approx(theirs))
    }


@pytest.mark.asyncio
async def test_refused_connections_recover_fast_and_bars_stay_gapless(
    sim: MexcSimulator, make_adapter
) -> None:
    adapter: MexcAdapter = make_adapter()
    feeder = MarketFeeder(["BTC/USDT"], adapter=adapter)
    mds = TimedSink()
    async with running(feeder, mds):
        state = feeder.states["BTC/USDT"]
        await wait_until(lambda: state.bars.forming is not None, 5.0)
        outage_minute = int(state.bars.forming[0])
        refused_at = time.monotonic()
        sim.faults.refuse_connections(3.0)
        accepting_at = refused_at + 3.0
        await wait_until(lambda: bool(mds.between(accepting_at, float("inf"))), 6.0)
        recovery = mds.between(accepting_at, float("inf"))[0] - accepting_at
        silent = mds.between(refused_at + 0.5, accepting_at)
        await close_current_minute(sim, adapter)
        await wait_until(lambda: (state.bars.last_closed_open or 0) >= outage_minute, 5.0)
        await wait_until(lambda: not bars_unlike_the_exchange(sim, state, outage_minute), 10.0)  # backfilled
        ticker = feeder.health()["symbols"]["BTC/USDT"]["channels"]["ticker"]
    assert not silent  # the outage was real
    assert recovery < 2.0
    assert ticker["recoveries"]["count"] >= 1 and ticker["recoveries"]["pending_s"] is None
    opens = [int(bar[0]) for bar in state.bars.closed]
    assert all(b - a == MIN for a, b in itertools.pairwise(opens))  # no missing minute
    invented = {m for m in state.bars.synthetic if sim.model.bar("BTC/USDT", m) is not None}
    assert not invented  # no forward-filled bar for a minute the exchange has


@pytest.mark.asyncio
async def test_the_minute_forming_at_startup_becomes_the_exchanges_bar(
    sim: MexcSimulator, make_adapter
) -> None:
    """Bootstrap takes the closed bars; the minute then forming is built from the trades seen
    since the stream started, which misses its earlier trades: once it closes, the exchange's
    bar must replace it, as after an outage."""
    adapter: MexcAdapter = make_adapter()
    feeder = MarketFeeder(["BTC/USDT"], adapter=adapter)
    async with running(feeder, []):
        state = feeder.states["BTC/USDT"]
        assert state.bars.last_closed_open is not None
        startup_minute = state.bars.last_closed_open + MIN
        await close_current_minute(sim, adapter)
        await wait_until(lambda: (state.bars.last_closed_open or 0) >= startup_minute, 5.0)
        try:
            await wait_until(lambda: not bars_unlike_the_exchange(sim, state, startup_minute), 3.0)
        except TimeoutError:
            pytest.fail(f"bars unlike the exchange's: {bars_unlike_the_exchange(sim, state, startup_minute)}")


# ---- refused subscriptions -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_refused_trades_subscription_is_noticed_and_the_rest_keeps_streaming(
    sim: MexcSimulator, make_adapter
) -> None:
    sim.faults.reject_subscriptions("*deals*ETHUSDT")
    symbols = ["BTC/USDT", "ETH/USDT"]
    adapter: MexcAdapter = make_adapter(symbols)
    streams = collect_all(adapter, symbols)
    eth_trades = "ETH/USDT trades"

    def noticed() -> bool:
        return any("rejected" in event.lower() for name, event in adapter.counters if name == eth_trades)

    try:
        await wait_until(lambda: bool(sim.recorder.refused_subscriptions), 3.0)
        try:
            await wait_until(noticed, 3.0)
        except TimeoutError:
            pytest.fail(f"refused subscription unnoticed after 3 s; counters: {dict(adapter.counters)}")
        now = time.monotonic()
        for key, collector in streams.items():
            if key != ("ETH/USDT", "trades"):
                await collector.next_after(now, timeout=2.0)
    finally:
        await stop_all(streams)
    assert not streams[("ETH/USDT", "trades")].records
    assert {channel for _, channel, _ in sim.recorder.refused_subscriptions} == {
        "spot@public.aggre.deals.v3.api.pb@100ms@ETHUSDT"
    }
