"""``ShardPool``: the websocket connections, 15 symbols each, rotated before MEXC's 24 h cut.

Why apart: MEXC accepts at most 30 subscriptions per connection and ccxt puts every stream of
one URL on one connection, so symbols are spread over several ccxt clients (shards). Which
symbol lives where, when a connection is too old, and how its streams move to a new one
without a gap is connection handling, not feed parsing (as in cryptofeed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

from ...errors import ConnectionRotated
from ..mexc_instruments import perp_symbol_for
from ..mexc_ws_client import MexcWsClient
from . import ccxt_compat
from .rest import RestClient
from .runtime import MexcRuntime

log = logging.getLogger(__name__)


class ShardPool:
    """One ccxt websocket client per shard of ``symbols_per_connection`` symbols."""

    def __init__(self, runtime: MexcRuntime, rest: RestClient, load_markets: Callable[[], Awaitable[object]]):
        self._runtime = runtime
        self._rest = rest
        self._load_markets = load_markets
        #: shard → (client, created at, monotonic)
        self.entries: dict[int, tuple[MexcWsClient, float]] = {}
        self._shard_of: dict[str, int] = {}
        #: shard → symbols assigned to it; a released symbol frees its slot for the next one.
        self._load: Counter[int] = Counter()
        #: (symbol, channel) → streams running: who is told about a rotation.
        self.active: Counter[tuple[str, str]] = Counter()
        #: rotated-out clients still open during their grace period.
        self._retiring: set[MexcWsClient] = set()
        #: the SSL context every client after the first is given (see :meth:`_new_client`)
        self._ssl_context: object | None = None

    def symbols(self) -> list[str]:
        """The symbols that have a connection slot (are being streamed)."""
        return list(self._shard_of)

    async def ws(self, symbol: str) -> MexcWsClient:
        """The websocket client of ``symbol``'s shard, sharing the REST client's markets; a
        client older than ``max_connection_age`` is rotated first (see :meth:`_rotate`)."""
        self._runtime.ensure_open()
        shard = self._shard_of.get(symbol)
        if shard is None:
            shard = self._shard_of[symbol] = self._free_shard()
            self._load[shard] += 1
        entry = self.entries.get(shard)
        if entry is None:  # first use only: every stream calls this once per message
            await self._load_markets()
            entry = self._open_up_to(shard)
        if time.monotonic() - entry[1] > self._runtime.config.max_connection_age:
            entry = self._rotate(shard)
        return entry[0]

    def reserve(self, symbols: Iterable[str]) -> None:
        """Give ``symbols`` their connection slots now, in this order.

        Why: a slot taken at a symbol's first stream call goes to whichever bootstrap finishes
        first, so which connection carries a symbol would depend on REST timing and on how
        busy the loop was. A replay, whose bootstraps take no time, would then subscribe a
        symbol on another connection than the one its recorded frames arrive on, and the
        symbol would get no data at all. Reserved in the feeder's order, every run lays the
        symbols out alike.
        """
        for symbol in symbols:
            if symbol not in self._shard_of:
                shard = self._shard_of[symbol] = self._free_shard()
                self._load[shard] += 1

    def _open_up_to(self, shard: int) -> tuple[MexcWsClient, float]:
        """``shard``'s client, made first for every lower shard that has symbols and no client
        yet: clients are numbered in the order they are made (a replay matches connections by
        that number), so they are made in shard order, whichever stream asks first."""
        for lower in sorted(k for k, n in self._load.items() if n and k < shard and k not in self.entries):
            self.entries[lower] = (self._new_client(), time.monotonic())
        entry = self.entries.get(shard)  # again after the caller's await: concurrent callers share one
        if entry is None:
            entry = self.entries[shard] = (self._new_client(), time.monotonic())
        return entry

    def _free_shard(self) -> int:
        """The lowest shard with a free slot: symbols added and released while running (market
        reloads, lease hand-overs) fill the gaps instead of opening ever more connections."""
        shard = 0
        while self._load[shard] >= self._runtime.config.symbols_per_connection:
            shard += 1
        return shard

    async def release(self, symbol: str) -> None:
        """Stop MEXC's pushes for ``symbol`` (its streams must already be cancelled) and free its
        connection slot. An unsubscribe that cannot be sent is logged and counted: the channel
        then dies with its connection, since ccxt re-subscribes only channels still watched."""
        shard = self._shard_of.pop(symbol, None)
        if shard is None:
            return
        self._load[shard] -= 1
        entry = self.entries.get(shard)
        if entry is None:
            return
        client = entry[0]
        perp = perp_symbol_for(symbol)  # if it has one: a delisted symbol has no Instrument any more
        perp = perp if perp is not None and ccxt_compat.knows_market(client, perp) else None
        calls = [(client.un_watch_ticker, symbol), (client.un_watch_trades, symbol)]
        calls += [(client.un_watch_ticker, perp)] if perp else []
        for unwatch, target in calls:
            try:
                await unwatch(target)
            except Exception as exc:
                self._runtime.counters[(f"{symbol} unsubscribe", f"error.{type(exc).__name__}")] += 1
                log.warning("%s: unsubscribe from %s failed: %s", symbol, target, exc)

    def share_markets(self) -> None:
        """Hand the REST client's (re)loaded markets to every open websocket client."""
        for client, _ in self.entries.values():
            ccxt_compat.share_markets(client, self._rest.client)

    def _new_client(self) -> MexcWsClient:
        """A websocket client sharing the REST client's market table and the first shard's SSL
        context: each ccxt client otherwise loads its own CA bundle (0.7 MB and 17 ms each,
        about 90 MB for the 132 shards of 2000 symbols)."""
        options = self._runtime.config.ccxt_options()
        if self._ssl_context is not None:
            options["ssl_context"] = self._ssl_context
        client = MexcWsClient(options, tap=self._runtime.wire)
        ccxt_compat.share_markets(client, self._rest.client)
        if self._ssl_context is None:
            self._ssl_context = ccxt_compat.ssl_context(client)
        return client

    def _rotate(self, shard: int) -> tuple[MexcWsClient, float]:
        """Replace a shard's client before MEXC's 24 h limit cuts it.

        The new client is dialled by the streams' next ``watch_*`` while the old connection
        stays open for ``rotation_grace`` seconds, so every stream moves over on its own next
        call; the listener is told, as for a disconnect, so bars are backfilled over the seam.
        """
        runtime = self._runtime
        old, _ = self.entries[shard]
        entry = self.entries[shard] = (self._new_client(), time.monotonic())
        log.info("rotating websocket shard %d before MEXC's 24 h connection limit", shard)
        for symbol, index in self._shard_of.items():
            if index == shard:
                runtime.counters[(f"{symbol} ws", "rotation")] += 1
                for sym, channel in [k for k, n in self.active.items() if n and k[0] == symbol]:
                    runtime.disconnected(sym, channel, "rotation")
        self._retiring.add(old)
        grace = runtime.config.rotation_grace
        runtime.background.spawn(self._close_later(old, grace), f"close-rotated:{shard}:{id(old)}")
        return entry

    async def _close_later(self, client: MexcWsClient, delay: float) -> None:
        """Retire a rotated-out client: a watch still waiting on it gets a retryable error
        (``ccxt``'s own close would cancel it, killing the stream) and moves to the new one."""
        try:
            await asyncio.sleep(delay)
        finally:
            rotated = ConnectionRotated("connection rotated before MEXC's 24 h limit")
            ccxt_compat.reject_pending(client, rotated)
            self._retiring.discard(client)
            await client.close()

    def malformed_frames(self) -> int:
        """Frames dropped because they could not be parsed, over every connection so far."""
        return sum(sum(ws.malformed.values()) for ws, _ in self.entries.values())

    def trades_overflow(self) -> Counter[str]:
        """symbol → trades that left ccxt's bounded cache before the stream read them."""
        total: Counter[str] = Counter()
        for ws, _ in self.entries.values():
            total.update(ws.trades_overflow)
        return total

    def detach(self) -> list[MexcWsClient]:
        """Every client to close, rotated-out ones included; the adapter is closing."""
        clients = [ws for ws, _ in self.entries.values()] + list(self._retiring)
        self.entries.clear()
        return clients
