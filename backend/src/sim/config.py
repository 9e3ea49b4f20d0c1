"""Simulator options and the shared context every endpoint reads.

Time-based behaviours (push cadence, idle/lifetime limits) are options so tests can shrink
MEXC's 30 s / 60 s / 24 h limits to fractions of a second.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .clock import SimClock
from .faults import FaultState
from .market_model import MarketModel, ModelConfig
from .recorder import Recorder

# The real MEXC refuses API trading on BTCUSDT (recorded 2025-12-31) while its market data
# flow, so the simulator does the same by default; ``MexcSimulator(btcusdt_no_api_trading=False)``
# lists it as an ordinary market.
BTCUSDT_NO_API_TRADING = True


@dataclass
class SimOptions:
    """Server-side options (model options live in ``ModelConfig``).

    Defaults mirror MEXC: 100 ms aggregated pushes, contract ticker about once a second,
    30 subscriptions per connection, drop after 30 s without a valid subscription, after
    60 s without ping or data from the client, and after 24 h in any case.
    """

    host: str = "127.0.0.1"
    port: int = 0
    push_interval: float = 0.1
    ticker_interval: float = 1.0
    funding_interval: float = 1.0
    no_sub_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_lifetime: float = 86_400.0
    max_subscriptions: int = 30
    max_queue: int = 50_000  # frames queued for one slow client before it is dropped
    ws_compress: bool = False
    ws_close_timeout: float = 2.0
    # Quirks of the real MEXC seen in recordings (fixtures/mexc_real). Off by default so tests
    # written against the documented behaviour keep their meaning; turn on to soak against them.
    #: BTCUSDT listed like on 2025-12-31: status "1" but isSpotTradingAllowed false (no API
    #: orders; ccxt calls it inactive) while its market data flow. Also contract apiAllowed false.
    btcusdt_no_api_trading: bool = BTCUSDT_NO_API_TRADING
    #: /api/v3/klines with ``limit`` ignores ``startTime``: the latest ``limit`` rows ending at
    #: ``endTime`` (or now) come back (recording spot_klines_btcusdt_5m_limit100).
    klines_ignore_start_with_limit: bool = False


def split_options(options: dict[str, Any]) -> tuple[SimOptions, ModelConfig]:
    """Route ``MexcSimulator(**options)`` keywords to server or model options."""
    sim_names = {f.name for f in fields(SimOptions)}
    model_names = {f.name for f in fields(ModelConfig)}
    unknown = set(options) - sim_names - model_names
    if unknown:
        raise TypeError(f"unknown simulator option(s): {', '.join(sorted(unknown))}")
    return (
        SimOptions(**{k: v for k, v in options.items() if k in sim_names}),
        ModelConfig(**{k: v for k, v in options.items() if k in model_names}),
    )


@dataclass
class SimContext:
    """What REST routes and websocket endpoints share; built once per simulator."""

    options: SimOptions
    model: MarketModel
    clock: SimClock
    faults: FaultState
    recorder: Recorder
