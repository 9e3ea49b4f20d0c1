"""``BusSubscriber``: the ``Feeder`` an :class:`EngineManager` uses on a host without exchange access.

It implements the manager's feeder protocol (``symbols``, ``run(on_md)``, ``close()``), so
``EngineManager(symbols, feeder=BusSubscriber(url, symbols))`` routes bus md through the same
``push_md`` — and the same drop accounting — as in-process md.

How it reads, per symbol:

* **live md**: a core NATS subscription on the symbol's subject — every md the feeder publishes,
  in publish order. Not a JetStream consumer: the stream keeps one md per subject, and a push
  consumer reads the stream behind the publisher, so in a burst it only sees the md that were
  not replaced yet (measured on nats-server 2.9: 10 of 300 md of a burst). Engines must get the
  same md as in-process, so live md never go through the consumer path.
* **last value**: after subscribing — and again after every reconnect, since core messages sent
  while disconnected are gone — it reads the stream's last md of the subject (the last-per-
  subject value; a direct get when the stream allows it). A late engine host therefore starts
  from the latest md of each symbol, and after an outage resumes from the newest one.

Live and last-value reads can overlap, so every md carries ``Levibot-Source`` (publisher and its
session) and ``Levibot-Seq`` (per symbol): an md not newer than the last delivered one of the
same source is dropped as a ``duplicate``; a jump in the sequence counts the md in between as
``skipped`` (lost while disconnected, or dropped by a full publisher outbox). Other counters:
``received`` (live), ``fetched`` (last values), ``decode_errors``, ``callback_errors`` and
``setup_errors`` (failed subscribe/read attempts, retried).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import NotFoundError

from ..engine.engine import MD
from ..errors import BusClosedError, CodecError
from ..log_limits import RateLimitedLog
from .codec import CODEC_HEADER, SEQ_HEADER, SOURCE_HEADER, decode_md
from .connection import BusClient, ensure_md_stream
from .subjects import MD_STREAM, md_subject

log = logging.getLogger(__name__)

_NATS_ERRORS = (nats.errors.Error, OSError)


class BusSubscriber:
    """Reads the md of ``symbols`` from the bus and hands each md dict to ``on_md``."""

    def __init__(
        self,
        client: BusClient | str,
        symbols: Iterable[str],
        *,
        retry_s: float = 0.5,
        fetch_concurrency: int = 32,
    ) -> None:
        self.client = client if isinstance(client, BusClient) else BusClient(client, name="levibot-engines")
        self._owns_client = not isinstance(client, BusClient)
        self.symbols: list[str] = list(dict.fromkeys(symbols))
        self._subjects = {s: md_subject(s) for s in self.symbols}  # ValueError now, not at run()
        self.retry_s = retry_s
        self.counts = {
            "received": 0,
            "fetched": 0,
            "duplicates": 0,
            "skipped": 0,
            "decode_errors": 0,
            "callback_errors": 0,
            "setup_errors": 0,
        }
        self._fetch_slots = asyncio.Semaphore(fetch_concurrency)
        self._direct = False
        self._last_seq: dict[str, tuple[str, int]] = {}
        self._subs: list[Subscription] = []
        #: set once every symbol is subscribed and its last md (if there is one) was delivered.
        self.ready = asyncio.Event()
        self._resync = asyncio.Event()
        self._closed = asyncio.Event()
        self._error_log = RateLimitedLog(log, 10.0, level=logging.ERROR)

    async def run(self, on_md: Callable[[MD], Any]) -> None:
        """Subscribe every symbol and read the last values (retrying while the server is
        unreachable), then deliver until :meth:`close`, re-reading last values after reconnects."""
        try:
            await self.client.connect()
        except BusClosedError:
            return  # closed before the server was reached
        self.client.on_reconnect(self._resync.set)
        info = await self._retry("ensure the md stream", lambda: ensure_md_stream(self.client.js))
        self._direct = bool(info is not None and info.config.allow_direct)
        for symbol in self.symbols:
            await self._retry(f"subscribe {symbol}", lambda s=symbol: self._subscribe(s, on_md))
        await self._retry("register the subscriptions", lambda: self.client.nc.flush())
        if self._closed.is_set():
            return
        log.info("bus subscriber: %d symbols subscribed on %s", len(self._subs), self.client.url)
        await self._fetch_all(on_md)
        self.ready.set()
        while True:
            await self._resync.wait()  # set by every reconnect, and by close()
            self._resync.clear()
            if self._closed.is_set():
                return
            await self._fetch_all(on_md)

    async def _retry(self, what: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """``attempt()`` until it succeeds (its result) or the subscriber is closed (None)."""
        while not self._closed.is_set():
            try:
                return await attempt()
            except BusClosedError:
                return None
            except _NATS_ERRORS as exc:
                self.counts["setup_errors"] += 1
                self._error_log.event("bus subscriber: cannot %s yet: %r; retrying", what, exc)
                await asyncio.sleep(self.retry_s)
        return None

    async def _subscribe(self, symbol: str, on_md: Callable[[MD], Any]) -> None:
        async def handle(msg: Msg) -> None:
            self.counts["received"] += 1
            await self._deliver(symbol, msg.data, msg.headers or {}, on_md)

        self._subs.append(await self.client.nc.subscribe(self._subjects[symbol], cb=handle))

    async def _fetch_all(self, on_md: Callable[[MD], Any]) -> None:
        await asyncio.gather(*(self._fetch(symbol, on_md) for symbol in self.symbols))

    async def _fetch(self, symbol: str, on_md: Callable[[MD], Any]) -> None:
        """Deliver the stream's last md of ``symbol``, if any (none yet is normal)."""
        async with self._fetch_slots:
            if self._closed.is_set():
                return
            try:
                msg = await self.client.js.get_last_msg(
                    MD_STREAM, self._subjects[symbol], direct=self._direct
                )
            except NotFoundError:
                log.debug("%s: no md on the bus yet", symbol)
                return
            except _NATS_ERRORS as exc:
                self.counts["setup_errors"] += 1
                self._error_log.event("%s: cannot read the last md: %r", symbol, exc)
                return
        self.counts["fetched"] += 1
        await self._deliver(symbol, msg.data or b"", msg.headers or {}, on_md)

    async def _deliver(
        self, symbol: str, payload: bytes, headers: dict[str, str], on_md: Callable[[MD], Any]
    ) -> None:
        try:
            md = decode_md(payload, headers.get(CODEC_HEADER))
        except CodecError as exc:
            self.counts["decode_errors"] += 1
            self._error_log.event(
                "%s: undecodable md (%d so far): %s", symbol, self.counts["decode_errors"], exc
            )
            return
        if not self._is_new(symbol, headers):
            self.counts["duplicates"] += 1
            return
        try:
            result = on_md(md)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.counts["callback_errors"] += 1
            self._error_log.event(
                "%s: on_md failed (%d so far)", symbol, self.counts["callback_errors"], exc_info=True
            )

    def _is_new(self, symbol: str, headers: dict[str, str]) -> bool:
        """False for an md already delivered (or older); counts sequence gaps as skipped."""
        source, seq_text = headers.get(SOURCE_HEADER), headers.get(SEQ_HEADER)
        if source is None or seq_text is None or not seq_text.isdigit():
            return True  # not from a BusPublisher: nothing to compare
        seq = int(seq_text)
        last = self._last_seq.get(symbol)
        if last is not None and last[0] == source:
            if seq <= last[1]:
                return False
            self.counts["skipped"] += seq - last[1] - 1
        self._last_seq[symbol] = (source, seq)
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "symbols": len(self.symbols),
            "subscribed": len(self._subs),
            **self.counts,
            "connection": self.client.stats(),
        }

    async def close(self) -> None:
        """Stop delivering and unsubscribe; closes the connection if this subscriber opened it."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._resync.set()
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except _NATS_ERRORS as exc:
                log.warning("bus subscriber: unsubscribe failed: %r", exc)
        if self._owns_client:
            await self.client.close()
