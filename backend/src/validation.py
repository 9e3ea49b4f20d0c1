"""What a market-data record must satisfy before it may change any state or reach an engine.

Why one place: every exchange message is untrusted input. A NaN bid, a trade at price 0, a
book stamped in the year 2100 or an open interest of ``"xyz"`` is not market data, and an
engine acts on every md it gets. The adapter parses a payload into a record, then asks this
module; a record that fails is dropped, counted under the returned reason and logged, and
never touches the symbol's state (so no high-water mark — book time, md time, bar clock — can
be moved by it).

Pure and synchronous: the exchange clock comes in as ``now_ms``. The checks on the per-push
path (book ticker, trades) are one chained comparison each in the common case; the reason is
worked out only for a record that fails.

The rules (the README's md section states what an engine may therefore rely on):

* prices finite and > 0; trade sizes finite and > 0; volumes finite and >= 0;
* a book ticker's bid strictly below its ask. A crossed (bid > ask) or locked (bid == ask)
  top of book cannot exist on a continuous matching engine — the orders would have traded —
  so it is dropped, not flagged: a flagged md would still carry a negative or zero spread to
  engines that size orders from it;
* funding finite and within ``±MAX_ABS_FUNDING`` per interval. Negative funding is ordinary
  (shorts pay longs) and is accepted; MEXC caps BTC_USDT at ±0.0018 (recorded contract
  detail ``maxFundingRate``) and no listed contract is near 5 %;
* open interest finite and >= 0;
* timestamps within the window around the exchange clock: at most ``MAX_FUTURE_MS`` ahead
  (a record from the future would freeze the book's "newest" mark and the bar clock) and at
  most ``MAX_AGE_MS`` behind (five-minute-old data is not a quote to trade on);
* a kline row: ``0 < low <= open, close <= high`` (all finite), volume finite and >= 0; a
  closed bar from the bus also on the minute grid, over by the receiver's clock, and, when
  synthetic, one price and no volume (:func:`check_bus_bar`);
* a trade already seen on the stream (same time, price, size and side) is a duplicate:
  counted once (see :class:`TradeGate`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from math import inf, isfinite
from typing import Any

from .market_data import MINUTE_MS

#: A record stamped further ahead of the exchange clock than this is rejected as "future".
#: The clock estimate is off by about half a round trip; 5 s leaves room for a slow one.
MAX_FUTURE_MS = 5_000
#: A stream record older than this is rejected as "past".
MAX_AGE_MS = 5 * 60_000
#: Largest funding rate magnitude accepted (per funding interval).
MAX_ABS_FUNDING = 0.05

# Drop reasons (feed health, Prometheus ``reason`` label).
NOT_NUMBER = "not_number"
BAD_PRICE = "bad_price"
BAD_SIZE = "bad_size"
CROSSED = "crossed_book"
FUTURE = "future_ts"
PAST = "past_ts"
BAD_FUNDING = "bad_funding"
BAD_OI = "bad_open_interest"
BAD_BAR = "bad_bar"
DUPLICATE = "duplicate"


def _positive(value: Any) -> bool:
    """Finite and > 0; False for None, strings, NaN and infinities (never raises)."""
    try:
        return 0.0 < value < inf
    except TypeError:
        return False


def _non_negative(value: Any) -> bool:
    try:
        return 0.0 <= value < inf
    except TypeError:
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_ts(ts: Any, now_ms: int) -> str | None:
    """None when ``ts`` (ms) lies in the window around ``now_ms``, else the reason."""
    if not _is_number(ts) or not isfinite(ts):
        return NOT_NUMBER
    if ts > now_ms + MAX_FUTURE_MS:
        return FUTURE
    if ts < now_ms - MAX_AGE_MS:
        return PAST
    return None


def check_book(rec: Mapping[str, Any], now_ms: int) -> str | None:
    """A book-ticker record ``{ts, bid, ask, ...}``: None when valid, else the drop reason."""
    bid, ask, ts = rec["bid"], rec["ask"], rec["ts"]
    try:
        if 0.0 < bid < ask < inf and now_ms - MAX_AGE_MS <= ts <= now_ms + MAX_FUTURE_MS:
            return None
    except TypeError:
        return NOT_NUMBER
    if not (_positive(bid) and _positive(ask)):
        return BAD_PRICE
    if bid >= ask:
        return CROSSED
    return check_ts(ts, now_ms)


def check_trade(rec: Mapping[str, Any], now_ms: int) -> str | None:
    """A trade record ``{ts, price, amount, side}``: None when valid, else the drop reason."""
    price, amount, ts = rec["price"], rec["amount"], rec["ts"]
    try:
        if 0.0 < price < inf and 0.0 < amount < inf and now_ms - MAX_AGE_MS <= ts <= now_ms + MAX_FUTURE_MS:
            return None
    except TypeError:
        return NOT_NUMBER
    if not _positive(price):
        return BAD_PRICE
    if not _positive(amount):
        return BAD_SIZE
    return check_ts(ts, now_ms)


def check_funding(funding: Any) -> str | None:
    """A funding rate (None: not carried, fine)."""
    if funding is None:
        return None
    if not _is_number(funding) or not -MAX_ABS_FUNDING <= funding <= MAX_ABS_FUNDING:
        return BAD_FUNDING
    return None


def check_swap(rec: Mapping[str, Any], now_ms: int | None) -> str | None:
    """A perpetual record ``{ts, funding, oi, oi_contracts, mark, index, last}``.

    ``now_ms`` None skips the time window (a REST snapshot whose time is the server's own
    ticker cache time, not a push). Absent figures (None) are fine: they keep the old value.
    """
    if now_ms is not None and (reason := check_ts(rec.get("ts"), now_ms)) is not None:
        return reason
    if (reason := check_funding(rec.get("funding"))) is not None:
        return reason
    for key in ("oi", "oi_contracts"):
        value = rec.get(key)
        if value is not None and not _non_negative(value):
            return BAD_OI
    for key in ("mark", "index", "last"):
        value = rec.get(key)
        if value is not None and not _positive(value):
            return BAD_PRICE
    return None


def check_bar(row: Sequence[Any]) -> str | None:
    """An OHLCV row ``[open ms, o, h, l, c, v]`` (ccxt's shape).

    Runs for every kline row of a bootstrap (millions at 2000 symbols): the usual row, an int
    and five floats, skips the generic number checks."""
    try:
        ts, o, h, low, c, v = row[:6]
    except ValueError:
        return NOT_NUMBER
    usual = type(ts) is int and type(o) is float and type(h) is float and type(low) is float
    if not (usual and type(c) is float and type(v) is float):
        if not all(_is_number(x) for x in (ts, o, h, low, c, v)):
            return NOT_NUMBER
    if not (isfinite(o) and isfinite(h) and isfinite(low) and isfinite(c) and isfinite(v)):
        return BAD_BAR
    if not (0.0 < low <= min(o, c) and max(o, c) <= h and v >= 0.0):
        return BAD_BAR
    return None


def sane_or_none(value: Any, *, allow_zero: bool = False) -> float | None:
    """``value`` when it is a usable price (or, ``allow_zero``, a volume), else None: for
    figures a record may lack (REST 24 h stats), where dropping the field beats dropping all."""
    ok = _non_negative(value) if allow_zero else _positive(value)
    return value if ok and _is_number(value) else None


class TradeGate:
    """What of a trade batch may pass: possible trades (:func:`check_trade`'s rules) not seen
    before on the stream — in one pass, since it runs for every trade push.

    Seen before means the same (time, price, size, side). MEXC pushes every trade once; a key
    seen again is a repeated frame (a replaying proxy, a duplicated delivery), and folding it
    in again would add its volume twice. The key has to do without a trade id: MEXC's deals
    carry ``tradeId`` since 2026-06, but ccxt's bundled protobuf classes predate it and drop
    it. The price of that: two genuine fills equal in millisecond, price, size and side —
    rare, and indistinguishable from a duplicate without the id — count once. Keys are not
    matched per frame because ccxt hands the stream whatever pushes arrived since its last
    call as one batch.

    Bounded: the last ``max_keys`` admitted trades are remembered (a repeated frame follows
    its original within a few pushes), as 64-bit hashes in a ring: ~12 KB a symbol.

    Cheap because trades come in time order: a trade later than every trade admitted so far
    cannot have been seen, so it is only remembered; one in the newest millisecond (the
    fills of one order share it) is looked up in that millisecond's keys. Only a trade older
    than the newest — a duplicate or a late delivery — is searched for in the ring, at most
    ``max_keys`` comparisons in C. A hash set of every key with a FIFO beside it touched three
    random places in memory per trade and grew to ~45 KB a symbol with churn: at a thousand
    symbols, cache misses on the hottest path (docs/BENCHMARKS.md, "The duplicate check in time
    order").
    """

    __slots__ = ("_at_newest", "_newest", "_recent", "max_keys")

    def __init__(self, max_keys: int = 256) -> None:
        self.max_keys = max_keys
        self._recent: deque[int] = deque(maxlen=max_keys)  # keys, in the order admitted
        self._newest: float = -inf  # the latest trade time admitted
        self._at_newest: set[int] = set()  # keys admitted at that time (at most max_keys)

    def admit(
        self, trades: Sequence[Mapping[str, Any]], now_ms: int
    ) -> tuple[Sequence[Mapping[str, Any]], list[tuple[str, Mapping[str, Any]]]]:
        """Split a batch into (trades to fold in, [(drop reason, trade), ...]); remembers the
        admitted ones."""
        recent, at_newest, newest, cap = self._recent, self._at_newest, self._newest, self.max_keys
        lo, hi = now_ms - MAX_AGE_MS, now_ms + MAX_FUTURE_MS
        admitted: list[Mapping[str, Any]] | None = None  # None while every trade so far passed
        dropped: list[tuple[str, Mapping[str, Any]]] = []
        for i, t in enumerate(trades):
            price, amount, ts = t["price"], t["amount"], t["ts"]
            try:
                possible = 0.0 < price < inf and 0.0 < amount < inf and lo <= ts <= hi
            except TypeError:
                possible = False
            if possible:
                key = hash((ts, price, amount, t["side"]))
                if ts > newest:
                    newest = ts
                    at_newest.clear()
                    seen = False
                elif ts == newest:
                    seen = key in at_newest or (len(at_newest) >= cap and key in recent)
                else:
                    seen = key in recent
                if not seen:
                    if ts == newest and len(at_newest) < cap:
                        at_newest.add(key)
                    recent.append(key)
                    if admitted is not None:
                        admitted.append(t)
                    continue
            if admitted is None:
                admitted = list(trades[:i])
            dropped.append((DUPLICATE if possible else check_trade(t, now_ms) or NOT_NUMBER, t))
        self._newest = newest
        return (trades if admitted is None else admitted), dropped  # the batch itself, if whole

    def __len__(self) -> int:
        """Trades remembered (at most ``max_keys``)."""
        return len(self._recent)


def clean_stats(stats: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """REST 24 h stats ``{ts, last, volume}`` with an impossible ``last`` (price) or
    ``volume`` replaced by None, and the reason when one was (else None)."""
    last, volume = sane_or_none(stats.get("last")), sane_or_none(stats.get("volume"), allow_zero=True)
    reason = None
    if last is None and stats.get("last") is not None:
        reason = BAD_PRICE
    elif volume is None and stats.get("volume") is not None:
        reason = BAD_SIZE
    return {**stats, "last": last, "volume": volume}, reason


#: md dropped by an engine host because its values are impossible (the reasons above, plus):
BAD_MD = "bad_md"


def check_md(md: Mapping[str, Any], now_ms: float) -> str | None:
    """An md dict that arrived from outside this process (the bus): None when it could have
    been built by a feeder that applied the rules above, else the drop reason.

    Why again on the receiving side: the feeder validated its records, but a message on the
    network may not come from a feeder. ``now_ms`` is the receiver's clock, not the exchange's,
    so only the future bound applies (``MAX_FUTURE_MS``, room for clock skew between hosts); an
    old ``ts`` is legitimate (the last md of a symbol nobody streams, marked ``stale``). Absent
    figures (None: no trade or no book yet) are fine.
    """
    price, bid, ask, ts = md.get("price"), md.get("bid"), md.get("ask"), md.get("ts")
    funding, oi = md.get("funding"), md.get("oi")
    try:
        if (
            type(price) is float  # the common md: every figure present, a float, in range
            and type(bid) is float
            and type(ask) is float
            and 0.0 < price < inf
            and 0.0 < bid < ask < inf
            and 0.0 < md["spread"] < inf
            and 0.0 <= md["vol"] < inf
            and ts <= now_ms + MAX_FUTURE_MS
            and (funding is None or (type(funding) is float and abs(funding) <= MAX_ABS_FUNDING))
            and (oi is None or (type(oi) is float and 0.0 <= oi < inf))
            and type(md["symbol"]) is str
            and isinstance(md.get("texts", ()), list | tuple)
        ):
            return None
    except (TypeError, KeyError):
        pass
    return _md_reason(md, now_ms)


def _md_reason(md: Mapping[str, Any], now_ms: float) -> str | None:
    """The slow path of :func:`check_md`: which rule failed, if any."""
    if not isinstance(md.get("symbol"), str) or not isinstance(md.get("texts", ()), list | tuple):
        return BAD_MD
    price, bid, ask, ts = md.get("price"), md.get("bid"), md.get("ask"), md.get("ts")
    for value in (price, bid, ask):
        if value is not None and not (_is_number(value) and _positive(value)):
            return BAD_PRICE
    if bid is not None and ask is not None and bid >= ask:
        return CROSSED
    spread = md.get("spread")
    if spread is not None and not (_is_number(spread) and _positive(spread)):
        return BAD_PRICE
    vol = md.get("vol")
    if vol is not None and not (_is_number(vol) and _non_negative(vol)):
        return BAD_SIZE
    if ts is not None:
        if not _is_number(ts) or not isfinite(ts):
            return NOT_NUMBER
        if ts > now_ms + MAX_FUTURE_MS:
            return FUTURE
    if (reason := check_funding(md.get("funding"))) is not None:
        return reason
    oi = md.get("oi")
    if oi is not None and not (_is_number(oi) and _non_negative(oi)):
        return BAD_OI
    return None


def check_bus_bar(bar: Mapping[str, Any], now_ms: float) -> str | None:
    """A closed bar (:class:`~backend.src.market_data.Bar`) that arrived from outside this
    process (the bus): None when a feeder could have built it, else the drop reason.

    Why more than :func:`check_bar`: an engine merges a bar into its history by ``ts`` and acts
    on it as closed, so a bar off the minute grid, one whose minute has not ended yet (by this
    host's clock, with ``MAX_FUTURE_MS`` for skew), or a "synthetic" bar that traded would
    corrupt that history; flags that are not booleans are not a feeder's either.
    """
    try:
        ts, synthetic, revision = bar["ts"], bar["synthetic"], bar["revision"]
        row = (ts, bar["open"], bar["high"], bar["low"], bar["close"], bar["volume"])
        symbol_ok = type(bar["symbol"]) is str
    except (KeyError, TypeError):
        return BAD_BAR
    if not symbol_ok or type(synthetic) is not bool or type(revision) is not bool:
        return BAD_BAR
    if (reason := check_bar(row)) is not None:
        return reason
    if type(ts) is not int or ts % MINUTE_MS:
        return BAD_BAR
    if ts + MINUTE_MS > now_ms + MAX_FUTURE_MS:
        return FUTURE
    if synthetic and not (row[1] == row[2] == row[3] == row[4] and row[5] == 0.0):
        return BAD_BAR
    return None
