"""``MexcRuntime``: what every piece of one adapter shares and reads live.

Why a shared object rather than copies: the feeder installs itself as ``listener`` after the
adapter is built, benchmarks swap the ``clock``, tests shorten ``max_connection_age`` on a
running adapter. The pieces (REST, shards, supervisor, stats, records) hold this object and
read these attributes at the moment they need them, so such a change reaches all of them.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from ...backoff import Backoff
from ...errors import AdapterClosedError
from ...jitter import Jitter
from ...pacing import Pacer
from ...tasks import TaskSet
from ..time_sync import ClockSync
from .config import MexcConfig

if TYPE_CHECKING:
    from ...recording.hooks import Recorder
    from ..mexc_ws_client import WireTap


class StreamListener(Protocol):
    """Told about stream disconnects and dropped payloads, so health and backfill can react."""

    def on_disconnect(self, symbol: str, channel: str, reason: str) -> None: ...

    def on_drop(self, symbol: str, channel: str, reason: str) -> None: ...


class MexcRuntime:
    """Config, clock, counters, listener and background tasks of one adapter."""

    def __init__(
        self, config: MexcConfig, backoff_factory: Callable[[], Backoff], listener: StreamListener | None
    ) -> None:
        self.config = config
        self.backoff_factory = backoff_factory
        #: whether the caller left the backoffs to us: then each stream draws its own delays
        #: (:meth:`stream_backoff`)
        self.default_backoff = backoff_factory is Backoff
        #: told about every stream disconnect (health accounting, bar backfill).
        self.listener = listener
        self.clock = ClockSync()
        #: the session's seed of every stream's jitter (``jitter.Jitter``): drawn here, noted
        #: by a recording, set back by its replay so the streams draw the same fractions.
        self.seed: int = random.SystemRandom().randrange(1 << 32)
        #: where timer-driven steps mark their instants (``pacing``): a recording notes them,
        #: a replay meets them again; read at each mark, so a replay may set it after building.
        self.pacer: Pacer = Pacer()
        #: stream results handed on so far, every stream together: where a mark falls among
        #: them (the md each one becomes follow it at once, in the same task step)
        self.yielded = 0
        #: ``(operation or symbol/channel, event)`` → count; events: retry.<Error>, stale,
        #: reconnect, malformed. Every retry is counted here and logged.
        self.counters: Counter[tuple[str, str]] = Counter()
        self.background = TaskSet()
        self.closed = False
        #: the session recording (``config.record_dir``); None when not recording.
        self.recorder: Recorder | None = None
        #: what sees every websocket connection's wire: the recorder, a replay, or nothing.
        self.wire: WireTap | None = None

    def stream_backoff(self, name: str) -> Backoff:
        """The reconnect backoff of stream ``name``. With the default backoffs its jitter is
        the stream's own seeded sequence: after a connection drop every stream on it fails at
        once, in an order a busy loop does not repeat, and one shared sequence would hand the
        delays out in that order (a replay would then reconnect at other instants)."""
        if not self.default_backoff:
            return self.backoff_factory()
        # time.monotonic looked up now: a replay's clock is patched in after import
        return Backoff(rng=Jitter(self.seed, name), clock=time.monotonic)

    @property
    def max_connection_age(self) -> float:
        """Seconds after which a websocket connection is rotated (``MexcConfig``)."""
        return self.config.max_connection_age

    @max_connection_age.setter
    def max_connection_age(self, seconds: float) -> None:
        # settable on a running adapter: a test stops rotating once it has seen enough
        self.config = dataclasses.replace(self.config, max_connection_age=seconds)

    @property
    def stale_after(self) -> Mapping[str, float | None]:
        """The watchdog of each channel, under its historical name (``MexcConfig.watchdog_after``)."""
        return self.config.watchdog_after

    def ensure_open(self) -> None:
        """Refuse I/O after ``close()``: a client made then would never be closed."""
        if self.closed:
            raise AdapterClosedError("MexcAdapter is closed")

    def disconnected(self, symbol: str, channel: str, reason: str) -> None:
        """Tell the listener that ``symbol``'s ``channel`` lost (or is moving) its connection."""
        if self.listener is not None:
            self.listener.on_disconnect(symbol, channel, reason)
