"""The collector's settings: set by the application entry points once bootstrapped, never by
the library (``gc_policy``)."""

from __future__ import annotations

import ast
import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.src import gc_policy
from backend.src.data.bootstrap import BootstrapProgress as Progress
from backend.src.gc_policy import AfterBootstrap

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "backend" / "src"
#: the application entry points that build a feeder for a long run
ENTRY_POINTS = {ROOT / "backend" / "cli.py", SRC / "bus" / "cli.py"}
#: ``gc`` calls that change the collector for the whole process
SETTERS = {"freeze", "unfreeze", "set_threshold", "disable", "enable", "set_debug"}


def names_used(path: Path) -> tuple[set[str], set[str]]:
    """``gc.<setter>`` calls and ``gc_policy`` names imported in ``path``."""
    calls, imported = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        on_gc = isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "gc"
        if on_gc and node.attr in SETTERS:
            calls.add(node.attr)
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("gc_policy"):
            imported.update(alias.name for alias in node.names)
    return calls, imported


def test_only_gc_policy_changes_the_collector_and_only_entry_points_apply_it() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        calls, imported = names_used(path)
        if calls and path != SRC / "gc_policy.py":
            offenders.append(f"{path.relative_to(ROOT)} calls gc.{sorted(calls)}")
        if imported and path not in ENTRY_POINTS:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(imported)} from gc_policy")
    assert offenders == []
    for entry in ENTRY_POINTS:  # and the entry points do apply it
        assert "AfterBootstrap" in names_used(entry)[1], entry


def test_settles_at_each_doubling_and_when_the_first_bootstrap_ends() -> None:
    settled, seen = [], []
    after = AfterBootstrap(lambda p, s: seen.append(s), settle=lambda: settled.append(after.settled_at))
    progress = Progress(total=3)
    for symbol in ("A", "B"):
        progress.ready += 1
        after(progress, symbol)
    assert settled == []  # one bootstrap still running, and too few to double anything
    progress.failed += 1
    after(progress, "C")
    assert settled == [2] and seen == ["A", "B", "C"]  # the end; the progress bar saw every step
    progress.total = 80  # more symbols (a bus node's next leases)
    for n in range(3, 70):
        progress.ready = n
        after(progress, f"S{n}")
    assert settled == [2, gc_policy.FIRST_SETTLE, 2 * gc_policy.FIRST_SETTLE, 4 * gc_policy.FIRST_SETTLE]
    progress.ready = 78  # all 80 finished: no end-of-bootstrap settle a second time, no doubling
    after(progress, "last")
    assert len(settled) == 4


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_freezes_the_heap_and_sets_the_thresholds(restored_gc: None) -> None:
    survivor = [object() for _ in range(10)]
    gc_policy.settle()
    assert gc.get_freeze_count() > len(survivor) and gc.get_threshold() == gc_policy.THRESHOLDS


def young() -> int:
    return len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))


@pytest.mark.asyncio
async def test_settled_loop_collects_the_young_generations_on_a_clock(restored_gc: None) -> None:
    """Waits replaced as fast as they are made (the streams', the engines') keep CPython's
    allocation count still while the young generations fill; the timed collection walks them
    once and moves them on."""
    waits = [[-1] for _ in range(20_000)]
    gc_policy.settle()
    gc_policy.settle()  # a second settle (the next doubling) starts no second timer
    middle = gc.get_stats()[1]["collections"]
    for i in range(len(waits)):  # each new wait replaces an old one
        waits[i] = [i]
    assert young() >= 15_000  # no collection started by itself
    await asyncio.sleep(5.5 * gc_policy.YOUNG_EVERY)
    assert 4 <= gc.get_stats()[1]["collections"] - middle <= 7  # one every YOUNG_EVERY s
    assert young() < 2_000
