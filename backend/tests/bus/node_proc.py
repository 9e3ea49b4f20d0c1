"""A feeder node with a fake feeder in its own process, so a test can SIGKILL it:
``python -m backend.tests.bus.node_proc NATS_URL NODE_ID LEASE_TTL SYMBOL...``."""

from __future__ import annotations

import asyncio
import logging
import sys

from backend.src.bus.connection import BusClient
from backend.src.bus.node import FeederNode
from backend.tests.bus.fakes import FakeFeeder


async def main(url: str, node_id: str, ttl: float, symbols: list[str]) -> None:
    client = BusClient(url, name=node_id, reconnect_wait=0.1, request_timeout=1.0)
    await FeederNode(client, FakeFeeder(), node_id, symbols, lease_ttl=ttl).run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]))
