from __future__ import annotations

from backend.src.data.live_bars import MINUTE_MS, LiveBars
from backend.src.data.md_mapping import SymbolState
from backend.src.market_data import MD_FIELDS

T0 = 1_700_000_040_000
#: the Epic's fields are all there, and nothing beyond the declared schema
EPIC = {"symbol", "price", "spread", "vol", "texts", "funding", "oi"}
REQUIRED = set(MD_FIELDS)
assert EPIC <= REQUIRED


def state() -> SymbolState:
    return SymbolState("BTC/USDT", LiveBars([[T0, 100, 101, 99, 100.5, 3.0]]))


def test_not_ready_without_a_two_sided_book() -> None:
    s = state()
    assert not s.ready()
    s.apply_ticker({"ts": T0 + MINUTE_MS, "bid": 100.0, "ask": 100.2})
    assert s.ready()


def test_price_is_bar_close_before_the_first_trade_then_last_trade() -> None:
    s = state()
    s.apply_ticker({"ts": T0 + MINUTE_MS, "bid": 100.0, "ask": 100.2})
    assert s.to_md([])["price"] == 100.5
    s.apply_trades([{"ts": T0 + MINUTE_MS + 10, "price": 100.1, "amount": 2.0, "side": "buy"}])
    md = s.to_md(["BTC ETF approved"])
    assert set(md) == REQUIRED
    assert md["price"] == 100.1 and md["vol"] == 5.0 and md["texts"] == ["BTC ETF approved"]
    assert md["spread"] == md["ask"] - md["bid"]
    assert md["ts"] == T0 + MINUTE_MS + 10  # exchange time of the newest record


def test_funding_and_oi_none_without_perpetual_and_kept_on_partial_updates() -> None:
    s = state()
    s.apply_ticker({"ts": T0, "bid": 1.0, "ask": 2.0})
    assert s.to_md([])["funding"] is None and s.to_md([])["oi"] is None
    s.apply_swap({"ts": T0, "funding": 0.0001, "oi": 12.5})
    s.apply_swap({"ts": T0, "funding": None, "oi": 13.0})
    assert (s.funding, s.oi) == (0.0001, 13.0)


def test_ts_never_goes_backwards() -> None:
    s = state()
    s.apply_ticker({"ts": T0 + 5, "bid": 1.0, "ask": 2.0})
    s.apply_ticker({"ts": T0 + 1, "bid": 1.0, "ask": 2.0})
    assert s.ts == T0 + 5


def test_out_of_order_book_ticker_is_not_applied() -> None:
    s = state()
    assert s.apply_ticker({"ts": T0 + 5, "bid": 1.0, "ask": 2.0})
    assert not s.apply_ticker({"ts": T0 + 1, "bid": 0.5, "ask": 9.0})
    assert (s.bid, s.ask) == (1.0, 2.0)
    assert s.to_md([])["stale"] is False


def test_funding_and_oi_carry_their_own_time_and_never_roll_back() -> None:
    s = state()
    s.apply_ticker({"ts": T0 + 9_000, "bid": 1.0, "ask": 2.0})
    assert (s.to_md([])["funding_ts"], s.to_md([])["oi_ts"]) == (None, None)
    s.apply_swap({"ts": T0, "funding": 0.0001, "oi": 12.5})
    s.apply_swap({"ts": T0 + 1_000, "funding": None, "oi": 13.0})
    s.apply_swap({"ts": T0 + 500, "funding": 0.0009, "oi": 99.0})  # older than the oi we have
    md = s.to_md([])
    assert (md["funding"], md["funding_ts"], md["oi"], md["oi_ts"]) == (0.0009, T0 + 500, 13.0, T0 + 1_000)
    assert md["ts"] - md["oi_ts"] == 8_000  # an engine can tell the open interest is 8 s old
