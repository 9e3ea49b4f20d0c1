"""``ShardPool``: which connection carries a symbol does not depend on who asks first."""

from __future__ import annotations

import pytest

from backend.src.adapters.mexc.shards import ShardPool
from backend.src.adapters.mexc_ccxt import MexcAdapter, MexcConfig

SYMBOLS = [f"S{i}/USDT" for i in range(5)]


def pool_of(adapter: MexcAdapter) -> ShardPool:
    """A pool whose market table is empty (these clients never connect): no REST call."""

    async def load_markets() -> None:
        adapter.rest.set_markets([])

    return ShardPool(adapter, adapter._rest, load_markets)


@pytest.mark.asyncio
async def test_reserved_symbols_keep_their_shards_whatever_order_their_streams_start() -> None:
    adapter = MexcAdapter(SYMBOLS, config=MexcConfig(symbols_per_connection=2))
    pool = pool_of(adapter)
    pool.reserve(SYMBOLS)
    try:
        last = await pool.ws(SYMBOLS[4])  # the last shard's stream asks first
        assert list(pool.entries) == [0, 1, 2]  # clients made in shard order all the same
        assert last is pool.entries[2][0]
        assert await pool.ws(SYMBOLS[1]) is pool.entries[0][0]
        assert await pool.ws(SYMBOLS[2]) is await pool.ws(SYMBOLS[3]) is pool.entries[1][0]
        pool.reserve([SYMBOLS[0], "NEW/USDT"])  # known symbols stay; a new one takes a free slot
        assert await pool.ws(SYMBOLS[0]) is pool.entries[0][0]
        assert await pool.ws("NEW/USDT") is last
        assert len(pool.entries) == 3
    finally:
        for client, _ in pool.entries.values():
            await client.close()
        await adapter.close()


@pytest.mark.asyncio
async def test_an_unreserved_symbol_takes_the_lowest_free_slot_when_it_first_streams() -> None:
    adapter = MexcAdapter(SYMBOLS, config=MexcConfig(symbols_per_connection=2))
    pool = pool_of(adapter)
    try:
        second = await pool.ws(SYMBOLS[3])
        first = await pool.ws(SYMBOLS[0])
        assert first is second and list(pool.entries) == [0]
        assert await pool.ws(SYMBOLS[1]) is pool.entries[1][0]
    finally:
        for client, _ in pool.entries.values():
            await client.close()
        await adapter.close()
