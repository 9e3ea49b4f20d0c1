"""Fair-share lease planning: pure, simulated over many ticks without a server."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.src.bus.lease_plan import fair_share, plan_leases, preference

UNIVERSE = [f"S{i}/USDT" for i in range(10)]


def test_fair_share_covers_the_universe() -> None:
    assert fair_share(10, 1) == 10
    assert fair_share(10, 3) == 4
    assert fair_share(9, 3) == 3
    assert fair_share(0, 2) == 0
    assert fair_share(5, 0) == 5  # never divides by zero: a node always counts itself


def test_preference_is_stable_and_node_specific() -> None:
    assert preference("A", "S1/USDT") == preference("A", "S1/USDT")
    order_a = sorted(UNIVERSE, key=lambda s: preference("A", s))
    order_b = sorted(UNIVERSE, key=lambda s: preference("B", s))
    assert order_a != order_b


def test_a_lone_node_claims_everything_free() -> None:
    plan = plan_leases(UNIVERSE, owned=[], taken=["S3/USDT"], live_nodes=1, node_id="A")
    assert plan.release == ()
    assert plan.want == 10
    assert sorted(plan.claim) == sorted(set(UNIVERSE) - {"S3/USDT"})


def test_a_node_over_its_share_releases_its_least_preferred_surplus() -> None:
    plan = plan_leases(UNIVERSE, owned=UNIVERSE, taken=UNIVERSE, live_nodes=3, node_id="A")
    assert plan.want == 0 and plan.claim == ()
    assert len(plan.release) == 6
    kept = set(UNIVERSE) - set(plan.release)
    assert min(preference("A", s) for s in kept) > max(preference("A", s) for s in plan.release)


def test_a_node_at_its_share_does_nothing() -> None:
    owned = UNIVERSE[:5]
    plan = plan_leases(UNIVERSE, owned=owned, taken=UNIVERSE, live_nodes=2, node_id="A")
    assert plan.release == () and plan.want == 0


def simulate(universe: list[str], nodes: list[str], owners: dict[str, str], ticks: int) -> dict[str, str]:
    """Run every node's plan in turn, applying claims the way the KV create would (first wins)."""
    for _ in range(ticks):
        for node in nodes:
            owned = [s for s, n in owners.items() if n == node]
            plan = plan_leases(universe, owned, list(owners), len(nodes), node)
            for symbol in plan.release:
                del owners[symbol]
            for symbol in plan.claim[: plan.want]:
                owners.setdefault(symbol, node)
    return owners


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=40),
    node_count=st.integers(min_value=1, max_value=6),
    head_start=st.integers(min_value=0, max_value=5),
)
def test_nodes_converge_to_a_split_without_overlap_or_holes(
    size: int, node_count: int, head_start: int
) -> None:
    universe = [f"S{i}/USDT" for i in range(size)]
    nodes = [f"node-{i}" for i in range(node_count)]
    # One node held everything before the others joined (the worst imbalance).
    owners = simulate(universe, nodes[:1], {}, head_start)
    owners = simulate(universe, nodes, owners, 3)
    assert sorted(owners) == sorted(universe)  # no hole (a dict key has one owner: no overlap)
    counts = [sum(1 for n in owners.values() if n == node) for node in nodes]
    assert max(counts) <= fair_share(size, node_count)


def test_survivors_take_over_a_dead_nodes_symbols() -> None:
    owners = simulate(UNIVERSE, ["A", "B", "C"], {}, 3)
    dead = {s for s, n in owners.items() if n == "C"}
    assert dead
    survivors = simulate(UNIVERSE, ["A", "B"], {s: n for s, n in owners.items() if n != "C"}, 2)
    assert sorted(survivors) == sorted(UNIVERSE)
    assert set(survivors.values()) == {"A", "B"}
    assert all(survivors[s] == owners[s] for s in UNIVERSE if s not in dead)  # nobody else moved
