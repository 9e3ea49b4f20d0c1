"""Differential tests: ``MexcWsClient``'s protobuf fast path against ccxt's own handlers.

The same frames go to ccxt's own handling and to ``MexcWsClient(fast_path=True)``. The fast
path builds only the fields the adapter reads (``fast.TICKER_FIELDS``/``fast.TRADE_FIELDS``),
so after every frame these are compared, bit for bit, with ccxt's: bid/ask/timestamp of every
stored ticker, symbol/timestamp/side/price/amount of every cached trade, whole candles, every
pending future's resolution, ccxt's ``newUpdates`` counts and whether ccxt raised. A second
harness drives ``MexcWsClient.watch_trades``/``watch_ticker`` (ccxt's own ``watch_*`` code,
overflow accounting included) and the adapter's ``parse_trades``/``parse_book_ticker`` on both
paths and compares the records. If a ccxt upgrade breaks this, set
``FAST_PATH_DEFAULT = False`` until the fast path is fixed.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import ccxt
import ccxt.pro as ccxt_pro
from aiohttp import WSMessage, WSMsgType
from ccxt.protobuf.mexc.PushDataV3ApiWrapper_pb2 import PushDataV3ApiWrapper
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backend.src.adapters import mexc_fast_contract as fast_contract
from backend.src.adapters import mexc_fast_path as fast
from backend.src.adapters.mexc_parsing import parse_book_ticker, parse_trades
from backend.src.adapters.mexc_ws_client import MexcWsClient
from backend.src.errors import MalformedPayload
from backend.src.sim import frames
from backend.src.sim.intervals import BY_WS_ID
from backend.src.sim.market_model import Bar, BookTicker, DepthDelta, SimMarket, Trade

from .recorded import _market

MARKETS = [
    _market("BTC/USDT", "BTCUSDT", "spot"),
    _market("ETH/USDT", "ETHUSDT", "spot"),
    _market("DOGE/USDT", "DOGEUSDT", "spot"),
    _market("BTC/USDT:USDT", "BTC_USDT", "swap", contractSize=0.0001),
    # ccxt cannot tell these two apart by id (it raises); the fast path must leave them to ccxt
    _market("DUP/USDT", "DUPUSDT", "spot"),
    _market("DUP/USDT:USDT", "DUPUSDT", "swap", contractSize=1.0),
    # a spot market with a contract size: ccxt multiplies the trade cost by it
    _market("CSZ/USDT", "CSZUSDT", "spot", contractSize=0.5),
]
SPOT_IDS = ["BTCUSDT", "ETHUSDT", "DOGEUSDT"]
ODD_IDS = ["NOPEUSDT", "", "BTC_USDT", "DUPUSDT", "CSZUSDT", "BTC/USDT"]
SYMBOLS = sorted({m["symbol"] for m in MARKETS} | set(ODD_IDS) - {""})
TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "4h", "8h", "1d", "1w", "1M"]
INTERVALS = ["Min1", "Min5", "Min15", "Min30", "Min60", "Hour4", "Hour8", "Day1", "Week1", "Month1"]
CHANNEL = {
    "bookTicker": "spot@public.aggre.bookTicker.v3.api.pb@100ms@{}",
    "deals": "spot@public.aggre.deals.v3.api.pb@100ms@{}",
    "kline": "spot@public.kline.v3.api.pb@{}@{}",
    "depth": "spot@public.aggre.depth.v3.api.pb@100ms@{}",
}
HASHES = [f"{kind}:{s}" for s in SYMBOLS for kind in ("ticker", "trades", "bidask")] + [
    f"candles:{s}:{tf}" for s in SYMBOLS for tf in TIMEFRAMES
]


#: no certificate loading and no 250 ms sleep in ``close()``: nothing here touches the network
QUIET: dict[str, Any] = {"verify": False, "timeout_on_exit": 0}


def new_ws(config: dict | None = None, **kwargs: Any) -> MexcWsClient:
    return MexcWsClient({**QUIET, **(config or {})}, **kwargs)


# -- frames --------------------------------------------------------------------------------


@st.composite
def decimals(draw: st.DrawFn) -> str:
    """A MEXC-style decimal string: 0–18 decimals, trailing zeros, tiny to huge magnitudes."""
    mantissa = draw(st.one_of(st.integers(0, 10**6), st.integers(0, 10**24)))
    scale = draw(st.integers(0, 18))
    zeros = draw(st.integers(0, 4))
    return frames.fmt_scaled(mantissa * 10**zeros, scale + zeros)


#: strings MEXC should never send but ccxt must treat its own way (None, raise, parse...)
ODD_NUMBERS = [
    "",
    "0",
    "0.000",
    "00012.50",
    ".5",
    "5.",
    "-3.25",
    "1e-7",
    "2.5E+3",
    " 7.5",
    "1_000",
    "abc",
    "inf",
    "nan",
    "1" + "0" * 400,
]
TIMESTAMPS = st.one_of(
    st.integers(1_500_000_000_000, 2_100_000_000_000),
    st.sampled_from([0, 1, 999, -1, 2**53 + 1, 8_640_000_000_000_000, 8_640_000_000_000_001, 2**63 - 1]),
)


def wrapper(channel: str, symbol: str | None, send_ms: int | None) -> PushDataV3ApiWrapper:
    msg = PushDataV3ApiWrapper(channel=channel)
    if symbol is not None:
        msg.symbol = symbol
    if send_ms is not None:
        msg.sendTime = msg.createTime = send_ms
    return msg


def fill(kind: str, msg: PushDataV3ApiWrapper, draw: st.DrawFn, num: st.SearchStrategy[str]) -> None:
    """Set the body of ``kind`` on ``msg`` (a channel's body may deliberately be another's)."""
    if kind == "bookTicker":
        body = msg.publicAggreBookTicker
        body.SetInParent()
        for name in ("bidPrice", "bidQuantity", "askPrice", "askQuantity"):
            setattr(body, name, draw(num))
    elif kind == "deals":
        body = msg.publicAggreDeals
        body.SetInParent()
        body.eventType = "spot@public.aggre.deals.v3.api.pb@100ms"
        for _ in range(draw(st.integers(1, 6))):
            side = draw(st.sampled_from([1, 2, 1, 2, 0, 3]))
            body.deals.add(price=draw(num), quantity=draw(num), tradeType=side, time=draw(TIMESTAMPS))
    elif kind == "kline":
        body = msg.publicSpotKline
        body.interval = draw(st.sampled_from([*INTERVALS, "", "1m", "Bogus"]))
        body.windowStart = draw(TIMESTAMPS) // 1000
        for name in ("openingPrice", "closingPrice", "highestPrice", "lowestPrice", "volume", "amount"):
            setattr(body, name, draw(num))
    else:
        body = msg.publicAggreDepths
        body.fromVersion, body.toVersion = "10", "11"
        body.bids.add(price=draw(num), quantity=draw(num))


@st.composite
def good_frames(draw: st.DrawFn) -> bytes:
    """Frames as MEXC sends them: known spot symbol, matching body, plain decimal strings."""
    kind = draw(st.sampled_from(["bookTicker", "deals", "deals", "kline"]))
    symbol = draw(st.sampled_from(SPOT_IDS))
    channel = CHANNEL[kind].format(symbol, "Min1")
    msg = wrapper(channel, symbol, draw(st.integers(1_500_000_000_000, 2_100_000_000_000)))
    fill(kind, msg, draw, decimals())
    if kind == "kline":
        msg.publicSpotKline.interval = draw(st.sampled_from(INTERVALS))
    return msg.SerializeToString()


@st.composite
def odd_frames(draw: st.DrawFn) -> bytes:
    """Anything goes: odd numbers and ids, missing fields, a body that is not the channel's."""
    kind = draw(st.sampled_from(["bookTicker", "deals", "kline", "depth"]))
    body_kind = draw(st.sampled_from([kind, kind, kind, "bookTicker", "deals", "kline"]))
    symbol = draw(st.sampled_from([*SPOT_IDS, *ODD_IDS, None]))
    proper = CHANNEL[kind].format(symbol or "X", "Min1")
    channel = draw(st.sampled_from([proper, proper, proper, proper, "", "spot", "spot@@x"]))
    msg = wrapper(channel, symbol, draw(st.none() | TIMESTAMPS))
    num = st.one_of(decimals(), decimals(), decimals(), st.sampled_from(ODD_NUMBERS))
    if draw(st.integers(0, 9)):
        fill(body_kind, msg, draw, num)
    elif body_kind == "deals":
        msg.publicAggreDeals.eventType = "empty deals list"
    return msg.SerializeToString()


# -- the differential harness ----------------------------------------------------------


def canon(value: Any) -> Any:
    """Comparable form: floats by repr (bit-exact, NaN equal to NaN), ccxt caches as lists."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple):  # ArrayCache is a list subclass
        return [canon(v) for v in value]
    return value


def ticker_fields(ticker: dict) -> dict:
    """The fields of a ticker the fast paths promise (KeyError if one is missing): a contract
    ticker's (``symbol`` of a swap market, ``BASE/QUOTE:SETTLE``) or a spot book ticker's."""
    fields = fast_contract.SWAP_TICKER_FIELDS if ":" in str(ticker["symbol"]) else fast.TICKER_FIELDS
    return canon({k: ticker[k] for k in fields})


def trade_fields(trades: Iterable[dict]) -> list[dict]:
    """The fields of each trade the fast path promises (KeyError if one is missing)."""
    return [canon({k: t[k] for k in fast.TRADE_FIELDS}) for t in trades]


def promised(hash_: str, value: Any) -> Any:
    """What of a resolved ``value`` the fast path must equal ccxt on, by message hash."""
    if hash_.startswith("ticker:"):
        return ticker_fields(value)
    if hash_.startswith("trades:"):
        return trade_fields(value)
    return canon(value)  # candles: whole, the fast path builds exactly ccxt's candle


def outcome(ex: Any, client: Any, frame: bytes | str | dict) -> str | None:
    """What handling ``frame`` raised, if anything; a decoded JSON frame is copied, so neither
    client can see what the other did to it."""
    try:
        ex.handle_message(client, copy.deepcopy(frame) if isinstance(frame, dict) else frame)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def snapshot(ex: Any) -> Any:
    """Stored state, narrowed to the promised fields (ohlcvs and bidsasks whole)."""
    return {
        "tickers": {s: ticker_fields(t) for s, t in ex.tickers.items()},
        "trades": {s: trade_fields(c) for s, c in ex.trades.items()},
        "ohlcvs": canon(ex.ohlcvs),
        "bidsasks": canon(ex.bidsasks),
    }


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro_fn())


async def differential(
    frame_list: Iterable[bytes | str | dict],
    config: dict | None = None,
    markets: list[dict] = MARKETS,
    hashes: list[str] = HASHES,
) -> MexcWsClient:
    """Feed ``frame_list`` to ccxt and to the fast path; assert the same effects after each.

    Before each frame a future is pending on every message hash in ``hashes`` (as if every
    ``watch_*`` were waiting), so resolutions are compared too.
    """
    config = {**QUIET, **(config or {})}
    ref, sut = ccxt_pro.mexc(config), MexcWsClient(config, fast_path=True)
    try:
        clients = []
        for ex in (ref, sut):
            ex.set_markets(markets)
            clients.append(ex.client(ex.urls["api"]["ws"]["spot"]))
        for frame in frame_list:
            futures = [{h: c.future(h) for h in hashes} for c in clients]
            results = [outcome(ex, c, frame) for ex, c in zip((ref, sut), clients, strict=True)]
            assert results[0] == results[1]
            for h in hashes:
                done = [f[h].done() for f in futures]
                assert done[0] == done[1], h
                if done[0]:
                    assert promised(h, futures[0][h].result()) == promised(h, futures[1][h].result()), h
            assert snapshot(ref) == snapshot(sut)
            # what watch_trades does with each resolution when newUpdates is on
            for symbol in ref.trades:
                assert ref.trades[symbol].getLimit(symbol, None) == sut.trades[symbol].getLimit(symbol, None)
        return sut
    finally:
        for ex in (ref, sut):
            for c in ex.clients.values():
                for f in c.futures.values():
                    f.cancel()
            await ex.close()


# -- tests --------------------------------------------------------------------------------


#: a large randomised set of frames: examples × up to 24 frames per test (about 3,000), and
#: the adapter-flow test below draws as many again
LARGE = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@LARGE
@given(st.lists(good_frames(), min_size=1, max_size=24), st.sampled_from([None, 3, 1000]))
def test_fast_path_equals_ccxt_on_mexc_frames(frame_list: list[bytes], trades_limit: int | None) -> None:
    config = {"options": {"tradesLimit": trades_limit}} if trades_limit else None
    sut = run(lambda: differential(frame_list, config))
    assert sut.fast_frames == len(frame_list) and sut.fast_fallbacks == 0


@LARGE
@given(st.lists(st.one_of(good_frames(), odd_frames()), min_size=1, max_size=24))
def test_fast_path_equals_ccxt_on_odd_frames(frame_list: list[bytes]) -> None:
    sut = run(lambda: differential(frame_list))
    event("fast path used" if sut.fast_frames else "fast path unused")
    event("fell back to ccxt" if sut.fast_fallbacks else "no fallback")


# -- through watch_* and the adapter's parsers --------------------------------------------


def _watch_without_network(ex: MexcWsClient) -> None:
    """``Exchange.watch`` without the connection: the pending future of ``message_hash``,
    which the handlers resolve. ccxt's ``watch_trades``/``watch_ticker`` run unchanged."""

    def watch(url: str, message_hash: str, *args: Any, **kwargs: Any) -> Any:
        return ex.client(url).future(message_hash)

    ex.watch = watch  # type: ignore[method-assign]


async def _records(ex: MexcWsClient, kind: str, symbol: str, out: list[Any]) -> None:
    """What ``MexcAdapter.stream_trade_batches``/``stream_ticker`` make of each ``watch_*``
    return: ``parse_trades(batch, rx)`` / ``parse_book_ticker(ticker, last, volume)``, or the
    ``malformed`` drop when the payload lacks a field (``MexcAdapter._parsed``)."""
    while True:
        try:
            if kind == "trades":
                out.append(canon(parse_trades(await ex.watch_trades(symbol), 1.0)))
            else:
                out.append(canon(parse_book_ticker(await ex.watch_ticker(symbol), 42.0, 7.0)))
        except MalformedPayload:
            out.append("malformed")


async def adapter_flow(frame_list: list[bytes], config: dict | None = None) -> tuple[Any, Any]:
    """Records, overflow and malformed counts per path after feeding ``frame_list`` to both
    at the connection (``GuardedClient.handle_message``), every stream's consumer waiting."""
    config = {**QUIET, **(config or {})}
    outcomes = []
    for fast_path in (False, True):
        ex = MexcWsClient(config, fast_path=fast_path)
        ex.set_markets(MARKETS)
        _watch_without_network(ex)
        client = ex.client(ex.urls["api"]["ws"]["spot"])
        records: dict[tuple[str, str], list[Any]] = {}
        tasks = []
        for market_id in SPOT_IDS:
            symbol = ex.markets_by_id[market_id][0]["symbol"]
            for kind in ("trades", "ticker"):
                out = records[(kind, symbol)] = []
                tasks.append(asyncio.create_task(_records(ex, kind, symbol, out)))
        for _ in range(3):
            await asyncio.sleep(0)  # every consumer waits in watch_*
        for frame in frame_list:
            client.handle_message(_binary(frame))
            for _ in range(3):
                await asyncio.sleep(0)  # each woken consumer parses and waits again
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        outcomes.append((records, dict(ex.trades_overflow), dict(ex.malformed), ex.fast_frames))
        await ex.close()
    (ref, ref_lost, ref_bad, ref_fast), (sut, sut_lost, sut_bad, _) = outcomes
    assert ref_fast == 0
    assert sut == ref
    assert sut_lost == ref_lost and sut_bad == ref_bad
    return ref, outcomes[1][3]


@LARGE
@given(
    st.lists(st.one_of(good_frames(), good_frames(), odd_frames()), min_size=1, max_size=24),
    st.sampled_from([None, 2]),
)
def test_adapter_records_are_the_same_on_both_paths(
    frame_list: list[bytes], trades_limit: int | None
) -> None:
    config = {"options": {"tradesLimit": trades_limit}} if trades_limit else None
    records, fast_frames = run(lambda: adapter_flow(frame_list, config))
    event("fast path used" if fast_frames else "fast path unused")
    event("records made" if any(records.values()) else "no records")


def test_adapter_records_on_simulator_frames_and_overflow() -> None:
    """Realistic frames, and a cache too small for a burst: the same trades are lost (and
    counted) on both paths, the rest become the same records."""
    burst = []
    for k in range(6):
        msg = wrapper(CHANNEL["deals"].format("BTCUSDT"), "BTCUSDT", 1_700_000_000_000 + k)
        for j in range(3):
            msg.publicAggreDeals.deals.add(
                price=f"6{k}000.{j}5", quantity="0.0012", tradeType=1 + j % 2, time=1_700_000_000_000 + k
            )
        burst.append(msg.SerializeToString())
    ticker = wrapper(CHANNEL["bookTicker"].format("ETHUSDT"), "ETHUSDT", 1_700_000_000_123)
    body = ticker.publicAggreBookTicker
    body.bidPrice, body.bidQuantity, body.askPrice, body.askQuantity = "3000.10", "1.5", "3000.20", "0"
    records, fast_frames = run(
        lambda: adapter_flow([*burst, ticker.SerializeToString()], {"options": {"tradesLimit": 2}})
    )
    assert fast_frames == 7
    assert records[("ticker", "ETH/USDT")] == [
        canon(
            {
                "ts": 1_700_000_000_123,
                "bid": 3000.1,
                "ask": 3000.2,
                "last": 42.0,
                "spread": 3000.2 - 3000.1,
                "volume": 7.0,
            }
        )
    ]
    assert len(records[("trades", "BTC/USDT")]) == 6  # one batch per push, the consumer keeps up


def sim_frames(n_symbols: int = 5, pushes: int = 12) -> list[bytes]:
    """Realistic frames from the simulator's own builders (several precisions per market)."""
    out = []
    for i in range(n_symbols):
        market = SimMarket(f"S{i}/USDT", 10.0**i, price_decimals=(2, 5, 8, 0, 4)[i % 5], qty_decimals=i % 7)
        for k in range(pushes):
            ts = 1_700_000_000_000 + 100 * k
            price = 10**market.price_decimals * (i + 1) + k
            trades = [Trade(ts - j, price + j, 1 + 7 * j, 1 + j % 2) for j in range(1 + k % 5)]
            out.append(frames.pb_deals(CHANNEL["deals"].format(market.spot_id), market, trades, ts))
            ticker = BookTicker(price, 10 + k, price + 1, k)
            channel = CHANNEL["bookTicker"].format(market.spot_id)
            out.append(frames.pb_book_ticker(channel, market, ticker, ts))
            bar = Bar(ts // 60_000 * 60_000, price, price + 3, price - 2, price + 1, 100 + k, 0, k)
            out.append(
                frames.pb_kline(
                    CHANNEL["kline"].format(market.spot_id, "Min1"), market, BY_WS_ID["Min1"], bar, ts
                )
            )
    return out


def sim_markets(n_symbols: int = 5) -> list[dict]:
    return [_market(f"S{i}/USDT", f"S{i}USDT", "spot") for i in range(n_symbols)]


def test_fast_path_equals_ccxt_on_simulator_frames() -> None:
    frame_list = sim_frames()
    hashes = [f"{kind}:{m['symbol']}" for m in sim_markets() for kind in ("ticker", "trades", "candles")]
    hashes = [h + ":1m" if h.startswith("candles") else h for h in hashes]
    sut = run(lambda: differential(frame_list, markets=MARKETS + sim_markets(), hashes=hashes))
    assert sut.fast_frames == len(frame_list) and sut.fast_fallbacks == 0


# -- the switch, malformed frames, other channels ----------------------------------------


async def _feed(ex: Any, frame_list: Iterable[Any], markets: list[dict] = MARKETS) -> Any:
    """Feed frames straight to the exchange's handler; return the stored state."""
    ex.set_markets(markets)
    client = ex.client(ex.urls["api"]["ws"]["spot"])
    for frame in frame_list:
        ex.handle_message(client, frame)
    result = snapshot(ex)
    await ex.close()
    return result


def test_switch_selects_the_path() -> None:
    frame_list, markets = sim_frames(n_symbols=1, pushes=3), sim_markets(1)
    ref = run(lambda: _feed(ccxt_pro.mexc(QUIET), frame_list, markets))
    off, default = new_ws(fast_path=False), new_ws()
    by_option = new_ws({"options": {"fastPath": False}})
    assert by_option.fast_path is False and default.fast_path is True
    assert run(lambda: _feed(off, frame_list, markets)) == ref
    assert off.fast_frames == 0
    assert run(lambda: _feed(default, frame_list, markets)) == ref
    assert default.fast_frames == len(frame_list)
    switched = new_ws()
    switched.fast_path = False  # switchable at run time
    run(lambda: _feed(switched, frame_list, markets))
    assert switched.fast_frames == 0


def test_ccxt_number_overrides_turn_the_fast_path_off() -> None:
    ex = new_ws()
    ex.number = str
    run(lambda: _feed(ex, sim_frames(n_symbols=1, pushes=2), sim_markets(1)))
    assert ex.fast_frames == 0 and ex.fast_fallbacks == 0 and ex.trades


def _binary(data: bytes) -> WSMessage:
    return WSMessage(WSMsgType.BINARY, data, None)


async def _through_guard(frame_list: list[bytes]) -> MexcWsClient:
    """Frames enter at the connection (``GuardedClient.handle_message``) as from aiohttp."""
    ex = new_ws(fast_path=True)
    ex.set_markets(MARKETS)
    client = ex.client(ex.urls["api"]["ws"]["spot"])
    future = client.future("ticker:BTC/USDT")
    for frame in frame_list:
        client.handle_message(_binary(frame))
    assert future.done() and future.result()["bid"] == 1.5
    await ex.close()
    return ex


def test_malformed_frames_are_counted_and_skipped_on_the_fast_path() -> None:
    good = wrapper(CHANNEL["bookTicker"].format("BTCUSDT"), "BTCUSDT", 1_700_000_000_000)
    good.publicAggreBookTicker.bidPrice, good.publicAggreBookTicker.askPrice = "1.5", "1.6"
    good_bytes = good.SerializeToString()
    ambiguous = wrapper(CHANNEL["deals"].format("DUPUSDT"), "DUPUSDT", 1)
    ambiguous.publicAggreDeals.deals.add(price="1", quantity="1", tradeType=1, time=1)
    bad_number = wrapper(CHANNEL["deals"].format("BTCUSDT"), "BTCUSDT", 1)
    bad_number.publicAggreDeals.deals.add(price="abc", quantity="1", tradeType=1, time=1)
    frame_list = [
        b"\xff\x00garbage" * 5,  # not protobuf
        good_bytes[: len(good_bytes) // 2],  # truncated
        ambiguous.SerializeToString(),  # ccxt raises ArgumentsRequired
        bad_number.SerializeToString(),  # ccxt's Precise raises on the cost
        good_bytes,
    ]
    ex = run(lambda: _through_guard(frame_list))
    assert sum(ex.malformed.values()) == 4
    assert ex.fast_frames == 1 and ex.fast_fallbacks == 2


def test_other_channels_and_json_go_to_ccxt() -> None:
    market = SimMarket("BTC/USDT", 60000.0)
    depth = frames.pb_depth(
        CHANNEL["depth"].format("BTCUSDT"),
        market,
        DepthDelta([(6_000_000, 5)], [(6_000_100, 7)], 11, 12),
        1_700_000_000_000,
    )
    unknown = frames.pb_unknown_channel(market, 1_700_000_000_000)
    ack = {"id": 0, "code": 0, "msg": CHANNEL["depth"].format("BTCUSDT")}
    pong = {"id": 0, "code": 0, "msg": "PONG"}
    frame_list: list[Any] = [depth, unknown, ack, pong]
    calls: list[str] = []

    sut = new_ws(fast_path=True)
    for name in ("handle_order_book", "handle_subscription_status", "handle_ticker", "handle_pong"):
        original = getattr(sut, name)

        def spy(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(*args)

        setattr(sut, name, spy)
    run(lambda: differential(frame_list))
    run(lambda: _feed(sut, frame_list))
    assert sut.fast_frames == 0 and sut.fast_fallbacks == 0
    assert calls.count("handle_order_book") == 1 and "handle_pong" in calls and "handle_ticker" not in calls


# -- pure helpers ---------------------------------------------------------------------------


NUMBERS = st.one_of(
    decimals(),
    st.sampled_from(ODD_NUMBERS),
    st.from_regex(r"-?[0-9]{0,30}\.?[0-9]{0,30}", fullmatch=True),
    st.text(),
)


_PARSER = ccxt.mexc()  # parse_number only: no I/O


@settings(max_examples=500)
@given(NUMBERS)
def test_plain_decimals_are_read_as_ccxt_reads_them(text: str) -> None:
    """Where the fast path reads a trade number itself, ccxt's ``parse_number`` is ``float``
    and its exact ``Precise`` cost cannot raise; everything else is left to ccxt."""
    from ccxt.base.precise import Precise

    if not fast.plain_decimal(text):
        return
    assert canon(_PARSER.parse_number(text)) == canon(float(text))
    Precise.string_mul(text, text)  # no ValueError
