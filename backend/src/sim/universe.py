"""A synthetic MEXC-sized market universe: ``synthetic_markets(2000)``.

MEXC lists about two thousand USDT spot pairs and several hundred USDT perpetuals; a few
pairs trade many times a second and most trade rarely. The universe mimics that so that
selecting, bootstrapping and streaming "every USDT market" can be exercised and benchmarked
against the simulator.

Assumed rates (no MEXC statistics at hand; tune ``tail_rate``/``zipf`` if better figures
turn up): the head pairs trade 2-20 times a second (BTC/USDT 20/s). Every other pair draws
its rate from a Pareto tail, ``tail_rate * U**-zipf`` with U uniform, capped at
``max_rate``; sorted, such rates fall off like Zipf's law, rate ~ rank**-zipf. With the
defaults the median pair trades once every 90 s, one in ten at least every 16 s, one in a
hundred about once a second, and two thousand pairs print about 150 trades/s in all (the
head about 50 of them). Busier pairs are likelier to have a perpetual, as on MEXC.
"""

from __future__ import annotations

import math
import random

from .market_model import SimMarket

# symbol, price, price decimals, qty decimals, contract size, trades/s: MEXC-like specs
_HEAD: tuple[tuple[str, float, int, int, float, float], ...] = (
    ("BTC/USDT", 60_000.0, 2, 6, 0.0001, 20.0),
    ("ETH/USDT", 3_000.0, 2, 5, 0.01, 12.0),
    ("SOL/USDT", 150.0, 2, 3, 0.1, 6.0),
    ("XRP/USDT", 0.6, 4, 2, 1.0, 5.0),
    ("DOGE/USDT", 0.15, 5, 2, 100.0, 4.0),
    ("PEPE/USDT", 0.00001, 10, 0, 10_000_000.0, 3.0),
)
# symbol, price, price decimals, qty decimals, has a perpetual (settled in the quote), trades/s
_OTHER_HEAD: tuple[tuple[str, float, int, int, bool, float], ...] = (
    ("BTC/USDC", 60_000.0, 2, 6, True, 2.0),
    ("ETH/USDC", 3_000.0, 2, 5, False, 1.0),
    ("ETH/BTC", 0.05, 6, 4, False, 0.5),
)
_OTHER_QUOTES = ("USDC", "BTC")
_BTC_USD = 60_000.0
PERP_SHARE_BUSY, PERP_SHARE_QUIET = 0.6, 0.2  # of pairs above / below 0.1 trades/s
INACTIVE_SHARE = 0.01
NEW_LISTING_SHARE = 0.02


def decimals_for(price: float) -> tuple[int, int]:
    """MEXC-like (price decimals, qty decimals): ticks 1e-4..1e-5 of the price, lots worth
    about a cent or less (60000 -> 0, 6; 0.15 -> 5, 1; 1e-6 -> 10, 0)."""
    exponent = math.floor(math.log10(price))
    return max(0, 4 - exponent), min(6, max(0, exponent + 2))


def contract_size_for(usd_price: float) -> float:
    """A power of ten making one contract worth roughly $3-$30 (BTC 0.0001, DOGE 100)."""
    return float(10 ** round(math.log10(10 / usd_price)))


def synthetic_markets(
    n: int,
    seed: int = 1,
    *,
    other_quotes: int | None = None,
    tail_rate: float = 0.005,
    zipf: float = 1.1,
    max_rate: float = 5.0,
) -> tuple[SimMarket, ...]:
    """``n`` USDT markets, then ``other_quotes`` (default ``max(3, n // 40)``) markets
    quoted in USDC or BTC so that a quote filter has something to filter.

    Deterministic per ``seed``, and each market depends only on its position, so a smaller
    universe is a prefix of a larger one (USDT part). The first USDT markets are BTC-, ETH-,
    SOL-, XRP-, DOGE- and PEPE-like; the rest are ``S0007/USDT``... with log-uniform prices
    from 1e-6 to 1e5, decimals fitting the price, a perpetual on about a quarter (more on
    busy ones), about 1 % inactive and 2 % listed within the last two days. ``activity``
    (trades/s) is Zipf-like; see the module docstring for the assumed rates.
    """
    usdt = [_head(i) if i < len(_HEAD) else _tail(i, seed, tail_rate, zipf, max_rate) for i in range(n)]
    count = max(3, n // 40) if other_quotes is None else other_quotes
    others = [_other(k, seed, tail_rate, zipf, max_rate) for k in range(count)]
    return (*usdt, *others)


def _head(i: int) -> SimMarket:
    symbol, price, pd, qd, size, rate = _HEAD[i]
    return SimMarket(symbol, price, contract_size=size, price_decimals=pd, qty_decimals=qd, activity=rate)


def _rate(rng: random.Random, tail_rate: float, zipf: float, max_rate: float) -> float:
    return min(max_rate, tail_rate * (1.0 - rng.random()) ** -zipf)


def _tail(i: int, seed: int, tail_rate: float, zipf: float, max_rate: float) -> SimMarket:
    rng = random.Random(f"universe:{seed}:USDT:{i}")
    usd_price = 10 ** rng.uniform(-6, 5)
    pd, qd = decimals_for(usd_price)
    rate = _rate(rng, tail_rate, zipf, max_rate)
    perp_share = PERP_SHARE_BUSY if rate > 0.1 else PERP_SHARE_QUIET
    has_perp = rng.random() < perp_share
    active = rng.random() >= INACTIVE_SHARE
    listed = rng.randint(30, 2880) if rng.random() < NEW_LISTING_SHARE else None
    return SimMarket(
        f"S{i:04d}/USDT",
        round(usd_price, pd),
        has_perp=has_perp,
        contract_size=contract_size_for(usd_price),
        active=active,
        price_decimals=pd,
        qty_decimals=qd,
        listing_minutes_ago=listed,
        activity=rate,
    )


def _other(k: int, seed: int, tail_rate: float, zipf: float, max_rate: float) -> SimMarket:
    if k < len(_OTHER_HEAD):
        symbol, price, pd, qd, has_perp, rate = _OTHER_HEAD[k]
        return SimMarket(
            symbol,
            price,
            has_perp=has_perp,
            contract_size=contract_size_for(price),
            price_decimals=pd,
            qty_decimals=qd,
            activity=rate,
        )
    rng = random.Random(f"universe:{seed}:other:{k}")
    quote = _OTHER_QUOTES[k % len(_OTHER_QUOTES)]
    usd_price = 10 ** rng.uniform(-3, 4)
    price = usd_price / _BTC_USD if quote == "BTC" else usd_price
    pd, qd = decimals_for(price)
    return SimMarket(
        f"X{k:03d}/{quote}",
        round(price, pd),
        has_perp=False,
        price_decimals=pd,
        qty_decimals=qd,
        activity=_rate(rng, tail_rate, zipf, max_rate) / 3,  # side markets are quieter
    )
