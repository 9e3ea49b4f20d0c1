"""``ReplayFeeder``: a recorded session fed again through the production md path.

It plugs into ``EngineManager(symbols, feeder=ReplayFeeder(dir))`` as any feeder does
(``symbols``, ``run(on_md)``, ``close()``), and builds the same ``MarketFeeder`` and
``MexcAdapter`` the live session had (their recorded configs), on a network that is the
recording (``transport``) and a clock that is the recording's (``virtual_time``). So every
frame goes through the same decode → record → validation → ``SymbolState`` → md code, at the
instant it was received, and timers (watchdogs, quiet probes, stale marks, backoffs, clock
resyncs, backfills) fire on the same clock: a backtest with the production path, and an
incident reproduced offline.

The replay must run on its own event loop, the one :meth:`ReplayFeeder.runner` makes::

    feeder = ReplayFeeder("recordings/", speed=None)          # None: as fast as it computes
    with feeder.runner() as runner:
        runner.run(EngineManager(feeder.symbols, feeder=feeder).run())

What is exact and what is not is stated in docs/RECORDING.md ("Exactness").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..adapters.mexc.config import MexcConfig
from ..adapters.mexc_ccxt import MexcAdapter
from ..adapters.mexc_universe import UniverseSpec
from ..backoff import Backoff
from ..data.feeder_config import FeederConfig
from ..data.market_feeder import MarketFeeder, MdCallback
from ..errors import RecordingError, UsageError
from .hooks import seeded_backoffs
from .marks import ReplayPacer
from .reader import RecordingReader
from .transport import ReplayTransport, ReplayWire
from .virtual_time import VirtualClock, VirtualTimeLoop, patched_time, sleep_until

log = logging.getLogger(__name__)


def _fields(cls: type, recorded: dict[str, Any]) -> dict[str, Any]:
    """The recorded fields ``cls`` (a config dataclass) still has."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in recorded.items() if k in names}


class ReplayFeeder:
    """A feeder that replays the session recorded in ``directory`` (see the module doc).

    ``speed``: None replays as fast as the md path computes; N paces it at N times the
    recorded speed. ``symbols`` only filters what reaches ``on_md``: the whole session is
    always replayed, since its connections carried every symbol. ``backoff_factory`` is needed
    only for a session recorded with a custom one (the recording notes the default's seed).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        speed: float | None = None,
        *,
        symbols: list[str] | None = None,
        session: str | None = None,
        backoff_factory: Callable[[], Backoff] | None = None,
    ) -> None:
        if speed is not None and not speed > 0:
            raise UsageError(f"speed must be positive (or None for as fast as possible), got {speed!r}")
        self.speed = speed
        self.reader = RecordingReader(directory, session)
        self._records = self.reader.records()
        self._head: list[dict[str, Any]] = []
        self._meta = self._read_meta()
        adapter_meta = self._meta.get("adapter")
        if adapter_meta is None:
            raise RecordingError(f"session {self.reader.session} has no adapter record: nothing to rebuild")
        self.recorded_symbols: list[str] = list(adapter_meta["symbols"])
        self.symbols = (
            list(symbols) if symbols else list(self._feeder_meta().get("symbols", self.recorded_symbols))
        )
        self._wanted = set(self.symbols) if symbols else None
        self._backoff_factory = backoff_factory
        self.clock = VirtualClock(self._head[0]["t"] if self._head else time.time_ns())
        self.delivered = 0
        self.transport: ReplayTransport | None = None
        self.feeder: MarketFeeder | None = None
        self._stopped: asyncio.Event | None = None

    def _read_meta(self) -> dict[str, dict[str, Any]]:
        """The ``meta`` records the session starts with (kept: they begin the timeline)."""
        meta: dict[str, dict[str, Any]] = {}
        for record in self._records:
            self._head.append(record)
            if record["type"] != "meta":
                break
            meta[str(record.get("kind"))] = record
        return meta

    def _feeder_meta(self) -> dict[str, Any]:
        return self._meta.get("feeder", {})

    @contextlib.contextmanager
    def runner(self) -> Iterator[asyncio.Runner]:
        """An ``asyncio.Runner`` on this replay's virtual time; ``time`` reads it meanwhile."""
        with patched_time(self.clock), asyncio.Runner(loop_factory=self._loop) as runner:
            yield runner

    def _loop(self) -> VirtualTimeLoop:
        return VirtualTimeLoop(self.clock, self.speed)

    # ------------------------------------------------------------------ building
    def _adapter(self, transport: ReplayTransport) -> MexcAdapter:
        meta = self._meta["adapter"]
        config = MexcConfig(**_fields(MexcConfig, meta.get("config", {})))
        ccxt_config = {**config.ccxt_config, "session": transport.session()}
        config = dataclasses.replace(config, record_dir=None, ccxt_config=ccxt_config)
        custom = self._backoff_factory
        wire = ReplayWire(transport)
        factory = custom or Backoff
        adapter = MexcAdapter(self.recorded_symbols, config=config, wire=wire, backoff_factory=factory)
        if custom is None:  # the default backoffs, seeded as they were live
            seed = meta.get("backoff_seed")
            if seed is None:
                log.warning("recorded with a custom backoff factory and none given: reconnects may differ")
            adapter.backoff_factory = seeded_backoffs(int(seed or 0))
        if (seed := meta.get("seed")) is not None:  # the streams' jitter draws as it drew live
            adapter.seed = int(seed)
        # timer-driven steps where live took them, among the stream results (``pacing``)
        adapter.pacer = transport.pacer = ReplayPacer(lambda: adapter.yielded, transport.stats)
        return adapter

    def _feeder(self, adapter: MexcAdapter) -> MarketFeeder:
        meta = self._feeder_meta()
        config = FeederConfig(**_fields(FeederConfig, meta.get("config", {})))
        universe = meta.get("universe")
        spec = None
        if universe is not None:
            spec = UniverseSpec(**{**universe, "exclude": frozenset(universe.get("exclude", ()))})
        symbols = list(meta.get("symbols", self.recorded_symbols))
        # clock: time.monotonic looked up now, inside the replay, not the import-time default
        return MarketFeeder(symbols, adapter=adapter, config=config, clock=time.monotonic, universe=spec)

    # ------------------------------------------------------------------ Feeder protocol
    async def run(self, on_md: MdCallback) -> None:
        """Replay the session into ``on_md``; return when the recording's end is reached."""
        loop = asyncio.get_running_loop()
        if not isinstance(loop, VirtualTimeLoop) or loop.clock is not self.clock:
            raise UsageError("a replay runs on its own clock: use ReplayFeeder.runner() (see its doc)")
        self.transport = transport = ReplayTransport()
        self._stopped = asyncio.Event()
        self.feeder = feeder = self._feeder(self._adapter(transport))
        records = itertools.chain(self._head, self._records)
        pump = asyncio.create_task(transport.pump(records, self.clock.time_ns), name="replay-pump")
        streams = asyncio.create_task(feeder.run(self._deliver(on_md)), name="replay-feeder")
        end = asyncio.create_task(self._until_end(transport), name="replay-end")
        pending = {streams, end, pump}
        try:  # until the end, the feeder failing, or the recording failing to read
            while end in pending and streams in pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if pump in done and pump.exception() is not None:
                    break
        finally:
            reached_end = end.done() and not end.cancelled()
            await feeder.close()
            for task in (pump, end, streams):
                task.cancel()
            await asyncio.gather(pump, end, streams, return_exceptions=True)
        for task in (pump, streams):
            error = None if task.cancelled() else task.exception()
            if error is not None and not reached_end:
                raise error
        log.info("replay of %s done: %s", self.reader.session, self.stats())

    async def _until_end(self, transport: ReplayTransport) -> None:
        """Until the recording's last instant (its ``stop``), or :meth:`close`."""
        assert self._stopped is not None
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({transport.end, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if transport.end.done():
                await sleep_until(transport.end.result())
        finally:
            stopped.cancel()

    def _deliver(self, on_md: MdCallback) -> MdCallback:
        """``on_md`` for the wanted symbols, counted."""
        wanted = self._wanted

        async def deliver(md: dict[str, Any]) -> None:
            if wanted is not None and md["symbol"] not in wanted:
                return
            self.delivered += 1
            result = on_md(md)
            if inspect.isawaitable(result):
                await result

        return deliver

    async def close(self) -> None:
        """End the replay early (the feeder is closed by :meth:`run` on its way out)."""
        if self._stopped is not None:
            self._stopped.set()

    def stats(self) -> dict[str, Any]:
        """md delivered, the reader's counters and what the replay could not match."""
        transport = dataclasses.asdict(self.transport.stats) if self.transport is not None else {}
        return {"md": self.delivered, "reader": self.reader.summary(), "transport": transport}
