"""``MexcConfig``: every knob of one ``MexcAdapter``, frozen, named for what it does.

Why one frozen object: the knobs used to be a dozen constructor arguments plus module
constants that tests monkeypatched; a value object can be built once (CLI, ops tools, tests),
compared, logged and handed to every piece of the adapter, and none of them can change it
behind the others' backs (``dataclasses.replace`` makes a changed copy).

The defaults are MEXC's documented limits and what the library measured against them; each
field says which (see ``docs/MEXC.md``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...market_data import Channel
from ..mexc_quiet import QUIET_AFTER

#: A stream silent for longer than this is treated as dead and its connection reset.
#: The book ticker of a live market changes many times a minute and the swap ticker is pushed
#: every second; trades may legitimately pause for minutes, so they have no watchdog of their
#: own (their connection is the spot connection that the book-ticker watchdog guards).
DEFAULT_WATCHDOG_AFTER: Mapping[str, float | None] = {
    Channel.TICKER: 30.0,
    Channel.TRADES: None,
    Channel.SWAP: 15.0,
}


class _FromConfig:
    """The default of ``MexcAdapter``'s keyword knobs: "not given, take the config's value".

    None cannot play this part: ``quiet_after=None`` is a real setting (no quiet probe).
    """

    def __repr__(self) -> str:
        return "<from config>"


#: marks a constructor keyword that was not given (see :meth:`MexcConfig.with_overrides`)
FROM_CONFIG: Any = _FromConfig()


@dataclass(frozen=True)
class MexcConfig:
    """What one adapter does, apart from its collaborators (listener, backoff factory)."""

    #: ccxt's own request limiter (``enableRateLimit``): MEXC allows about 20 requests/s.
    rate_limit: bool = True
    #: a partial ccxt ``urls['api']`` dict: points every client at a proxy or the simulator.
    urls: Mapping[str, Any] | None = None
    #: extra ccxt constructor config, deep-merged by ccxt (e.g. ``{"streaming": {"keepAlive": 8000}}``).
    ccxt_config: Mapping[str, Any] = field(default_factory=dict)
    #: channel → seconds of silence after which its connection is reset (None: no watchdog);
    #: channels left out keep :data:`DEFAULT_WATCHDOG_AFTER`.
    watchdog_after: Mapping[str, float | None] = field(default_factory=dict)
    #: book-ticker silence after which MEXC's REST book decides: quiet market or dead stream
    #: (``mexc_quiet``); None never asks.
    quiet_probe_after: float | None = QUIET_AFTER
    #: age of the cached REST 24 h stats after which a background refresh is started.
    stats_ttl: float = 30.0
    #: above this many streamed symbols the 24 h stats come from one all-pairs request per
    #: ``stats_ttl`` instead of one request per symbol: 2000 symbols refreshed every 30 s one
    #: by one would be 67 requests/s, over MEXC's 50/s per endpoint.
    bulk_stats_above: int = 10
    #: REST attempts before a transient failure is raised to the caller (streams retry forever).
    rest_attempts: int = 8
    #: concurrent kline page requests per ``fetch_ohlcv`` call.
    page_concurrency: int = 3
    #: older windows fetched at most, when an illiquid market has too few bars in the latest one.
    max_extra_windows: int = 10
    #: MEXC allows 30 subscriptions per websocket connection; a spot symbol takes two.
    symbols_per_connection: int = 15
    #: MEXC closes any connection after 24 h; ours are rotated an hour before.
    max_connection_age: float = 23 * 3600.0
    #: how long a rotated-out connection stays open while the streams move to the new one.
    rotation_grace: float = 10.0
    #: a clock offset to MEXC above this (ms) is logged as a warning.
    clock_warn_ms: float = 1000.0
    #: how far our estimate of MEXC's clock may be ahead of it (half a round trip is typical).
    confirm_margin_ms: int = 250
    #: a watchdog timer firing this much later than set means the event loop was too busy to
    #: read its sockets; the silence it measured is then not evidence about the stream.
    max_loop_lag: float = 1.0
    #: records from the future mean a forged record or a clock estimate gone stale; the clock
    #: is measured again at most this often (seconds) when they appear.
    resync_after_future: float = 30.0
    #: record the session (every frame, REST response and connection event) into this
    #: directory, for an exact replay (``recording``, docs/RECORDING.md); None records nothing.
    record_dir: str | None = None

    def __post_init__(self) -> None:
        # a partial watchdog map must not silently switch off the other channels' watchdogs
        object.__setattr__(self, "watchdog_after", {**DEFAULT_WATCHDOG_AFTER, **self.watchdog_after})

    def with_overrides(self, **knobs: Any) -> MexcConfig:
        """This config with every knob that is not :data:`FROM_CONFIG` replaced.

        Takes the fields' names and ``MexcAdapter``'s historical keyword names:
        ``stale_after`` is merged channel by channel into ``watchdog_after``, ``quiet_after``
        is ``quiet_probe_after``, and a ``ccxt_config`` of None means an empty one.
        """
        given = {k: v for k, v in knobs.items() if v is not FROM_CONFIG}
        if "stale_after" in given:
            given["watchdog_after"] = {**self.watchdog_after, **(given.pop("stale_after") or {})}
        if "quiet_after" in given:
            given["quiet_probe_after"] = given.pop("quiet_after")
        if "ccxt_config" in given:
            given["ccxt_config"] = given["ccxt_config"] or {}
        return dataclasses.replace(self, **given) if given else self

    def ccxt_options(self) -> dict[str, Any]:
        """The constructor config of every ccxt client of the adapter, REST and websocket."""
        options: dict[str, Any] = {**self.ccxt_config, "enableRateLimit": self.rate_limit}
        if self.urls:
            options["urls"] = {"api": self.urls}
        return options
