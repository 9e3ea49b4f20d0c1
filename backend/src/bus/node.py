"""``FeederNode``: one feeder process on the bus — leases decide its symbols, md go to NATS.

Glue only: the leases call :meth:`DynamicFeeder.add_symbols` for symbols this node acquired
and :meth:`DynamicFeeder.remove_symbols` for those it gives up (before their keys are freed,
so two nodes never stream one symbol); the feeder's md callback is the publisher's ``on_md``,
and a feeder that gives bars (``MarketFeeder``) has the publisher as its bar listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..errors import BusClosedError, BusError
from ..market_data import BarSource
from ..market_data import MarketData as MD
from ..tasks import cancel_bounded, wait_bounded
from .connection import BusClient
from .leases import SymbolLeases
from .publisher import BusPublisher

log = logging.getLogger(__name__)


class DynamicFeeder(Protocol):
    """What a node needs from ``MarketFeeder(..., dynamic=True)`` (and what test fakes implement)."""

    symbols: list[str]
    failed: dict[str, str]

    async def run(self, on_md: Callable[[MD], Any]) -> None: ...

    async def add_symbols(self, symbols: list[str]) -> object: ...

    async def remove_symbols(self, symbols: list[str]) -> object: ...

    async def close(self) -> None: ...


class FeederNode:
    """Runs leases, a dynamic feeder and a publisher on one NATS connection until closed."""

    def __init__(
        self,
        client: BusClient,
        feeder: DynamicFeeder,
        node_id: str,
        universe: Iterable[str],
        *,
        lease_ttl: float = 10.0,
        outbox_size: int = 10_000,
        stop_timeout: float = 5.0,
    ) -> None:
        self.client = client
        self.stop_timeout = stop_timeout
        self.feeder = feeder
        self.node_id = node_id
        self.publisher = BusPublisher(client, source=node_id, outbox_size=outbox_size)
        if isinstance(feeder, BarSource):
            feeder.listen_bars(self.publisher)
        self.leases = SymbolLeases(client, node_id, universe, self._acquired, self._released, ttl=lease_ttl)
        self._close_task: asyncio.Task[None] | None = None

    async def _acquired(self, symbols: list[str]) -> None:
        await self.feeder.add_symbols(symbols)
        failed = {s: self.feeder.failed[s] for s in symbols if s in self.feeder.failed}
        if failed:
            log.error("%s: leased symbols the feeder cannot stream (lease kept): %s", self.node_id, failed)

    async def _released(self, symbols: list[str]) -> None:
        await self.feeder.remove_symbols(symbols)

    async def run(self) -> None:
        """Connect, start publisher, feeder and leases; return after :meth:`close` or raise what
        ended the feeder or the leases early (after closing the rest)."""
        try:
            await self.client.connect()
        except BusClosedError:
            log.info("%s: closed before NATS answered", self.node_id)
            return
        await self.publisher.start()
        tasks = [
            asyncio.create_task(self.feeder.run(self.publisher.on_md), name=f"node-feeder:{self.node_id}"),
            asyncio.create_task(self.leases.run(), name=f"node-leases:{self.node_id}"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            if self._close_task is None:
                raise BusError(f"{sorted(t.get_name() for t in done)} ended before the node was closed")
        finally:
            await self.close()
            for task in tasks:  # both end once closed; bounded so a stuck one cannot hang shutdown
                if not await wait_bounded(task, self.stop_timeout, task.get_name()):
                    await cancel_bounded(task, 1.0, task.get_name())

    async def close(self) -> None:
        """Release the leases (the feeder stops those symbols first), then close the feeder, the
        publisher (publishing what is queued) and the connection; idempotent, concurrent-safe."""
        if self._close_task is None:
            self._close_task = asyncio.create_task(self._close(), name=f"node-close:{self.node_id}")
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        await self.leases.close()
        await self.feeder.close()
        await self.publisher.close()
        await self.client.close()
        log.info("%s: node closed", self.node_id)

    def stats(self) -> dict[str, Any]:
        return {"leases": self.leases.stats(), "publisher": self.publisher.stats()}
