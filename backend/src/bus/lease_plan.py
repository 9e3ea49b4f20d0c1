"""Fair-share lease planning: which symbols one feeder node should claim or release this tick.

Why apart from :mod:`.leases`: the plan is a pure function of what the node sees (universe,
its own leases, the taken keys, the live node count), so it is tested and simulated over many
ticks without a server, while :class:`~.leases.SymbolLeases` only does the KV I/O around it.
Each node holds at most ``ceil(len(universe) / live_nodes)``; ties are broken by rendezvous
hashing so nodes prefer different symbols and rarely race for the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass


def fair_share(universe_size: int, live_nodes: int) -> int:
    """Most symbols one node may hold: ``ceil(universe / nodes)``, so the shares cover it."""
    return -(-universe_size // max(live_nodes, 1))


def preference(node_id: str, symbol: str) -> int:
    """Rendezvous score: each node ranks the universe in its own stable order."""
    digest = hashlib.blake2b(f"{node_id}\x00{symbol}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class LeasePlan:
    """What one node does this tick: claim up to ``want`` of ``claim`` (in order), release ``release``."""

    claim: tuple[str, ...]
    want: int
    release: tuple[str, ...]


def plan_leases(
    universe: Sequence[str], owned: Collection[str], taken: Collection[str], live_nodes: int, node_id: str
) -> LeasePlan:
    """Move ``owned`` towards the fair share: release the least preferred surplus, or list the
    free symbols (in ``universe`` and not ``taken`` by anyone) most preferred first."""
    target = fair_share(len(universe), live_nodes)
    rank = {s: preference(node_id, s) for s in universe}
    mine = sorted((s for s in owned if s in rank), key=rank.__getitem__, reverse=True)
    if len(mine) > target:
        return LeasePlan((), 0, tuple(mine[target:]))
    free = sorted(
        (s for s in universe if s not in taken and s not in owned), key=rank.__getitem__, reverse=True
    )
    return LeasePlan(tuple(free), target - len(mine), ())
