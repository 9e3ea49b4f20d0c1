"""``FeederConfig``: the feeder's knobs in one frozen value, named for what they do.

One object instead of a dozen keyword arguments, so a node, the CLI and a test can build a
config once, compare it, log it, and derive variants with :func:`dataclasses.replace`. The
collaborators (adapter, text source, health registry, clock, universe, progress callback) stay
constructor arguments of ``MarketFeeder``: they are objects, not settings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..errors import UsageError
from .freshness import DEFAULT_STALE_AFTER_S


@dataclass(frozen=True)
class FeederConfig:
    """How the feeder bootstraps, watches and reloads; defaults are the production ones."""

    #: closed 1 m bars fetched (and kept) per symbol at bootstrap.
    bootstrap_limit: int = 1500
    #: stream each symbol's perpetual (funding, open interest) when it has one.
    perpetuals: bool = True
    #: seconds between the monitor's sweeps (stale marking, malformed/overflow counts).
    monitor_interval: float = 0.5
    #: seconds between clock offset measurements against MEXC's server time.
    time_sync_interval: float = 300.0
    #: seconds between universe reloads (listings, delistings, re-ranking); universes only.
    reload_interval: float = 3600.0
    #: symbols bootstrapping at once (MEXC allows 500 requests per 10 s per endpoint).
    bootstrap_concurrency: int = 8
    #: seconds of book-ticker silence after which a symbol's md are marked ``stale`` (and its
    #: uptime counts down); used for the health registry the feeder creates itself.
    md_stale_after: float = DEFAULT_STALE_AFTER_S

    def __post_init__(self) -> None:
        if self.bootstrap_concurrency < 1:
            raise UsageError(f"bootstrap_concurrency must be at least 1, got {self.bootstrap_concurrency}")

    def overridden(self, **explicit: Any) -> FeederConfig:
        """This config with every ``explicit`` value that is not ``None`` replacing its field:
        how ``MarketFeeder``'s keyword arguments take precedence over a passed config."""
        return replace(self, **{k: v for k, v in explicit.items() if v is not None})
