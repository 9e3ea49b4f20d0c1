"""FeederConfig: production defaults, keyword arguments over a passed config, the md stale threshold."""

from __future__ import annotations

from typing import Any, cast

import pytest

from backend.src.data.feeder_config import FeederConfig
from backend.src.data.health import FeedHealth
from backend.src.data.market_feeder import MarketFeeder
from backend.src.errors import UsageError

#: The feeder only stores its adapter until :meth:`MarketFeeder.run`; nothing here runs it.
NO_ADAPTER = cast(Any, object())


def test_defaults_are_the_production_values() -> None:
    feeder = MarketFeeder(["BTC/USDT"], adapter=NO_ADAPTER)
    assert feeder.config == FeederConfig()
    assert feeder.config.bootstrap_limit == 1500 and feeder.config.bootstrap_concurrency == 8
    assert feeder.feed_health.stale_after_s == 10.0


def test_keyword_arguments_override_the_config() -> None:
    config = FeederConfig(bootstrap_limit=100, monitor_interval=2.0, reload_interval=60.0)
    feeder = MarketFeeder(["BTC/USDT"], adapter=NO_ADAPTER, config=config, monitor_interval=0.05)
    assert feeder.config == FeederConfig(bootstrap_limit=100, monitor_interval=0.05, reload_interval=60.0)


def test_md_stale_after_sets_the_threshold_of_the_feeders_own_health_only() -> None:
    config = FeederConfig(md_stale_after=3.0)
    assert MarketFeeder([], adapter=NO_ADAPTER, config=config).feed_health.stale_after_s == 3.0
    given = FeedHealth(stale_after_s=0.5)
    feeder = MarketFeeder([], adapter=NO_ADAPTER, config=config, health=given)
    assert feeder.feed_health is given and given.stale_after_s == 0.5


def test_bootstrap_concurrency_must_be_positive() -> None:
    with pytest.raises(UsageError, match="bootstrap_concurrency"):
        MarketFeeder([], adapter=NO_ADAPTER, bootstrap_concurrency=0)
