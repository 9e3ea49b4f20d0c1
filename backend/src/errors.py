"""Every error this library raises on purpose, under one root: :class:`LevibotError`.

Why one module: a caller (an engine host, the CLIs) must be able to tell "you asked for
something impossible" from "the exchange or the network failed" from "a bug", without
importing ccxt or knowing which module raised. So:

* :class:`UsageError` — bad input from the caller: an unknown symbol, a bad argument. The
  CLIs turn it (and only it) into one clear line and a non-zero exit; any other exception is a
  bug and keeps its traceback. It is also a ``ValueError`` (the Epic's spec promises one for
  unknown symbols, and callers already catch that).
* :class:`ExchangeDataError` — a payload the exchange sent that cannot be used (counted and
  dropped by the adapter, never fatal).
* :class:`StreamError` — a stream lost its data: a refused subscription, a silent connection,
  a rotated one. These also derive from ``ccxt.NetworkError`` because they travel through
  ccxt's futures and its connection handling, where ccxt must see a network error; callers
  catch them as ``StreamError`` and never need ccxt for it.
* :class:`BusError` — the network bus (NATS) refused or lost something.
* :class:`TextSourceError` — a news/social text source failed.
* :class:`LifecycleError` — an object used after it was stopped or closed.
* :class:`StoreError` — the bar store cannot be opened (in use by another feeder, another format).
* :class:`RecordingError` — a session recording cannot be replayed as asked (none there, written
  by another format version).
"""

from __future__ import annotations

import ccxt


class LevibotError(Exception):
    """Root of every error the library raises on purpose."""


class UsageError(LevibotError, ValueError):
    """The caller asked for something impossible (bad symbol, bad argument, bad data handed in)."""


class UsageTypeError(UsageError, TypeError):
    """A :class:`UsageError` about an argument's type (also a ``TypeError``)."""


class UnknownSymbolError(UsageError):
    """A symbol MEXC does not list, or lists as disabled. Never retried."""

    def __init__(self, symbol: str, reason: str) -> None:
        super().__init__(f"{symbol!r}: {reason}")
        self.symbol = symbol
        self.reason = reason


class NoValidSymbolError(UsageError):
    """Every configured symbol failed (unknown, disabled, or stopped by an error)."""


class ExchangeDataError(LevibotError, ValueError):
    """Data from the exchange that cannot be used."""


class MalformedPayload(ExchangeDataError):
    """A payload lacks a field the record cannot do without (counted, never fatal)."""


class StreamError(LevibotError, ccxt.NetworkError):
    """A stream lost its data for a reason a reconnect may cure (retried by the supervisor)."""


class SubscriptionRejected(StreamError):
    """MEXC refused a subscription ("Not Subscribed successfully!" or contract ``rs.error``)."""


class StaleStreamError(StreamError):
    """Our watchdog's verdict on a connection that stopped delivering (pings may still work)."""


class ConnectionRotated(StreamError):
    """A watch was waiting on a connection we retired; retried on the new one at once."""


class LifecycleError(LevibotError, RuntimeError):
    """An object used after it was stopped or closed (engines, managers, adapters restart only
    as new objects)."""


class AdapterClosedError(LifecycleError, ccxt.ExchangeClosedByUser):
    """The adapter was closed; ccxt's own "closed by user" so ccxt's callers treat it alike."""


class BusError(LevibotError):
    """The network bus refused or lost something."""


class CodecError(BusError, ValueError):
    """A bus message that is not a valid md (wrong codec, bad JSON, impossible fields)."""


class BusClosedError(BusError, ConnectionError):
    """The bus connection is closed (or was never opened)."""


class BatchUnsupportedError(BusError):
    """The NATS server answered a batch direct get with a single message (nats-server < 2.11)."""


class StreamMissingError(BusError):
    """A stream an engine host reads does not exist yet: no feeder node has started on this
    server (the normal order when engine hosts start first; they wait for it)."""


class TextSourceError(LevibotError):
    """A text source could not be read or parsed."""


class StoreError(LevibotError):
    """The bar store cannot be used as asked."""


class StoreLockedError(StoreError):
    """Another process writes to this bar store."""


class StoreVersionError(StoreError):
    """The store was written by another format version."""


class RecordingError(LevibotError):
    """A session recording cannot be read or replayed as asked."""


class RecordingNotFoundError(RecordingError, UsageError):
    """The directory holds no recording (or not the session asked for)."""


class RecordingVersionError(RecordingError, UsageError):
    """The recording was written by another format version: replaying it would misread it."""


class ReplayedNetworkError(RecordingError, ConnectionError):
    """A network failure the recording holds (a refused dial, a socket error), played back."""
