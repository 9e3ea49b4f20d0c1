"""The doctor's websocket checks: frame shapes, timestamps, unknown fields, the refused channel.

Why: the library's fast paths read MEXC's protobuf pushes field by field and take ``sendTime``
as the md timestamp, and it relies on MEXC refusing legacy JSON channels with a parseable
text. Each check subscribes through the library's own websocket client, judges the frames as
received (recorded by :class:`~.doctor_record.WireLog`) and compares them with what the
library made of them.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from ccxt.protobuf.mexc.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper

from ..adapters.mexc_parsing import parse_book_ticker, parse_trades
from ..adapters.mexc_subscriptions import message_hash
from ..errors import SubscriptionRejected
from .doctor_model import CheckSession, Outcome, Probe, Status, worst
from .doctor_protobuf import KNOWN_NEW_FIELDS, spot_pushes, unknown_bytes, unknown_fields, wrapper_fields
from .doctor_record import Frame
from .doctor_rest import swap_fields

#: Frames of a channel collected before judging its shape ...
FRAMES_WANTED = 3
#: ... or fewer, if no more arrive this long after the first (book tickers push only on change).
FRAME_PATIENCE_S = 3.0
#: A push timestamp this far from MEXC's clock is in the wrong unit or clock: FAIL ...
TS_FAIL_MS = 60_000
#: ... this far: a slow path or a skewed server, worth a WARN.
TS_WARN_MS = 5_000
#: The refused channel: MEXC answers every legacy JSON spot channel with "Blocked!" since
#: 2025-08 (recorded: spot_ws_blocked_ack_json, spot_ws_blocked_msg_jkorf_issue35).
LEGACY_CHANNEL = "spot@public.deals.v3.api@{id}"


def _positive(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _lag_verdict(lags: list[float], what: str) -> tuple[Status, str]:
    """Median ``server time at arrival − stamp`` of a frame series, graded."""
    if not lags:
        return Status.FAIL, f"no {what}"
    worst_lag = max(lags, key=abs)
    text = f"{what} lag median {statistics.median(lags):.0f} ms, worst {worst_lag:.0f} ms"
    if abs(worst_lag) > TS_FAIL_MS:
        return Status.FAIL, text + " (not ms, or a clock far off)"
    if abs(worst_lag) > TS_WARN_MS:
        return Status.WARN, text
    return Status.PASS, text


def _symbol_of(session: CheckSession, market_id: str) -> str | None:
    found = (session.adapter.rest.markets_by_id or {}).get(market_id)
    return str(found[0]["symbol"]) if found else None


def _server_at(session: CheckSession, frame: Frame) -> float:
    """MEXC's clock (ms) when ``frame`` arrived, by the adapter's offset estimate."""
    return frame.t_ns / 1e6 + session.adapter.clock.offset_ms


async def _collect(
    session: CheckSession, probe: Probe, watch: Callable[[], Awaitable[Any]], channel: str, seen: int
) -> None:
    """Call ``watch`` until ``FRAMES_WANTED`` frames of ``channel`` arrived after index
    ``seen``, or ``FRAME_PATIENCE_S`` passed since the first (MEXC's book ticker is pushed
    only on change). The first frame is awaited under the check's own timeout."""
    probe.step = f"waiting for a frame on {channel}"
    first_at: float | None = None
    while True:
        got = len(spot_pushes(session.wire.frames[seen:], channel))
        if got >= FRAMES_WANTED:
            return
        if got and first_at is None:
            first_at = time.monotonic()
            probe.step = f"waiting for more frames on {channel}"
        if first_at is not None:
            left = FRAME_PATIENCE_S - (time.monotonic() - first_at)
            if left <= 0:
                return
            try:
                async with asyncio.timeout(left):
                    await watch()
            except TimeoutError:
                return
        else:
            await watch()


def _frames_outcome(
    pushes: list[tuple[Frame, PushDataV3ApiWrapper]],
    problems: list[str],
    lags: list[float],
    stamp: str,
    library: str,
) -> Outcome:
    if not pushes:
        return Status.FAIL, "no frames"
    fields = sorted({name for _, msg in pushes for name in wrapper_fields(msg)})
    lag_status, lag_text = _lag_verdict(lags, stamp)
    text = f"{len(pushes)} frames; {lag_text}; wrapper fields {', '.join(fields)}; {library}"
    if problems:
        shown = "; ".join(f"{p} ×{n}" for p, n in Counter(problems).most_common(4))
        return Status.FAIL, f"{shown} — {text}"
    return worst(lag_status), text


async def book_ticker(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    ws, market_id = session.ws, session.market_id(symbol)
    channel = f"spot@public.aggre.bookTicker.v3.api.pb@100ms@{market_id}"
    await _collect(session, probe, lambda: ws.watch_ticker(symbol), channel, 0)
    pushes = spot_pushes(session.wire.frames, channel)
    problems, lags, stamps, one_sided = [], [], {}, 0
    for frame, msg in pushes:
        body = msg.publicAggreBookTicker
        if msg.WhichOneof("body") != "publicAggreBookTicker":
            problems.append(f"body {msg.WhichOneof('body')}")
            continue
        bid, ask = _positive(body.bidPrice), _positive(body.askPrice)
        if msg.symbol != market_id:
            problems.append(f"symbol {msg.symbol!r}")
        if not body.bidPrice or not body.askPrice:
            # MEXC's docs show one-sided pushes (askPrice ""): the library drops them as
            # malformed, which is right for an empty side, so only worth a note
            one_sided += 1
            continue
        if bid is None or ask is None:
            problems.append(f"bid/ask {body.bidPrice!r}/{body.askPrice!r}")
        elif bid >= ask:
            problems.append(f"bid {bid:g} ≥ ask {ask:g}")
        if _positive(body.bidQuantity) is None or _positive(body.askQuantity) is None:
            problems.append(f"sizes {body.bidQuantity!r}/{body.askQuantity!r}")
        if not msg.HasField("sendTime"):
            problems.append("no sendTime (the library's timestamp)")
        else:
            lags.append(_server_at(session, frame) - msg.sendTime)
            stamps[msg.sendTime] = (bid, ask)
    # what the library made of them: the ticker its fast path (or ccxt) stored
    ticker = ws.tickers.get(symbol)
    library = "library ticker: none"
    if ticker is not None:
        record = parse_book_ticker(ticker, None, None)
        match = stamps.get(record["ts"]) == (record["bid"], record["ask"])
        library = f"library ticker ts/bid/ask {'=' if match else '≠'} a received frame's"
        if not match:
            problems.append("library ticker matches no frame")
    status, text = _frames_outcome(pushes, problems, lags, "sendTime", library)
    if one_sided:
        return worst(status, Status.WARN), f"{one_sided} one-sided (empty bid or ask); {text}"
    return status, text


async def deals(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    ws, market_id = session.ws, session.market_id(symbol)
    channel = f"spot@public.aggre.deals.v3.api.pb@100ms@{market_id}"
    latest: list[dict[str, Any]] = []

    async def watch() -> None:
        latest[:] = await ws.watch_trades(symbol)

    await _collect(session, probe, watch, channel, 0)
    pushes = spot_pushes(session.wire.frames, channel)
    problems, lags, trade_lags = [], [], []
    deals_seen: set[tuple[int, float]] = set()
    for frame, msg in pushes:
        if msg.WhichOneof("body") != "publicAggreDeals":
            problems.append(f"body {msg.WhichOneof('body')}")
            continue
        if msg.symbol != market_id:
            problems.append(f"symbol {msg.symbol!r}")
        if not msg.HasField("sendTime"):
            problems.append("no sendTime")
        else:
            lags.append(_server_at(session, frame) - msg.sendTime)
        if not msg.publicAggreDeals.deals:
            problems.append("empty deals list")
        for deal in msg.publicAggreDeals.deals:
            price, qty = _positive(deal.price), _positive(deal.quantity)
            if price is None or qty is None:
                problems.append(f"price/qty {deal.price!r}/{deal.quantity!r}")
            if deal.tradeType not in (1, 2):
                problems.append(f"tradeType {deal.tradeType}")
            trade_lags.append(_server_at(session, frame) - deal.time)
            deals_seen.add((deal.time, price or 0.0))
    library = "library trades: none"
    if latest:
        records = parse_trades(latest)
        known = all((r["ts"], r["price"]) in deals_seen for r in records)
        library = f"library trades ({len(records)}) {'=' if known else '≠'} received deals"
        if not known:
            problems.append("library trades match no deal")
    status, outcome = _frames_outcome(pushes, problems, lags, "sendTime", library)
    trade_status, trade_text = _lag_verdict(trade_lags, "deal time")
    return worst(status, trade_status), f"{outcome}; {trade_text}"


async def new_fields(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    """The ``protobuf unknown fields`` row, over every frame of ``symbol`` received so far."""
    market_id = session.market_id(symbol)
    pushes = [f.push for f in session.wire.frames if f.push is not None and f.push.symbol == market_id]
    if not pushes:
        return Status.SKIP, "no protobuf frames of this symbol were received"
    found: Counter[str] = Counter()
    for msg in pushes:
        paths = unknown_fields(msg)
        if paths is None:
            extra = sum(unknown_bytes(m) for m in pushes)
            status = Status.WARN if extra else Status.INFO
            return status, f"{extra} bytes of unknown fields in {len(pushes)} frames (no UnknownFieldSet)"
        found.update(paths)
    if not found:
        return Status.INFO, f"none in {len(pushes)} frames"
    named = ", ".join(
        f"{path} ×{n}" + (f" ({KNOWN_NEW_FIELDS[path]}, 2026-06)" if path in KNOWN_NEW_FIELDS else "")
        for path, n in found.most_common()
    )
    new = [p for p in found if p not in KNOWN_NEW_FIELDS]
    return (Status.WARN if new else Status.INFO), f"{named} in {len(pushes)} frames"


async def swap_push(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    adapter, ws = session.adapter, session.ws
    inst = await adapter.instrument(symbol)
    if inst.perp_symbol is None:
        return Status.SKIP, "no active USDT perpetual"
    probe.step = f"waiting for push.ticker of {inst.perp_symbol}"
    ticker = await ws.watch_ticker(inst.perp_symbol)
    return swap_fields(ticker, adapter.rest.markets[inst.perp_symbol].get("contractSize"))


async def refusal(session: CheckSession, probe: Probe, symbol: str) -> Outcome:
    """Subscribe ``symbol``'s legacy JSON channel and expect the library to see the refusal."""
    ws, timeout = session.ws, session.timeout
    market_id = session.market_id(symbol)
    channel = LEGACY_CHANNEL.format(id=market_id)
    url = ws.urls["api"]["ws"]["spot"]
    request = {"method": "SUBSCRIPTION", "params": [channel]}
    probe.step = f"waiting for MEXC's answer to SUBSCRIPTION {channel}"
    seen = len(session.wire.frames)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout * 0.9):
            await ws.watch(url, channel, request, channel)
    except SubscriptionRejected as exc:
        elapsed = time.monotonic() - started
        refused = next((r for r in ws.refusals if channel in r.channels), None)
        if refused is None:  # rejected without rejected_channels seeing it: not our path
            return Status.FAIL, f"SubscriptionRejected without a parsed refusal: {exc}"
        own = [
            message_hash(
                f"spot@public.aggre.{kind}.v3.api.pb@100ms@{market_id}", partial(_symbol_of, session), {}
            )
            for kind in ("bookTicker", "deals")
        ]
        raiser = "the library" if channel in refused.mapped_by_library else "doctor (no ccxt hash for it)"
        return Status.PASS, (
            f"refused after {elapsed:.2f} s, reason {refused.reason!r}; rejected_channels → "
            f"{refused.channels}; SubscriptionRejected raised by {raiser}; the library maps refusals "
            f"of its own channels to {own}"
        )
    except TimeoutError:
        acked = any(
            isinstance(f.data, str) and f'"msg":"{channel}"' in f.data.replace(" ", "")
            for f in session.wire.frames[seen:]
        )
        answer = "MEXC acknowledged it (subscription accepted)" if acked else "no answer at all"
        return Status.FAIL, f"no refusal within {timeout * 0.9:g} s: {answer}"
    return Status.FAIL, f"{channel}: the watch resolved with data; MEXC accepts the legacy channel again"
