"""Contract websocket (``/edge``): MEXC's JSON protocol for perpetuals.

``{"method":"sub.ticker","param":{"symbol":"BTC_USDT"}}`` is answered with
``{"channel":"rs.sub.ticker","data":"success","ts":..}``; pushes look like
``{"symbol":..,"data":..,"channel":"push.ticker","ts":..}``. Tickers and funding rates are
pushed on their own timers (about once a second on MEXC); deals and depth follow the
market steps of the spot market the perpetual mirrors.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from . import frames
from .bars import aggregate
from .intervals import BY_WS_ID
from .market_model import SymbolEvents
from .ws_common import OutFrame, WsConnection, WsEndpoint

log = logging.getLogger(__name__)

KINDS = ("ticker", "deal", "depth", "funding.rate", "kline")


def push_key(kind: str, symbol_id: str, interval: str | None = None) -> str:
    """Subscriber key and recorder channel name, e.g. ``push.ticker@BTC_USDT``."""
    key = f"push.{kind}@{symbol_id}"
    return f"{key}@{interval}" if interval else key


class SwapEndpoint(WsEndpoint):
    path = "/edge"

    # -- client frames -----------------------------------------------------------------

    def on_text(self, conn: WsConnection, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            log.debug("ws %s sent non-JSON %r", conn.id, text[:80])
            return
        if not isinstance(msg, dict):
            return
        method = str(msg.get("method", ""))
        param = msg.get("param") if isinstance(msg.get("param"), dict) else {}
        now = self.ctx.clock.now_ms()
        if method == "ping":
            self.answer_ping(conn, frames.swap_pong(now))
            return
        action, _, kind = method.partition(".")
        if action not in ("sub", "unsub") or kind not in KINDS:
            conn.send(OutFrame(frames.swap_error(f"Not found method: {method}", now)))
            return
        symbol = str(param.get("symbol", ""))
        interval = str(param.get("interval", "Min1")) if kind == "kline" else None
        if symbol not in self.ctx.model.by_perp_id:  # live text; the docs say "Contract doesn't exist!"
            conn.send(OutFrame(frames.swap_error(frames.swap_no_contract(symbol), now)))
            return
        if interval and interval not in BY_WS_ID:  # e.g. Hour1: the websocket only knows Min60
            conn.send(OutFrame(frames.swap_error(frames.SWAP_BAD_INTERVAL, now)))
            return
        key = push_key(kind, symbol, interval)
        if action == "unsub":
            self.unsubscribe(conn, key)
            conn.send(OutFrame(frames.swap_response(method, "success", now)))
            return
        reason = self.ctx.faults.rejection(key)
        if reason is None and key not in conn.subs and len(conn.subs) >= self.ctx.options.max_subscriptions:
            reason = "Exceeded the maximum number of subscriptions!"
        if reason is not None:
            log.info("ws %s subscription %s refused: %s", conn.id, key, reason)
            self.ctx.recorder.refused(conn.id, key, reason)
            conn.send(OutFrame(frames.swap_error(reason, now)))
            return
        self.subscribe(conn, key, kind)
        conn.send(OutFrame(frames.swap_response(method, "success", now)))

    # -- pushes ------------------------------------------------------------------------

    def _push_data(
        self,
        kind: str,
        symbol_id: str,
        data: Any,
        now_ms: int,
        items: int = 1,
        interval: str | None = None,
        seq: int | None = None,
    ) -> None:
        key = push_key(kind, symbol_id, interval)
        self.push(
            key,
            lambda: OutFrame(
                frames.swap_push(f"push.{kind}", symbol_id, data, now_ms), key, kind, symbol_id, items, seq
            ),
        )

    def publish(self, events: list[SymbolEvents], now_ms: int) -> None:
        for ev in events:
            m = ev.market
            if not m.perp_trading:
                continue
            pid = m.perp_id
            if ev.trades and self.subscribers(push_key("deal", pid)):
                self._push_data("deal", pid, frames.swap_deals_data(m, ev.trades), now_ms, len(ev.trades))
            if ev.depth is not None and self.subscribers(push_key("depth", pid)):
                self._push_data(
                    "depth", pid, frames.swap_depth_data(m, ev.depth), now_ms, seq=ev.depth.to_version
                )
            for interval in BY_WS_ID.values() if ev.bar_minutes else ():
                if not self.subscribers(push_key("kline", pid, interval.ws_id)):
                    continue
                sm = self.ctx.model.by_perp_id[pid]
                bucket = interval.floor(ev.bar_minutes[-1])
                bars = aggregate(sm.bars.between(bucket, interval.next_open(bucket)), interval)
                if bars:
                    self._push_data(
                        "kline",
                        pid,
                        frames.swap_kline_data(m, interval, bars[0]),
                        now_ms,
                        interval=interval.ws_id,
                    )

    def publish_tickers(self, now_ms: int) -> None:
        """``push.ticker`` for every subscribed trading contract (on the ticker timer)."""
        for pid, sm in self.ctx.model.by_perp_id.items():
            if sm.market.perp_trading and self.subscribers(push_key("ticker", pid)):
                data = frames.swap_ticker_data(sm, sm.stats_24h(now_ms), now_ms)
                self._push_data("ticker", pid, data, now_ms)

    def publish_funding(self, now_ms: int) -> None:
        """``push.funding.rate`` for every subscribed trading contract (on the funding timer)."""
        for pid, sm in self.ctx.model.by_perp_id.items():
            if sm.market.perp_trading and self.subscribers(push_key("funding.rate", pid)):
                self._push_data("funding.rate", pid, frames.swap_funding_data(sm, now_ms), now_ms)

    # -- faults ------------------------------------------------------------------------

    def malformed_frame(self, kind: str, conn: WsConnection) -> str | bytes:
        now = self.ctx.clock.now_ms()
        if kind == "garbage":
            return bytes(range(256))[::7]
        if kind == "truncated":
            return frames.swap_push("push.ticker", "BTC_USDT", {"lastPrice": 1}, now)[:-9]
        if kind == "unknown_channel":
            return frames.swap_push("push.unknown", "BTC_USDT", {}, now)
        return '{"channel": "push.ticker", "data": {'
