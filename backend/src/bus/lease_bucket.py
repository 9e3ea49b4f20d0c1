"""The lease bucket on the server: its key names, how a node opens it, how a node scans it.

Why apart from :mod:`.leases`: every node must agree on this layout (key names, TTL, one
history entry), while :class:`~.leases.SymbolLeases` only decides what to claim, renew and
release. Keys: ``node.<id>`` heartbeats and ``sym.<BASE>_<QUOTE>`` leases whose value is the
owner's node id; the bucket's TTL is the lease time.

Why ``stream_info`` for the scan: it lists the bucket's live subjects in one request, where a
KV ``keys()`` would create a consumer per tick; releases purge the key rather than deleting it,
so no delete markers appear in that list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue

from ..errors import BusError
from .connection import STREAM_NAME_IN_USE
from .subjects import symbol_token, token_symbol

log = logging.getLogger(__name__)

LEASE_BUCKET = "levibot_leases"
NODE_PREFIX = "node."
SYMBOL_PREFIX = "sym."


def symbol_key(symbol: str) -> str:
    """The key of ``symbol``'s lease."""
    return SYMBOL_PREFIX + symbol_token(symbol)


def bucket_stream(bucket: str) -> str:
    """nats-py's (and the Go client's) name of a bucket's stream."""
    return f"KV_{bucket}"


def key_subject(bucket: str, key: str) -> str:
    """The stream subject that stores ``key`` of ``bucket``."""
    return f"$KV.{bucket}.{key}"


async def open_bucket(js: JetStreamContext, bucket: str, ttl: float, node_id: str) -> tuple[KeyValue, float]:
    """Create the bucket, or bind to an existing one and adopt its TTL (all nodes must agree).

    Returns the bucket and the TTL in force. A bucket without a TTL (made by hand) would let
    leases live forever: that is a :class:`BusError`, not something to adopt.
    """
    config = KeyValueConfig(
        bucket=bucket,
        description="levibot feeder leases: node.<id> heartbeats, sym.<BASE>_<QUOTE> owners",
        history=1,
        ttl=ttl,
        storage=StorageType.FILE,
    )
    try:
        return await js.create_key_value(config), ttl
    except BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
    kv = await js.key_value(bucket)
    found = (await kv.status()).ttl
    if not found:
        raise BusError(f"lease bucket {bucket} has no TTL; delete it so it can be re-created")
    if found != ttl:
        log.warning("%s: lease bucket %s has ttl %.3gs (asked %.3gs); using it", node_id, bucket, found, ttl)
    return kv, found


@dataclass(frozen=True)
class BucketScan:
    """What one scan saw: live nodes (the scanning node included) and taken symbols."""

    live_nodes: int
    taken: set[str]
    #: lease keys that name no symbol, with why: counted as errors by the caller
    bad_keys: list[tuple[str, ValueError]]


async def scan_bucket(js: JetStreamContext, bucket: str, node_id: str) -> BucketScan:
    """The live heartbeat and lease keys of ``bucket``, read in one request."""
    info = await js.stream_info(bucket_stream(bucket), subjects_filter=key_subject(bucket, ">"))
    prefix = key_subject(bucket, "")
    nodes, taken, bad_keys = {node_id}, set(), []
    for subject in info.state.subjects or {}:
        key = subject.removeprefix(prefix)
        if key.startswith(NODE_PREFIX):
            nodes.add(key.removeprefix(NODE_PREFIX))
        elif key.startswith(SYMBOL_PREFIX):
            try:
                taken.add(token_symbol(key.removeprefix(SYMBOL_PREFIX)))
            except ValueError as exc:
                bad_keys.append((key, exc))
    return BucketScan(len(nodes), taken, bad_keys)
