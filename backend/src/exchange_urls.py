"""Where the adapter connects: MEXC itself, a simulator already running, or one started here.

Shared by ``python -m backend run`` and the bus's ``feed`` so both choose the same way. The
simulator is imported only when asked for: the live path needs none of it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def exchange_urls(
    use_sim: bool, sim_markets: int | None = None, sim_url: str | None = None
) -> AsyncIterator[dict[str, Any] | None]:
    """``None`` (MEXC's real endpoints), the URLs of the simulator at ``sim_url``, or those of
    an in-process simulator (``use_sim``).

    By default that simulator lists BTC/USDT and ETH/USDT (with perpetuals), DOGE/USDT (spot
    only) and OLD/USDT (inactive); any other symbol fails fast, as it would on MEXC. With
    ``sim_markets`` it lists a synthetic universe of that many USDT markets instead.
    """
    if sim_url is not None:
        from .sim.server import sim_urls

        yield sim_urls(sim_url)
        return
    if not use_sim:
        yield None
        return
    from .sim.server import MexcSimulator
    from .sim.universe import synthetic_markets

    markets = synthetic_markets(sim_markets) if sim_markets else None
    async with MexcSimulator(markets) as sim:
        log.info("offline: MEXC simulator on %s", sim.base_url)
        yield sim.urls
