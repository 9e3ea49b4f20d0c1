"""A ``ccxt.pro.mexc`` whose connections survive malformed frames.

Why: ccxt handles each websocket frame inside a done-callback of its receive task and only
schedules the next receive *after* the handler returns. A frame that fails to decode (garbage
bytes, truncated protobuf, invalid JSON) raises out of that callback, so the receive loop stops
for good: the connection stays open, pings go unanswered from our side's point of view, and
every stream on it goes silent until ccxt's ping watchdog fires 16–24 s later. One bad frame
from the exchange must cost one dropped message, not 20 s of blindness on up to 30 streams.

The guard sits at the connection (ccxt's ``Client``), the only place that sees every frame
before JSON or protobuf decoding. Each malformed frame is counted per connection URL and
logged (rate-limited), and the receive loop goes on.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import ccxt.pro as ccxt_pro
from ccxt.async_support.base.ws.client import Client

log = logging.getLogger(__name__)

#: Log the first few malformed frames per connection, then every this-many-th.
LOG_EVERY = 1000


class GuardedClient(Client):
    """ccxt ws ``Client`` that counts and skips frames its handlers cannot parse."""

    malformed: Counter[str]
    #: ``time.perf_counter()`` when the latest frame arrived: the start of parse latency.
    last_rx: float = 0.0

    def handle_message(self, message: Any) -> Any:
        self.last_rx = time.perf_counter()
        try:
            return super().handle_message(message)
        except Exception as exc:  # a bad frame is data, not a reason to stop receiving
            self.malformed[self.url] += 1
            n = self.malformed[self.url]
            if n <= 3 or n % LOG_EVERY == 0:
                log.warning("%s: malformed frame #%d dropped: %s: %s", self.url, n, type(exc).__name__, exc)
            return None


class MexcWsClient(ccxt_pro.mexc):
    """``ccxt.pro.mexc`` using :class:`GuardedClient` connections; ``malformed`` counts drops."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config or {})
        self.malformed: Counter[str] = Counter()

    def client(self, url: str) -> Client:
        client = super().client(url)
        if not isinstance(client, GuardedClient):
            # ccxt builds the Client itself; re-class the fresh instance rather than copy
            # ccxt's option plumbing. GuardedClient adds behaviour only, no state.
            client.__class__ = GuardedClient
            client.malformed = self.malformed
        return client
