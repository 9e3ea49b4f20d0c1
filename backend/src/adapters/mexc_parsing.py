"""Pure functions from ccxt's unified MEXC payloads to the adapter's stream records.

No I/O and no state: each function is tested with recorded payloads. The records are plain
dicts because the Epic's consumers (feeder, engines) exchange plain dicts.

What a MEXC payload carries, and therefore what these functions may promise:

* spot ``watch_ticker`` is MEXC's aggregated *book ticker*: best bid/ask and sizes, stamped
  with the push's send time. It carries no last price and no volume (``last``/``baseVolume``
  are None) — those come from trades and from the 24 h statistics.
* spot ``watch_trades`` trades: price, amount, side, exchange timestamp in ms; ``id`` is None.
* the swap ticker (``push.ticker``) keeps ``fundingRate`` and ``holdVol`` (open interest in
  contracts) only in ``ticker['info']``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import MalformedPayload
from ..market_data import BookRecord, SwapRecord, TradeRecord


def _num(value: Any) -> float | None:
    """ccxt numbers may arrive as None, int, float or numeric strings (``info``); anything
    else raises :class:`MalformedPayload` (a counted drop, never an error that ends a stream).

    A float (what ccxt's parsed fields hold) returns at once: this runs for every field of
    every trade, and ``value == ""`` on a float is a slow mixed-type comparison.
    """
    if value.__class__ is float:
        return value
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:  # "xyz", a list, a dict: not a number at all
        raise MalformedPayload(f"not a number: {value!r:.50}") from exc


def parse_book_ticker(ticker: Mapping[str, Any], last: float | None, volume: float | None) -> BookRecord:
    """Book-ticker record ``{ts, bid, ask, last, spread, volume}``.

    ``ts`` is the exchange's timestamp, never the local clock. ``last``/``volume`` are passed
    in because the spot book ticker does not carry them (see module doc).
    """
    bid, ask, ts = _num(ticker.get("bid")), _num(ticker.get("ask")), ticker.get("timestamp")
    if bid is None or ask is None or ts is None:
        raise MalformedPayload(f"book ticker without bid/ask/timestamp: {dict(ticker)!r:.200}")
    return {
        "ts": int(ts),
        "bid": bid,
        "ask": ask,
        "last": last,
        "spread": ask - bid,
        "volume": volume,
    }


def parse_trades(trades: Iterable[Mapping[str, Any]], rx: float | None = None) -> list[TradeRecord]:
    """Trade records ``{ts, price, amount, side}`` in exchange order; with ``rx`` (the frame's
    arrival time) each record also carries it, built in one step: this runs per trade."""
    out = []
    for t in trades:
        price, amount, ts = _num(t.get("price")), _num(t.get("amount")), t.get("timestamp")
        if price is None or amount is None or ts is None:
            raise MalformedPayload(f"trade without price/amount/timestamp: {dict(t)!r:.200}")
        record = {"ts": int(ts), "price": price, "amount": amount, "side": t.get("side") or ""}
        if rx is not None:
            record["rx"] = rx
        out.append(record)
    return out


def parse_swap_ticker(ticker: Mapping[str, Any], contract_size: float | None) -> SwapRecord:
    """Perpetual record ``{ts, funding, oi, oi_contracts, mark, index, last}``.

    ``oi`` is in base units (``holdVol * contract_size``), comparable across symbols; the raw
    contract count is kept as ``oi_contracts``.
    """
    info = ticker.get("info") or {}
    ts = ticker.get("timestamp") or info.get("timestamp")
    if ts is None:
        raise MalformedPayload(f"swap ticker without timestamp: {dict(info)!r:.200}")
    hold = _num(info.get("holdVol"))
    return {
        "ts": int(ts),
        "funding": _num(info.get("fundingRate")),
        "oi_contracts": hold,
        "oi": hold * contract_size if hold is not None and contract_size else None,
        "mark": _num(info.get("fairPrice")),
        "index": _num(info.get("indexPrice")),
        "last": _num(ticker.get("last")) or _num(info.get("lastPrice")),
    }


def parse_24h_stats(ticker: Mapping[str, Any]) -> dict:
    """Last price and rolling 24 h base volume from REST ``/api/v3/ticker/24hr``."""
    return {
        "ts": ticker.get("timestamp"),
        "last": _num(ticker.get("last")),
        "volume": _num(ticker.get("baseVolume")),
    }
