"""Which exchange errors are worth a retry, and which must slow every caller down.

ccxt's exception classes decide; our own stream errors (``errors.StreamError``) derive from
``ccxt.NetworkError`` and are transient with them.
"""

from __future__ import annotations

import ccxt

#: Errors worth retrying: the request may succeed later without any change on our side.
#: ``RateLimitExceeded`` and ``DDoSProtection`` (HTTP 429/418) are ``NetworkError`` subclasses
#: in ccxt; they are listed for the reader.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ccxt.NetworkError,
    ccxt.ExchangeNotAvailable,
    ccxt.RateLimitExceeded,
    ccxt.DDoSProtection,
)


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` is a failure that a retry may cure (network, 5xx, rate limit).

    Not ``InvalidNonce`` (a ``NetworkError`` in ccxt 4.5): MEXC's "outside of the recvWindow"
    (code 700003) comes back the same until the clock is fixed, so retrying it as is only
    spends the rate limit.
    """
    return isinstance(exc, TRANSIENT_ERRORS) and not isinstance(exc, ccxt.InvalidNonce)


def is_rate_limit(exc: BaseException) -> bool:
    """True for HTTP 429/418 style refusals, which must slow us down, not just be retried."""
    return isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection))
