"""``RestClient``: the adapter's one ccxt REST client, its retries and the shared rate-limit pause.

Why apart: every REST caller (bootstrap, backfill, stats, quiet probes, market reloads) goes
through :meth:`RestClient.retry`, so a 429/418 seen by one of them pauses all of them, and
hundreds of concurrent bootstraps back off together instead of earning an IP ban.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import ccxt
import ccxt.async_support as ccxt_async

from ...backoff import log_and_sleep
from ...errors import UnknownSymbolError
from ..transient import is_rate_limit, is_transient
from . import ccxt_compat
from .runtime import MexcRuntime

log = logging.getLogger(__name__)

T = TypeVar("T")


class RestClient:
    """The lazily created ccxt REST client and the retry every request goes through."""

    def __init__(self, runtime: MexcRuntime) -> None:
        self._runtime = runtime
        self._client: ccxt_async.mexc | None = None
        #: loop time before which no REST request goes out: set by a 429/418 for every caller.
        self._pause_until = 0.0

    @property
    def client(self) -> ccxt_async.mexc:
        """The REST client, created on first use (constructing the adapter does no I/O)."""
        self._runtime.ensure_open()
        if self._client is None:
            self._client = ccxt_async.mexc(self._runtime.config.ccxt_options())
            if self._runtime.recorder is not None:
                self._runtime.recorder.watch_rest(self._client)
        return self._client

    def _retry_after_s(self) -> float:
        """Seconds from the last response's ``Retry-After`` header (MEXC sends it with 429)."""
        value = ccxt_compat.retry_after_header(self._client)
        try:
            return float(value) if value is not None else 0.0
        except ValueError:
            return 0.0

    async def retry(self, op: str, call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run a REST call, retrying transient failures with backoff, at most ``rest_attempts``.

        ``BadSymbol`` is translated to :class:`UnknownSymbolError` and never retried; any other
        non-transient ccxt error propagates unchanged.
        """
        attempts = self._runtime.config.rest_attempts
        backoff = self._runtime.backoff_factory()
        loop = asyncio.get_running_loop()
        for attempt in range(1, attempts + 1):
            # a deadline other callers may push further while we sleep, not a one-shot event
            while (pause := self._pause_until - loop.time()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(pause)
            try:
                result = await call(*args, **kwargs)
            except ccxt.BadSymbol as exc:
                symbol = str(args[0]) if args else "?"
                raise UnknownSymbolError(symbol, f"rejected by MEXC: {exc}") from exc
            except Exception as exc:
                if not is_transient(exc) or attempt == attempts:
                    raise
                floor = 0.0
                if is_rate_limit(exc):  # everyone waits, at least a second, Retry-After if longer
                    floor = max(self._retry_after_s(), 1.0)
                    self._pause_until = max(self._pause_until, loop.time() + floor)
                self._runtime.counters[(op, f"retry.{type(exc).__name__}")] += 1
                await log_and_sleep(backoff, log, op, exc, floor)
            else:
                backoff.success()
                return result
        raise AssertionError("unreachable")  # the loop returns or raises

    async def fetch_time(self, samples: int = 3) -> int:
        """Exchange time in ms; each call also refines the clock offset (see ``time_sync``)."""
        runtime = self._runtime  # its clock is read after every await: a benchmark may swap it
        for _ in range(samples):
            sent = time.time() * 1000.0
            server = await self.retry("fetch_time", self.client.fetch_time)
            runtime.clock.add_sample(sent, float(server), time.time() * 1000.0)
        offset = runtime.clock.offset_ms
        if abs(offset) > runtime.config.clock_warn_ms:
            log.warning("local clock is %.0f ms off MEXC's; using exchange time", offset)
        return runtime.clock.now_ms()

    def detach(self) -> ccxt_async.mexc | None:
        """The client to close, if one was made; the adapter is closing and makes no other."""
        client, self._client = self._client, None
        return client
