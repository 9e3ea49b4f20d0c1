"""Which texts mention which symbol: the base asset of a symbol and a regex for its names.

Why a regex per symbol rather than a substring test: headlines say "Bitcoin", "$BTC" or "XBT",
and a bare substring would match "ETH" inside "ETHIOPIA" or "sol" in Spanish prose; the
pattern matches whole words only, tickers case-sensitively and names case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

#: Names a headline uses instead of the ticker. Upper-case aliases are matched as tickers
#: (case-sensitive, so "sol" in Spanish text is not Solana); others case-insensitively.
#: Ambiguous English words ("Ripple" effect, "Avalanche" of liquidations) are left out on
#: purpose; pass ``aliases=`` to TextHub to add them.
DEFAULT_ALIASES: Mapping[str, Sequence[str]] = {
    "BTC": ("Bitcoin", "XBT"),
    "ETH": ("Ethereum", "Ether"),
    "SOL": ("Solana",),
    "DOGE": ("Dogecoin",),
    "ADA": ("Cardano",),
    "BNB": ("Binance Coin",),
    "LTC": ("Litecoin",),
    "DOT": ("Polkadot",),
    "LINK": ("Chainlink",),
}

_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH")


def base_asset(symbol: str) -> str:
    """ "BTC/USDT", "BTC/USDT:USDT", "BTC_USDT", "BTCUSDT" -> "BTC"."""
    head = re.split(r"[/:_-]", symbol.strip(), maxsplit=1)[0].upper()
    if head != symbol.strip().upper():
        return head
    for quote in _QUOTES:
        if head.endswith(quote) and len(head) > len(quote):
            return head[: -len(quote)]
    return head


def symbol_pattern(symbol: str, aliases: Mapping[str, Sequence[str]] = DEFAULT_ALIASES) -> re.Pattern[str]:
    """Regex that finds the symbol's base asset as a whole word: ticker, $cashtag or name."""
    base = base_asset(symbol)
    names = [base, *aliases.get(base, ())]
    tickers = [n for n in names if n.isupper()]
    words = [n for n in names if not n.isupper()]
    ticker_alt = "|".join(map(re.escape, tickers))
    parts = [
        rf"(?<![A-Za-z0-9])\$?(?:{ticker_alt})(?![A-Za-z0-9])",
        rf"(?i:\$(?:{ticker_alt}))(?![A-Za-z0-9])",
    ]
    if words:
        parts.append(rf"(?i:\b(?:{'|'.join(map(re.escape, words))})\b)")
    return re.compile("|".join(parts))
