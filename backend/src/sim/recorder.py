"""Accounting of everything the simulator actually wrote to the wire.

Tests use it to prove that nothing was lost between the exchange and the consumer: what a
client received can be compared with what was sent, per connection and channel, and per
symbol for trades and book-ticker updates. Frames are counted when the socket write
succeeded, not when they were queued.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ChannelRecord:
    """Per (connection, channel): frames written, items inside them, last seq and time."""

    frames: int = 0
    items: int = 0
    last_seq: int | None = None
    last_send_ms: int | None = None


@dataclass
class ConnectionRecord:
    """One websocket connection's life and traffic."""

    conn_id: int
    path: str
    opened_ms: int
    closed_ms: int | None = None
    close_reason: str | None = None
    pings: int = 0
    pongs: int = 0
    channels: dict[str, ChannelRecord] = field(default_factory=dict)


class Recorder:
    """Counters filled by the websocket sender tasks and the REST middleware.

    Fields:
      ``connections``: conn id -> ConnectionRecord (kept after close);
      ``trades_sent`` / ``book_tickers_sent`` / ``depth_updates_sent`` / ``klines_sent``:
      symbol (MEXC id, ``BTCUSDT`` or ``BTC_USDT``) -> count summed over connections;
      ``rest_requests``: path -> count; ``rest_log``: (path, query dict) in arrival order;
      ``refused_subscriptions``: (conn id, channel, reason) for every refused subscription.
    """

    def __init__(self) -> None:
        self.connections: dict[int, ConnectionRecord] = {}
        self.trades_sent: Counter[str] = Counter()
        self.book_tickers_sent: Counter[str] = Counter()
        self.depth_updates_sent: Counter[str] = Counter()
        self.klines_sent: Counter[str] = Counter()
        self.rest_requests: Counter[str] = Counter()
        self.rest_log: list[tuple[str, dict[str, str]]] = []
        self.refused_subscriptions: list[tuple[int, str, str]] = []

    def open(self, conn_id: int, path: str, now_ms: int) -> None:
        self.connections[conn_id] = ConnectionRecord(conn_id, path, now_ms)

    def close(self, conn_id: int, now_ms: int, reason: str) -> None:
        rec = self.connections.get(conn_id)
        if rec is not None and rec.closed_ms is None:
            rec.closed_ms, rec.close_reason = now_ms, reason

    def ping(self, conn_id: int, answered: bool) -> None:
        rec = self.connections[conn_id]
        rec.pings += 1
        rec.pongs += int(answered)

    def sent(
        self,
        conn_id: int,
        channel: str,
        *,
        kind: str,
        symbol: str | None,
        items: int,
        seq: int | None,
        now_ms: int,
    ) -> None:
        """Account one data frame that was written to connection ``conn_id``."""
        rec = self.connections[conn_id].channels.setdefault(channel, ChannelRecord())
        rec.frames += 1
        rec.items += items
        rec.last_seq = seq if seq is not None else rec.frames
        rec.last_send_ms = now_ms
        counter = {
            "deals": self.trades_sent,
            "bookTicker": self.book_tickers_sent,
            "depth": self.depth_updates_sent,
            "kline": self.klines_sent,
        }.get(kind)
        if counter is not None and symbol is not None:
            counter[symbol] += items

    def refused(self, conn_id: int, channel: str, reason: str) -> None:
        self.refused_subscriptions.append((conn_id, channel, reason))

    def rest(self, path: str, query: dict[str, str]) -> None:
        self.rest_requests[path] += 1
        self.rest_log.append((path, query))

    def channel(self, channel: str, conn_id: int | None = None) -> ChannelRecord:
        """Totals for one channel name, over all connections or one of them."""
        total = ChannelRecord()
        for rec in self.connections.values():
            if conn_id is not None and rec.conn_id != conn_id:
                continue
            ch = rec.channels.get(channel)
            if ch is None:
                continue
            total.frames += ch.frames
            total.items += ch.items
            if ch.last_send_ms is not None and (total.last_send_ms or 0) <= ch.last_send_ms:
                total.last_seq, total.last_send_ms = ch.last_seq, ch.last_send_ms
        return total

    def open_connections(self, path: str | None = None) -> list[ConnectionRecord]:
        return [
            r for r in self.connections.values() if r.closed_ms is None and (path is None or r.path == path)
        ]
