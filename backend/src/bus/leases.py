"""Symbol leases in a JetStream key-value bucket: N feeders share one symbol universe.

Every feeder node runs :class:`SymbolLeases` over the bucket ``levibot_leases``, whose TTL is
the lease time:

* ``node.<id>`` is the node's heartbeat, re-put every ``ttl/3``; the live nodes are the
  heartbeat keys that have not expired.
* ``sym.<BASE>_<QUOTE>`` is a symbol's lease, value = owner node id. A node claims a free
  symbol with a KV *create* (the server refuses it when the key exists: no two owners) and
  renews it every ``ttl/3`` with an *update* on the revision it holds (refused once someone
  else holds the key). A node that dies stops renewing; the server drops its keys after
  ``ttl`` and the others claim the symbols at their next tick: takeover within about
  ``4/3·ttl`` plus the new owner's bootstrap.
* Each node holds at most its fair share ``ceil(len(universe) / live_nodes)`` (a pure
  function, :func:`.lease_plan.plan_leases`): when a node joins, the others release their
  surplus; when one leaves, the others' share grows and they claim its symbols. Ties are broken
  by rendezvous hashing so nodes prefer different symbols and rarely race for the same key.

No overlap: a symbol is handed to the feeder only after its key was created, taken from the
feeder before its key is purged, and dropped locally (``on_release``) once its last successful
renewal is older than ``ttl - ttl/6`` — before the server can expire it and let another node
take it. Such a lease is then *unsure*: the key may still be ours (a renewal that timed out but
landed, or a NATS restart shorter than the TTL) and is re-adopted at the next tick if so. At
start every taken key is unsure too, so a node restarted under the same id takes its symbols
back at once instead of waiting for its old leases to expire.

Self-healing: a server restarted with an empty store (or a deleted bucket) shows up as the
heartbeat or the scan finding no stream; the node then re-creates the bucket with its settings
and claims again (its leases, re-taken with a create, stay its own). A bucket without a TTL
(made by hand) would let leases live forever: that is a clear error, not something to adopt.

The bucket's layout (key names, creating or binding it, scanning it) is :mod:`.lease_bucket`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.js.errors import (
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoStreamResponseError,
    NotFoundError,
)
from nats.js.kv import KeyValue

from ..errors import UsageError
from ..log_limits import RateLimitedLog
from .connection import BusClient
from .lease_bucket import (
    LEASE_BUCKET,
    NODE_PREFIX,
    BucketScan,
    bucket_stream,
    key_subject,
    open_bucket,
    scan_bucket,
    symbol_key,
)
from .lease_plan import plan_leases

log = logging.getLogger(__name__)

_NODE_ID = re.compile(r"[A-Za-z0-9_-]+")

Callback = Callable[[list[str]], Awaitable[None]]
_NATS_ERRORS = (nats.errors.Error, OSError)
#: What a KV call on a bucket whose stream is gone raises (put: nobody answers; info: 404).
_BUCKET_GONE = (nats.errors.NoRespondersError, NoStreamResponseError, NotFoundError)


# ---- the lease table ---------------------------------------------------------------------


@dataclass
class _Lease:
    revision: int
    valid_until: float  # event-loop time after which another node may legally hold the key


class SymbolLeases:
    """This node's leases over ``universe``; calls ``on_acquire``/``on_release`` as they change."""

    def __init__(
        self,
        client: BusClient,
        node_id: str,
        universe: Iterable[str],
        on_acquire: Callback,
        on_release: Callback,
        *,
        ttl: float = 10.0,
        bucket: str = LEASE_BUCKET,
        retry_s: float = 0.5,
    ) -> None:
        if not _NODE_ID.fullmatch(node_id):
            raise UsageError(f"node id {node_id!r}: use letters, digits, '_' or '-'")
        if ttl <= 0:
            raise UsageError(f"lease ttl must be > 0, got {ttl}")
        self.client = client
        self.node_id = node_id
        self.universe = list(dict.fromkeys(universe))
        self._keys = {s: symbol_key(s) for s in self.universe}
        self._on_acquire = on_acquire
        self._on_release = on_release
        self.ttl = ttl
        self.bucket = bucket
        self.retry_s = retry_s
        self.live_nodes = 0
        self.counts = {"claimed": 0, "released": 0, "lost": 0, "expired": 0, "adopted": 0, "errors": 0}
        self._value = node_id.encode()
        self._leases: dict[str, _Lease] = {}
        self._unsure: set[str] = set()
        self._scanned = False
        self._kv: KeyValue | None = None
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._error_log = RateLimitedLog(log, 10.0)

    @property
    def owned(self) -> list[str]:
        return sorted(self._leases)

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def _error(self, what: str, exc: BaseException) -> None:
        self.counts["errors"] += 1
        self._error_log.event(
            "%s: %s failed (%d lease errors so far): %s: %s",
            self.node_id,
            what,
            self.counts["errors"],
            type(exc).__name__,
            exc,
        )

    # ---- loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Open the bucket, then tick every ``ttl/3`` until :meth:`close`."""
        self._running = True
        try:
            await self.client.connect()
            while not self._stop.is_set():
                if self._kv is None:
                    try:
                        self._kv, self.ttl = await open_bucket(
                            self.client.js, self.bucket, self.ttl, self.node_id
                        )
                    except _NATS_ERRORS as exc:
                        self._error("opening the lease bucket", exc)
                        await self._drop(self._expired(self._loop_time()), reason="expired")
                        await self._sleep(self.retry_s)
                        continue
                started = self._loop_time()
                await self._tick()
                wake = min([started + self.ttl / 3, *(lease.valid_until for lease in self._leases.values())])
                await self._sleep(wake - self._loop_time())
        finally:
            self._stopped.set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once on :meth:`close`."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=max(seconds, 0.0))
        except TimeoutError:
            pass

    async def _tick(self) -> None:
        """Renew, heartbeat, scan; then release the surplus and claim up to the fair share."""
        assert self._kv is not None
        sent = self._loop_time()
        await self._drop(self._expired(sent), reason="expired")
        scan: BucketScan | None = None
        lost: list[str] = []
        try:
            async with asyncio.timeout_at(self._deadline()):
                lost = await self._renew_all(sent)
                await self._kv.put(NODE_PREFIX + self.node_id, self._value)
                scan = await scan_bucket(self.client.js, self.bucket, self.node_id)
        except (TimeoutError, *_NATS_ERRORS) as exc:  # also the deadline: expired leases drop next tick
            self._error("renew/heartbeat/scan", exc)
            if isinstance(exc, _BUCKET_GONE):
                log.warning("%s: lease bucket %s is gone; re-creating it", self.node_id, self.bucket)
                self._kv = None
        await self._drop(lost, reason="lost")
        if scan is None:
            return
        for key, exc in scan.bad_keys:
            self._error(f"reading lease key {key!r}", exc)
        self.live_nodes, taken = scan.live_nodes, scan.taken
        first_scan = not self._scanned
        if first_scan:  # a restart under the same id finds its unexpired keys taken
            self._scanned = True
            self._unsure |= taken & set(self.universe)
        plan = plan_leases(self.universe, self._leases, taken, self.live_nodes, self.node_id)
        # Nodes started in the same moment have not all put their heartbeats at a node's first
        # scan: a node claiming then would see itself (nearly) alone, take (nearly) the whole
        # universe, bootstrap it and release most of it a tick later. It claims from its second
        # tick on; its own keys (a restart under the same id) it adopts at once.
        claims = () if first_scan else plan.claim
        if plan.release:
            await self.release(list(plan.release))
        acquired: list[str] = []
        try:
            async with asyncio.timeout_at(self._deadline()):
                acquired += await self._adopt(sent)
                for symbol in claims:
                    if len(acquired) >= plan.want:
                        break
                    if await self._acquire(symbol, sent):
                        acquired.append(symbol)
                        self.counts["claimed"] += 1
        except (TimeoutError, *_NATS_ERRORS) as exc:
            self._error("claim", exc)
        if acquired:
            log.info(
                "%s: acquired %s (%d owned, %d live nodes)",
                self.node_id,
                acquired,
                len(self._leases),
                self.live_nodes,
            )
            await self._on_acquire(acquired)

    def _deadline(self) -> float | None:
        """Network work must end before the earliest lease could expire on the server."""
        return min((lease.valid_until for lease in self._leases.values()), default=None)

    def _expired(self, now: float) -> list[str]:
        return [s for s, lease in self._leases.items() if lease.valid_until <= now]

    async def _drop(self, symbols: list[str], *, reason: str) -> None:
        """Stop streaming leases we can no longer prove we hold (no purge: they may not be ours)."""
        if not symbols:
            return
        for symbol in symbols:
            del self._leases[symbol]
            if reason == "expired":
                self._unsure.add(symbol)
        self.counts[reason] += len(symbols)
        log.warning("%s: lease %s: %s", self.node_id, reason, symbols)
        await self._on_release(symbols)

    async def _each(
        self, what: str, items: list[str], attempt: Callable[[str], Awaitable[Any]]
    ) -> list[tuple[str, Any]]:
        """Run ``attempt`` for every item concurrently; (item, result) of those that did not
        fail with a NATS error (those are counted and logged; any other error propagates)."""
        results = await asyncio.gather(*(attempt(item) for item in items), return_exceptions=True)
        done = []
        for item, result in zip(items, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, _NATS_ERRORS):
                    raise result
                self._error(f"{what} {item}", result)
            else:
                done.append((item, result))
        return done

    async def _renew_all(self, sent: float) -> list[str]:
        """Renew every lease concurrently; returns the ones another node now holds."""
        renewed = await self._each("renew", list(self._leases), lambda s: self._renew(s, sent))
        return [symbol for symbol, held in renewed if not held]

    async def _renew(self, symbol: str, sent: float) -> bool:
        assert self._kv is not None
        lease = self._leases[symbol]
        try:
            revision: int | None = await self._kv.update(self._keys[symbol], self._value, last=lease.revision)
        except KeyWrongLastSequenceError:  # expired, or an earlier renewal landed unseen
            revision = await self._take_key(symbol)
        if revision is None:
            return False
        lease.revision = revision
        lease.valid_until = sent + self.ttl * 5 / 6
        return True

    async def _adopt(self, sent: float) -> list[str]:
        """Take back unsure leases whose key still names this node (or that are free now)."""
        tried = await self._each("adopt", sorted(self._unsure), lambda s: self._acquire(s, sent))
        adopted = [symbol for symbol, taken in tried if taken]
        self.counts["adopted"] += len(adopted)
        return adopted

    async def _acquire(self, symbol: str, sent: float) -> bool:
        """Claim ``symbol`` (or re-take its key if it names us). The symbol is unsure while the
        request is in flight: a cancelled create may still have landed."""
        self._unsure.add(symbol)
        revision = await self._take_key(symbol)
        self._unsure.discard(symbol)
        if revision is None:
            return False
        self._leases[symbol] = _Lease(revision, sent + self.ttl * 5 / 6)
        return True

    async def _take_key(self, symbol: str) -> int | None:
        """Create the key; if it exists and names this node, update it. Revision, or None."""
        assert self._kv is not None
        key = self._keys[symbol]
        try:
            return await self._kv.create(key, self._value)
        except KeyWrongLastSequenceError:
            pass
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:  # expired in between; claimable at the next tick
            return None
        if entry.value != self._value:
            return None
        try:
            return await self._kv.update(key, self._value, last=entry.revision)
        except KeyWrongLastSequenceError:
            return None

    # ---- release -----------------------------------------------------------------------

    async def release(self, symbols: list[str]) -> None:
        """Hand ``symbols`` back: stop streaming them first, then purge their keys."""
        symbols = [s for s in symbols if s in self._leases]
        if not symbols:
            return
        leases = {s: self._leases.pop(s) for s in symbols}
        self.counts["released"] += len(symbols)
        log.info("%s: releasing %s", self.node_id, symbols)
        await self._on_release(symbols)
        now = self._loop_time()
        # Purging a key we may no longer hold would free another node's lease.
        keys = [self._keys[s] for s, lease in leases.items() if lease.valid_until > now]
        await self._purge(keys)

    async def _purge(self, keys: list[str]) -> None:
        """Delete ``keys`` without leaving delete markers; offline, they expire after the TTL."""
        if not keys:
            return
        if not self.client.connected:
            log.warning(
                "%s: offline, %d lease keys expire in %.3gs instead", self.node_id, len(keys), self.ttl
            )
            return
        js, stream = self.client.js, bucket_stream(self.bucket)
        await self._each(
            "purge", keys, lambda k: js.purge_stream(stream, subject=key_subject(self.bucket, k))
        )

    def stats(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "ttl": self.ttl,
            "live_nodes": self.live_nodes,
            "owned": self.owned,
            **self.counts,
        }

    async def close(self) -> None:
        """Stop the loop, release every lease and remove this node's heartbeat; idempotent."""
        self._stop.set()
        if self._running:
            await self._stopped.wait()
        await self.release(list(self._leases))
        if self._kv is not None:
            await self._purge([NODE_PREFIX + self.node_id])
