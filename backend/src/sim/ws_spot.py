"""Spot websocket (``/ws``): MEXC's JSON control protocol with protobuf pushes.

Clients send ``{"method":"SUBSCRIPTION","params":[channel,...]}``; each accepted request
is acknowledged with ``{"id":0,"code":0,"msg":"<channels>"}``; failures get MEXC's
"Not Subscribed successfully! [...].  Reason： ..." text. Data arrive as binary
``PushDataV3ApiWrapper`` frames, one per channel and push interval.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass

import orjson

from . import frames
from .bars import aggregate
from .intervals import BY_WS_ID, Interval
from .market_model import SymbolEvents, SymbolModel
from .ws_common import OutFrame, WsConnection, WsEndpoint

log = logging.getLogger(__name__)

FREQUENCIES = ("100ms", "10ms")
_CHANNEL_RE = re.compile(
    r"^spot@public\.(?:aggre\.(?P<kind>deals|bookTicker|depth)\.v3\.api\.pb@(?:100ms|10ms)"
    r"@(?P<sym>[A-Z0-9]+)|kline\.v3\.api\.pb@(?P<ksym>[A-Z0-9]+)@(?P<interval>\w+))$"
)
_EVENTS = {"deals": frames.DEALS_EVENT, "bookTicker": frames.BOOK_TICKER_EVENT, "depth": frames.DEPTH_EVENT}
BLOCKED = "Blocked! "
LIMIT_REASON = "Exceeded the maximum number of subscriptions per connection! "


@dataclass(frozen=True)
class SpotSub:
    kind: str  # deals | bookTicker | depth | kline
    symbol_id: str
    interval: Interval | None = None


def channel_name(kind: str, symbol_id: str, suffix: str = "100ms") -> str:
    """Channel string as ccxt sends it (``suffix`` is the frequency, or the kline interval)."""
    if kind == "kline":
        return f"{frames.KLINE_EVENT}@{symbol_id}@{suffix}"
    return f"{_EVENTS[kind]}@{suffix}@{symbol_id}"


class SpotEndpoint(WsEndpoint):
    path = "/ws"

    # -- client frames -----------------------------------------------------------------

    def on_text(self, conn: WsConnection, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            log.debug("ws %s sent non-JSON %r", conn.id, text[:80])
            return
        if not isinstance(msg, dict):
            return
        method = str(msg.get("method", "")).upper()
        params = msg.get("params") or []
        if method == "PING":
            self.answer_ping(conn, frames.SPOT_PONG)
        elif method == "SUBSCRIPTION" and isinstance(params, list):
            self._subscribe(conn, [str(p) for p in params])
        elif method == "UNSUBSCRIPTION" and isinstance(params, list):
            done = [str(p) for p in params if self.unsubscribe(conn, str(p))]
            conn.send(OutFrame(frames.spot_ack(",".join(done))))
        else:
            log.debug("ws %s sent unknown method %r", conn.id, method)

    def _subscribe(self, conn: WsConnection, channels: list[str]) -> None:
        accepted: list[str] = []
        failed: dict[str, list[str]] = {}
        for channel in channels:
            reason, sub = self._check(conn, channel)
            if reason is not None:
                failed.setdefault(reason, []).append(channel)
                continue
            self.subscribe(conn, channel, sub)
            accepted.append(channel)
        if accepted:
            conn.send(OutFrame(frames.spot_ack(",".join(accepted))))
        for reason, chans in failed.items():
            log.info("ws %s subscription refused (%s): %s", conn.id, reason.strip(), chans)
            for channel in chans:
                self.ctx.recorder.refused(conn.id, channel, reason)
            conn.send(OutFrame(frames.spot_sub_failed(chans, reason)))

    def _check(self, conn: WsConnection, channel: str) -> tuple[str | None, SpotSub | None]:
        rejected = self.ctx.faults.rejection(channel)
        if rejected is not None:
            return rejected, None
        match = _CHANNEL_RE.match(channel)
        if match is None:
            return BLOCKED, None
        if match["kind"]:
            sub = SpotSub(match["kind"], match["sym"])
        else:
            interval = BY_WS_ID.get(match["interval"])
            if interval is None:
                return BLOCKED, None
            sub = SpotSub("kline", match["ksym"], interval)
        symbol = self.ctx.model.by_spot_id.get(sub.symbol_id)
        if symbol is None or not symbol.market.active:
            return BLOCKED, None
        if channel not in conn.subs and len(conn.subs) >= self.ctx.options.max_subscriptions:
            return LIMIT_REASON, None
        return None, sub

    # -- pushes ------------------------------------------------------------------------

    def publish(self, events: list[SymbolEvents], now_ms: int) -> None:
        for ev in events:
            m = ev.market
            sid = m.spot_id
            # 2026-06 fields: the book version a ticker reflects, and when the order that last
            # changed the book was placed (the newest trade of this push, else just now)
            version = (
                self.ctx.model.by_spot_id[sid].depth_version if sid in self.ctx.model.by_spot_id else None
            )
            last_order_ms = ev.trades[-1].ts if ev.trades else now_ms - 1
            for freq in FREQUENCIES:
                if ev.trades:
                    ch = channel_name("deals", sid, freq)
                    self.push(
                        ch,
                        lambda ch=ch, ev=ev: OutFrame(
                            frames.pb_deals(ch, ev.market, ev.trades, now_ms),
                            ch,
                            "deals",
                            ev.market.spot_id,
                            len(ev.trades),
                        ),
                    )
                if ev.book_ticker is not None:
                    ch = channel_name("bookTicker", sid, freq)
                    self.push(
                        ch,
                        lambda ch=ch, ev=ev, version=version, last_order_ms=last_order_ms: OutFrame(
                            frames.pb_book_ticker(
                                ch, ev.market, ev.book_ticker, now_ms, version, last_order_ms
                            ),
                            ch,
                            "bookTicker",
                            ev.market.spot_id,
                            1,
                        ),
                    )
                if ev.depth is not None:
                    ch = channel_name("depth", sid, freq)
                    self.push(
                        ch,
                        lambda ch=ch, ev=ev, last_order_ms=last_order_ms: OutFrame(
                            frames.pb_depth(ch, ev.market, ev.depth, now_ms, last_order_ms),
                            ch,
                            "depth",
                            ev.market.spot_id,
                            1,
                            ev.depth.to_version,
                        ),
                    )
            if ev.bar_minutes:
                self._publish_klines(self.ctx.model.by_spot_id[sid], ev.bar_minutes, now_ms)

    def _publish_klines(self, sm: SymbolModel, minutes: list[int], now_ms: int) -> None:
        for interval in BY_WS_ID.values():
            ch = channel_name("kline", sm.market.spot_id, interval.ws_id)
            if not self.subscribers(ch):
                continue
            for bucket in dict.fromkeys(interval.floor(m) for m in minutes):
                bars = aggregate(sm.bars.between(bucket, interval.next_open(bucket)), interval)
                if not bars:
                    continue
                self.push(
                    ch,
                    lambda ch=ch, bar=bars[0], interval=interval: OutFrame(
                        frames.pb_kline(ch, sm.market, interval, bar, now_ms),
                        ch,
                        "kline",
                        sm.market.spot_id,
                        1,
                    ),
                )

    # -- faults ------------------------------------------------------------------------

    def malformed_frame(self, kind: str, conn: WsConnection) -> str | bytes:
        market = self.ctx.model.markets[0]
        now = self.ctx.clock.now_ms()
        if kind == "garbage":
            return random.Random(f"garbage:{conn.id}").randbytes(64)
        if kind == "truncated":
            sm = self.ctx.model.symbols[market.symbol]
            trade = sm.recent[-1] if sm.recent else None
            ch = channel_name("deals", market.spot_id)
            full = frames.pb_deals(ch, market, [trade] if trade else [], now)
            return full[: len(full) // 2]
        if kind == "unknown_channel":
            return frames.pb_unknown_channel(market, now)
        return '{"channel": "spot@public.aggre.deals.v3.api.pb@100ms@' + market.spot_id
