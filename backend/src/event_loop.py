"""The event loop a long-running feeder or engine host runs on: uvloop's when it is installed.

Why: one event loop serves every symbol, so its own cost per callback is paid thousands of
times a second. At 2000 symbols uvloop ran the same feeder with less CPU and a shorter
event-loop lag tail than asyncio's loop (``docs/BENCHMARKS.md``, "Scaling"). It is optional
(``pip install 'levibot-backend[uvloop]'``): the library runs on any asyncio loop (the tests run
on asyncio's), and only the entry points choose, through :func:`run`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop's event loop when the ``uvloop`` extra is installed."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        log.debug("uvloop not installed: asyncio's event loop")
        return asyncio.run(main)
    log.debug("uvloop's event loop")
    return uvloop.run(main)
