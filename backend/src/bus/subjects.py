"""NATS subject scheme of the md bus (pure; no NATS import).

One subject per symbol, ``md.<exchange>.<market>.<BASE>_<QUOTE>``, e.g. ``md.mexc.spot.BTC_USDT``,
and likewise for its closed bars, ``bars.mexc.spot.BTC_USDT``.
Why one subject per symbol: an engine host subscribes to exactly its symbols, the server keeps
the last md (and the last bars) per subject for late joiners, and the subject is the only
routing key, so a feeder never needs to know who listens. Bars have a prefix and a stream of
their own: the md stream keeps one message per subject, the bar stream a history.

The token must survive the round trip symbol → subject → symbol, so characters that NATS gives
a meaning to (``.``, ``*``, ``>``, whitespace) and our own separators (``/``, ``_``, ``:``)
are rejected inside the base and quote instead of being escaped.
"""

from __future__ import annotations

import re

from ..errors import UsageError

#: JetStream stream that keeps the last md of every subject.
MD_STREAM = "LEVIBOT_MD"
#: Subject prefix of MEXC spot md; the stream captures every ``md.mexc.>`` subject.
MD_PREFIX = "md.mexc.spot."
MD_STREAM_SUBJECTS = "md.mexc.>"
#: JetStream stream that keeps the last bars of every symbol (its history for late joiners).
BAR_STREAM = "LEVIBOT_BARS"
BAR_PREFIX = "bars.mexc.spot."
BAR_STREAM_SUBJECTS = "bars.mexc.>"

_PART = re.compile(r"[A-Za-z0-9-]+")


def symbol_token(symbol: str) -> str:
    """``BTC/USDT`` → ``BTC_USDT``; ``ValueError`` for anything that would not map back."""
    base, sep, quote = symbol.partition("/")
    if not sep or not _PART.fullmatch(base) or not _PART.fullmatch(quote):
        raise UsageError(
            f"symbol {symbol!r} cannot be a bus subject: expected BASE/QUOTE of letters, digits or '-'"
        )
    return f"{base}_{quote}"


def token_symbol(token: str) -> str:
    """``BTC_USDT`` → ``BTC/USDT`` (inverse of :func:`symbol_token`)."""
    base, sep, quote = token.partition("_")
    symbol = f"{base}/{quote}"
    if not sep or symbol_token(symbol) != token:
        raise UsageError(f"{token!r} is not a bus symbol token")
    return symbol


def md_subject(symbol: str) -> str:
    """Subject on which the md of ``symbol`` is published."""
    return MD_PREFIX + symbol_token(symbol)


def bar_subject(symbol: str) -> str:
    """Subject on which the closed bars of ``symbol`` are published."""
    return BAR_PREFIX + symbol_token(symbol)


def subject_symbol(subject: str) -> str:
    """Symbol whose md travels on ``subject`` (inverse of :func:`md_subject`)."""
    if not subject.startswith(MD_PREFIX):
        raise UsageError(f"{subject!r} is not an md subject (expected prefix {MD_PREFIX!r})")
    return token_symbol(subject.removeprefix(MD_PREFIX))
