"""Many stored messages of one subject in few round trips: JetStream's batch direct get.

Why: an engine host reads each symbol's bar history from the ``LEVIBOT_BARS`` stream before
the symbol's first md. One direct get per bar is one network round trip per bar: about 3
million at the whole universe's scale, which took 6.5 minutes (``docs/BENCHMARKS.md``,
"Scale-out"). A batch direct get — ``{"seq", "next_by_subj", "batch"}`` sent to
``$JS.API.DIRECT.GET.<stream>``, nats-server 2.11 and later — answers up to ``batch``
messages of the subject to one request and ends with a ``204 EOB`` status message. Like a
single direct get it creates no consumer, so an engine host still needs read rights only.

A server that predates batches answers one message without ``Nats-Num-Pending``:
:class:`BatchUnsupportedError` tells the caller to read one message per request instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client as NATS

from ..errors import BatchUnsupportedError, BusError

#: Status header values of the direct get API (``NATS/1.0 <status> <description>``).
_STATUS = "Status"
_END_OF_BATCH = "204"
_NOT_FOUND = "404"
_PENDING = "Nats-Num-Pending"
_SEQUENCE = "Nats-Sequence"


@dataclass(frozen=True)
class StoredMessage:
    """One message of a stream as a direct get returns it."""

    seq: int
    data: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Batch:
    """The messages of one request, oldest first, and how many of the subject remain after
    them (0: the subject is read to its end)."""

    messages: list[StoredMessage]
    pending: int

    @property
    def more(self) -> bool:
        """Whether the subject may hold messages after these."""
        return self.pending > 0


async def next_batch(
    nc: NATS, stream: str, subject: str, first_seq: int, size: int, wait_s: float, prefix: str = "$JS.API"
) -> Batch:
    """Up to ``size`` messages of ``subject`` stored at ``first_seq`` or later, each message
    awaited at most ``wait_s``.

    A batch that stops coming part way (a busy server, or a host whose event loop is busy with
    live messages) returns what came, marked as not read to the end: the caller goes on from
    there, so reads progress under any load. Raises the client's timeout error when nothing
    came, :class:`BatchUnsupportedError` (old server), and ``BusError`` for any other status
    the server answers.
    """
    request = json.dumps({"seq": first_seq, "next_by_subj": subject, "batch": size}).encode()
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(f"{prefix}.DIRECT.GET.{stream}", request, reply=inbox)
        messages: list[StoredMessage] = []
        pending = 0
        while True:
            try:
                msg = await sub.next_msg(timeout=wait_s)
            except nats.errors.TimeoutError:
                if not messages:
                    raise
                return Batch(messages, max(pending, 1))  # cut short: more may follow
            headers = msg.headers or {}
            status = headers.get(_STATUS)
            if status == _END_OF_BATCH or status == _NOT_FOUND:
                return Batch(messages, pending if status == _END_OF_BATCH else 0)
            if status is not None:
                description = headers.get("Description", "")
                raise BusError(f"direct get of {subject} from {stream}: {status} {description}")
            if _PENDING not in headers:
                raise BatchUnsupportedError(f"NATS at {nc.connected_url} answers no batch direct get")
            messages.append(StoredMessage(int(headers[_SEQUENCE]), msg.data, headers))
            pending = int(headers[_PENDING])
    finally:
        await sub.unsubscribe()
