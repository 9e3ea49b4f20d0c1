"""One engine per symbol, fed by one market-data feeder.

The manager owns the lifecycle: it starts the engines before the feeder (so no md is routed to
an engine that is not consuming yet), routes each md by ``md["symbol"]`` with a plain sync
callback (the feeder never awaits an engine), and on stop closes the feeder first, then the
engines, each step bounded in time so a hung exchange connection cannot hang shutdown.

Bars: when the feeder is a :class:`~backend.src.market_data.BarSource` (``MarketFeeder``,
``BusSubscriber``) the manager listens to its bars and routes them by ``symbol`` the same way
(``Engine.push_history``, ``Engine.push_bar``: sync, never blocking). A feeder that knows
nothing of bars (a test fake, an older one) gives md only, and the engines' ``bars`` stay empty.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

from backend.src.engine.engine import MD, Engine
from backend.src.log_limits import RateLimitedLog
from backend.src.tasks import cancel_bounded, wait_bounded

from ..errors import LifecycleError, UsageError
from ..market_data import Bar, BarSource

logger = logging.getLogger(__name__)


class Feeder(Protocol):
    """What the manager needs from ``MarketFeeder`` (and what test fakes implement)."""

    symbols: list[str]

    async def run(self, on_md: Callable[[MD], Any]) -> None: ...

    async def close(self) -> None: ...


FeederFactory = Callable[[list[str]], Feeder]
EngineFactory = Callable[..., Engine]


def _default_feeder_factory(symbols: list[str]) -> Feeder:
    """Build the real feeder; imported here so this module imports without it (tests, tools)."""
    from backend.src.data.market_feeder import MarketFeeder

    return MarketFeeder(symbols)


async def _close(feeder: Feeder) -> None:
    """Coroutine wrapper so even a ``close()`` that raises synchronously runs inside a task."""
    await feeder.close()


class EngineManager:
    """Starts one engine per symbol and wires a feeder's md stream to their inboxes."""

    def __init__(
        self,
        symbols: Iterable[str],
        feeder: Feeder | None = None,
        engine_factory: EngineFactory = Engine,
        *,
        feeder_factory: FeederFactory | None = None,
        queue_size: int = 100,
        stop_timeout: float = 5.0,
    ) -> None:
        self.symbols: list[str] = list(dict.fromkeys(symbols))
        if not self.symbols:
            raise UsageError("EngineManager needs at least one symbol")
        self._engines: dict[str, Engine] = {s: engine_factory(s, queue_size=queue_size) for s in self.symbols}
        self._feeder = feeder
        self._feeder_factory = feeder_factory or _default_feeder_factory
        self._stop_timeout = stop_timeout
        self._cancel_grace = min(1.0, stop_timeout)
        self._unrouted = 0
        self._unrouted_bars = 0
        self._unrouted_log = RateLimitedLog(logger, 10.0)
        self._feeder_task: asyncio.Task[None] | None = None
        self._feeder_error: BaseException | None = None
        self._stop_task: asyncio.Task[None] | None = None

    # ---- routing -----------------------------------------------------------------------

    def _on_md(self, md: MD) -> None:
        """Feeder callback: hand ``md`` to its symbol's engine; never blocks, never raises."""
        symbol = md.get("symbol") if isinstance(md, dict) else None
        engine = self._engines.get(symbol) if isinstance(symbol, str) else None
        if engine is None:
            self._unrouted += 1
            self._unrouted_log.event(
                "md for symbol %r has no engine; %d unrouted so far", symbol, self._unrouted
            )
            return
        engine.push_md(md)

    def on_history(self, symbol: str, bars: Sequence[Bar]) -> None:
        """Feeder's bar listener: ``symbol``'s history to its engine; never blocks."""
        engine = self._bar_engine(symbol, len(bars))
        if engine is not None:
            engine.push_history(bars)

    def on_bar(self, bar: Bar) -> None:
        """Feeder's bar listener: a closed (or revised) bar to its symbol's engine; never blocks."""
        engine = self._bar_engine(bar["symbol"], 1)
        if engine is not None:
            engine.push_bar(bar)

    def _bar_engine(self, symbol: str, count: int) -> Engine | None:
        engine = self._engines.get(symbol)
        if engine is None:
            self._unrouted_bars += count
            self._unrouted_log.event(
                "bars for symbol %r have no engine; %d unrouted so far", symbol, self._unrouted_bars
            )
        return engine

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def engines(self) -> Mapping[str, Engine]:
        """Read-only view symbol -> engine."""
        return MappingProxyType(self._engines)

    @property
    def feeder(self) -> Feeder | None:
        """The injected or (after :meth:`start`) built feeder."""
        return self._feeder

    async def start(self) -> None:
        """Build the feeder if needed, start the engines, then the feeder; idempotent.

        If any step fails, what was started is stopped before the error propagates, so a
        failed ``start()`` (or ``async with``) leaves no task behind.
        """
        if self._stop_task is not None:
            raise LifecycleError("EngineManager was stopped; it is not restartable")
        if self._feeder_task is not None:
            return
        try:
            if self._feeder is None:
                self._feeder = self._feeder_factory(list(self.symbols))
            if isinstance(self._feeder, BarSource):
                self._feeder.listen_bars(self)
            # idle engines' heartbeats spread over the second, not all in one loop iteration
            for number, engine in enumerate(self._engines.values(), 1):
                engine.stagger_heartbeat(engine.md_timeout * number / len(self._engines))
                await engine.start()
            self._feeder_task = asyncio.create_task(self._run_feeder(self._feeder), name="md-feeder")
        except BaseException:
            await self.stop()
            raise

    async def _run_feeder(self, feeder: Feeder) -> None:
        """Run the feeder and record how it ended instead of leaving an unretrieved exception."""
        try:
            await feeder.run(self._on_md)
        except Exception as exc:
            if self._stop_task is not None:
                logger.info("feeder raised %r while stopping; ignored", exc)
                return
            self._feeder_error = exc
            logger.error("feeder failed: %r", exc, exc_info=exc)
            return
        if self._stop_task is None:
            logger.warning("feeder ended without being stopped")

    async def run(self) -> None:
        """Start, wait until the feeder ends, stop; re-raise the feeder's failure if any."""
        await self.start()
        assert self._feeder_task is not None
        try:
            await asyncio.wait({self._feeder_task})
        finally:
            await self.stop()
        if self._feeder_error is not None:
            raise self._feeder_error

    async def stop(self) -> None:
        """Close the feeder, then stop the engines, in bounded time; idempotent, concurrent-safe.

        The work runs in one shielded task so a second caller waits for the same shutdown and
        a cancelled caller cannot abandon it half-way.
        """
        if self._stop_task is None:
            self._stop_task = asyncio.create_task(self._stop(), name="engine-manager-stop")
        await asyncio.shield(self._stop_task)

    async def _stop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._stop_timeout

        def remaining() -> float:
            return max(deadline - loop.time(), 0.0)

        if self._feeder is not None:
            await self._bounded(_close(self._feeder), remaining(), "feeder.close()")
        if self._feeder_task is not None:
            await self._bounded(self._feeder_task, remaining(), "feeder.run()")
        await asyncio.gather(*(e.stop(max(remaining(), self._cancel_grace)) for e in self._engines.values()))

    async def _bounded(self, aw: Any, limit_s: float, what: str) -> None:
        """Await ``aw`` for ``limit_s``, then cancel it and allow a short grace period."""
        task = asyncio.ensure_future(aw)
        done, _ = await asyncio.wait({task}, timeout=limit_s)
        if done:
            await wait_bounded(task, 0.0, what)
        else:
            logger.warning("%s still running after %.2fs; cancelling it", what, limit_s)
            await cancel_bounded(task, self._cancel_grace, what)

    async def __aenter__(self) -> EngineManager:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- health ------------------------------------------------------------------------

    def _feeder_state(self) -> str:
        task = self._feeder_task
        if task is None:
            return "stopped" if self._stop_task is not None else "not_started"
        if not task.done():
            return "running"
        if self._feeder_error is not None:
            return "failed"
        return "stopped" if self._stop_task is not None else "ended"

    def stats(self) -> dict[str, Any]:
        """Plain-dict health snapshot: per-symbol engine counters, unrouted md and bars, feeder state."""
        return {
            "engines": {s: e.md_stats for s, e in self._engines.items()},
            "unrouted": self._unrouted,
            "unrouted_bars": self._unrouted_bars,
            "feeder": {
                "state": self._feeder_state(),
                "failed": self._feeder_error is not None,
                "error": repr(self._feeder_error) if self._feeder_error is not None else None,
            },
        }
