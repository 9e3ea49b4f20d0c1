"""``MexcSimulator``: one aiohttp app on one port serving MEXC REST and both websockets.

Usage (tests)::

    async with MexcSimulator(seed=1, push_interval=0.05) as sim:
        ex = ccxt.pro.mexc({"urls": {"api": sim.urls}, "enableRateLimit": False})

The market loop steps the model every ``push_interval`` and hands the events to the
websocket endpoints; contract tickers and funding rates have their own timers; a watchdog
enforces MEXC's per-connection limits.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from aiohttp import web

from .clock import SimClock
from .config import SimContext, split_options
from .faults import Faults, FaultState
from .market_model import DEFAULT_MARKETS, MarketModel, SimMarket
from .net import GatedSite, TcpGate
from .recorder import Recorder
from .rest import RestApi
from .ws_common import WsEndpoint
from .ws_spot import SpotEndpoint
from .ws_swap import SwapEndpoint

log = logging.getLogger(__name__)


def sim_urls(base_url: str) -> dict[str, Any]:
    """ccxt's partial ``urls['api']`` of a simulator serving at ``base_url`` (in this process or
    started on its own with ``python -m backend.src.sim``)."""
    b = base_url.rstrip("/")
    w = "ws" + b.removeprefix("http")
    return {
        "spot": {"public": b, "private": b},
        "contract": {"public": f"{b}/api/v1/contract", "private": f"{b}/api/v1/private"},
        "ws": {"spot": f"{w}/ws", "swap": f"{w}/edge"},
    }


class MexcSimulator:
    """Loopback MEXC: REST, spot protobuf websocket and contract JSON websocket.

    ``markets``: SimMarket list (default: BTC/USDT and ETH/USDT with perpetuals,
    DOGE/USDT spot only, OLD/USDT inactive; ``synthetic_markets(n)`` gives a MEXC-sized
    universe). ``options``: any ``SimOptions`` or ``ModelConfig`` field (e.g.
    ``push_interval=0.05, idle_timeout=1.0``). ``list_market``/``delist_market`` change the
    listings while clients are connected.
    """

    def __init__(self, markets: Iterable[SimMarket] | None = None, seed: int = 1, **options: Any) -> None:
        self.options, model_cfg = split_options(options)
        self.seed = seed
        self.clock = SimClock()
        self.recorder = Recorder()
        self.gate = TcpGate()
        fault_state = FaultState()
        self.model = MarketModel(
            tuple(markets) if markets is not None else DEFAULT_MARKETS, seed, model_cfg, self.clock
        )
        ctx = SimContext(self.options, self.model, self.clock, fault_state, self.recorder)
        self._ctx = ctx
        self.spot = SpotEndpoint(ctx)
        self.swap = SwapEndpoint(ctx)
        self._endpoints: list[WsEndpoint] = [self.spot, self.swap]
        self.faults = Faults(fault_state, self.model, self.gate, self._endpoints)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- addresses -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.options.host}:{self.port}"

    @property
    def urls(self) -> dict[str, Any]:
        """Partial ccxt ``urls['api']`` for ``{'urls': {'api': sim.urls}}`` (deep-merged)."""
        return sim_urls(self.base_url)

    @property
    def markets(self) -> tuple[SimMarket, ...]:
        """The markets listed right now (delisted-but-inactive ones included)."""
        return tuple(self.model.markets)

    # -- listings ------------------------------------------------------------------------

    def list_market(self, market: SimMarket) -> None:
        """List a market now; exchangeInfo, contract detail, tickers and the websockets
        know it from the next request. Pass ``listing_minutes_ago=0`` for a new coin
        without history."""
        self.model.list_market(market)
        log.info("listed %s%s", market.symbol, " +perp" if market.has_perp else "")

    def delist_market(self, symbol: str, *, remove: bool = False) -> None:
        """Delist a market (``BTC/USDT``) or only its perpetual (``BTC/USDT:USDT``):
        inactive but still listed, or with ``remove`` gone from every endpoint."""
        self.model.delist_market(symbol, remove=remove)
        log.info("delisted %s (%s)", symbol, "removed" if remove else "inactive")

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> MexcSimulator:
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        app = web.Application()
        RestApi(self._ctx).install(app)
        for endpoint in self._endpoints:
            app.router.add_get(endpoint.path, endpoint.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.options.host, self.options.port))
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        await GatedSite(self._runner, sock, self.gate).start()
        opts = self.options
        limit_period = min(opts.no_sub_timeout, opts.idle_timeout, opts.max_lifetime) / 5
        self._tasks = [
            self._every("market", opts.push_interval, self._market_step),
            self._every("tickers", opts.ticker_interval, self._ticker_step),
            self._every("funding", opts.funding_interval, self._funding_step),
            self._every("limits", min(1.0, max(0.02, limit_period)), self._limits_step),
        ]
        log.info("MEXC simulator listening on %s (%d markets)", self.base_url, len(self.markets))
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        state = self._ctx.faults
        if state.release is None:
            state.release = asyncio.Event()
        state.release.set()  # end hanging REST requests
        for endpoint in self._endpoints:
            await endpoint.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("MEXC simulator stopped")

    async def __aenter__(self) -> MexcSimulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- periodic work -------------------------------------------------------------------

    def _every(self, name: str, period: float, step: Callable[[], None]) -> asyncio.Task[None]:
        async def loop() -> None:
            loop_time = asyncio.get_running_loop().time
            deadline = loop_time()
            while True:
                deadline += period
                await asyncio.sleep(max(0.0, deadline - loop_time()))
                if deadline < loop_time() - 5 * period:  # fell far behind: don't burst
                    deadline = loop_time()
                try:
                    step()
                except Exception:
                    log.exception("simulator %s step failed", name)

        return asyncio.create_task(loop(), name=f"sim-{name}")

    def _market_step(self) -> None:
        events = self.model.step()
        now = self.clock.now_ms()
        for endpoint in self._endpoints:
            endpoint.publish(events, now)

    def _ticker_step(self) -> None:
        for sm in self.model.by_perp_id.values():
            sm.advance_perp()
        self.swap.publish_tickers(self.clock.now_ms())

    def _funding_step(self) -> None:
        self.swap.publish_funding(self.clock.now_ms())

    def _limits_step(self) -> None:
        for endpoint in self._endpoints:
            endpoint.enforce_limits()
