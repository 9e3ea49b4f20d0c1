"""The entry points' event loop: uvloop's when the optional extra is installed, else asyncio's."""

from __future__ import annotations

import asyncio
import importlib
import sys
import types

import pytest

from backend.src import event_loop


async def loop_class() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_asyncio_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails, as when not installed
    assert event_loop.run(loop_class()).startswith("asyncio")


def test_uvloop_with_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = []
    fake = types.SimpleNamespace(run=lambda main: ran.append(main) or asyncio.run(main))
    monkeypatch.setattr(importlib, "import_module", lambda name: fake)
    event_loop.run(loop_class())
    assert len(ran) == 1  # the main coroutine went to uvloop.run
