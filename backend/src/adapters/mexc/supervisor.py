"""``Supervisor``: keeps one stream alive: reconnects, watchdog, quiet-market probes.

Why apart: the loop is the subtle part of the adapter (a silent stream may be dead, or its
market quiet; a cached push may be newer than the one awaited), and its state is now one
:class:`SubscriptionState` whose named transitions say what each event means, instead of
four variables reassigned together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import ccxt

from ...backoff import log_and_sleep
from ...errors import StaleStreamError, UnknownSymbolError
from ...jitter import Jitter
from ...market_data import Channel
from ...timer_wheel import TimerWheel
from ..mexc_quiet import QUIET_SPREAD, Verdict
from ..mexc_ws_client import MexcWsClient
from ..transient import is_transient
from . import ccxt_compat
from .runtime import MexcRuntime
from .shards import ShardPool

log = logging.getLogger(__name__)

T = TypeVar("T")
#: asks the exchange about a silent stream, given the last result (see ``mexc_quiet``)
Judge = Callable[[T | None], Awaitable[tuple[Verdict, T | None]]]

#: "no cache entry looked at yet on this subscription" (None is a valid "nothing cached")
_UNSET: Any = object()

#: Seconds between the ticks of the streams' timer wheel, at most.
WHEEL_TICK = 0.05


class SubscriptionState(Generic[T]):
    """What one stream knows about its current subscription.

    ``last``: the latest result of the current subscription. A new subscription (after any
    reconnect) starts from None: MEXC pushes no snapshot, so a change missed while we were
    away is never pushed, and must not read as a dead stream forever. ``seen``: the cache
    entry last handed out or found old (compared by identity). ``diverged``: the exchange
    said MOVED once; a second MOVED in a row resets the connection.
    """

    def __init__(self, now: float) -> None:
        self.heard_at = now
        self.last: T | None = None
        self.diverged = False
        self.seen: Any = _UNSET

    def silent_for(self, now: float) -> float:
        """Seconds since the stream last delivered or was confirmed."""
        return now - self.heard_at

    def fresh_in_cache(self, cached: T | None) -> bool:
        """Whether ``cached`` (ccxt's cached latest result) arrived since the last one handed
        out; on a new subscription the first look only notes what predates it."""
        if self.seen is _UNSET:
            self.seen = cached
            return False
        return cached is not None and cached is not self.seen

    def on_result(self, result: T, now: float) -> None:
        """A push was delivered (awaited, or found in the cache)."""
        self.heard_at, self.last, self.diverged, self.seen = now, result, False, result

    def on_confirmed(self, confirmed: T, now: float) -> None:
        """The exchange confirmed a quiet market: its book is the reference from now on, so a
        later change that is not pushed still reads as MOVED."""
        self.heard_at, self.last, self.diverged = now, confirmed, False

    def on_absent(self, now: float) -> None:
        """The market is not trading: silence is expected, a reconnect cannot help."""
        self.heard_at, self.diverged = now, False

    def diverged_again(self, verdict: Verdict | None) -> bool:
        """Note a verdict that confirmed nothing (none, or MOVED); True when the exchange has
        now moved on without us twice in a row and the connection must be reset."""
        if verdict is None or not self.diverged:  # no verdict, or a first MOVED
            self.diverged = self.diverged or verdict is Verdict.MOVED
            return False
        return True

    def on_reset(self, now: float) -> None:
        """The connection was reset for silence: a new subscription, silence counted afresh."""
        self.heard_at, self.last, self.diverged, self.seen = now, None, False, _UNSET

    def on_error(self) -> None:
        """The watch failed: a new subscription follows; silence is still counted from the
        last delivery."""
        self.last, self.diverged, self.seen = None, False, _UNSET


class Supervisor:
    """Runs the streams of one adapter on its shards (see :meth:`supervise`)."""

    def __init__(self, runtime: MexcRuntime, shards: ShardPool) -> None:
        self._runtime = runtime
        self._shards = shards
        #: every stream's silence timeouts on one timer (``timer_wheel``), ticking 20 times a
        #: second (or at a tenth of the shortest timeout): the streams due in one tick wake
        #: together, and at 2000 symbols about 350 quiet markets fall due every second
        config = runtime.config
        steps = [t for t in (*config.watchdog_after.values(), config.quiet_probe_after) if t is not None]
        self._wheel = TimerWheel(
            min(WHEEL_TICK, min(steps, default=1.0) / 10), lambda: runtime.pacer.mark("wheel")
        )

    async def supervise(
        self,
        symbol: str,
        channel: str,
        watch: Callable[[MexcWsClient], Awaitable[T]],
        judge: Judge[T] | None = None,
        peek: Callable[[MexcWsClient], T | None] | None = None,
    ) -> AsyncIterator[tuple[T, float]]:
        """Yield ``(watch() result, frame arrival time)`` forever, reconnecting after transient errors.

        Silence for the channel's ``watchdog_after`` means the connection is silently dead
        (MEXC can keep answering pings while sending nothing); the shared connection is then
        reset so *every* stream on it reconnects and re-subscribes. A channel that is
        legitimately silent in a quiet market passes ``judge``: after ``quiet_probe_after``
        seconds of silence it is asked for the exchange's view (``mexc_quiet.Verdict``): QUIET
        yields the confirming result as data; MOVED twice in a row resets the connection
        early; ABSENT (not trading) resets nothing, as a reconnect cannot bring back a halted
        market.

        ``peek`` reads ccxt's cached latest result (tickers are conflated: a push that arrives
        while nobody awaits the watch only updates the cache, and ``watch_*`` then waits for
        the *next* push, which on a quiet pair may be minutes away). A cached result newer
        than the last one yielded is yielded at once instead of waiting.
        """
        self._shards.active[(symbol, channel)] += 1
        runtime = self._runtime
        try:
            async for item in self._loop(symbol, channel, watch, judge, peek):
                if runtime.pacer.holds(runtime.yielded):  # a replay: a step comes first
                    await runtime.pacer.release(runtime.yielded)
                runtime.yielded += 1
                yield item
        finally:
            self._shards.active[(symbol, channel)] -= 1

    async def _loop(
        self,
        symbol: str,
        channel: str,
        watch: Callable[[MexcWsClient], Awaitable[T]],
        judge: Judge[T] | None,
        peek: Callable[[MexcWsClient], T | None] | None,
    ) -> AsyncIterator[tuple[T, float]]:
        runtime = self._runtime
        name, url_key = f"{symbol} {channel}", "swap" if channel == Channel.SWAP else "spot"
        backoff = runtime.stream_backoff(name)
        stale_after = runtime.config.watchdog_after.get(channel)
        quiet_after = runtime.config.quiet_probe_after if judge is not None else None
        step = min((t for t in (stale_after, quiet_after) if t is not None), default=None)
        loop = asyncio.get_running_loop()
        state: SubscriptionState[T] = SubscriptionState(loop.time())
        jitter = Jitter(runtime.seed, name)
        while True:
            ws = await self._shards.ws(symbol)
            if peek is not None:
                cached = peek(ws)
                if state.fresh_in_cache(cached):
                    state.on_result(cached, loop.time())
                    yield cached, time.perf_counter()  # arrival unknown: it waited in the cache
                    continue
            waited_from = loop.time()
            # One snapshot confirms every quiet market at once: without a spread their next
            # checks would all fall due in the same tick, for ever (a burst of thousands of
            # wake-ups, and the longest young-generation collections).
            wait = step * (1.0 - QUIET_SPREAD * jitter.random()) if judge and step else step
            try:
                # a timeout (on the wheel, as asyncio.timeout), not wait_for: on 3.11 wait_for
                # can swallow a cancellation that races with a result, and the stream would
                # outlive close().
                async with self._wheel.timeout(wait):
                    result = await watch(ws)
            except TimeoutError:
                silent = state.silent_for(loop.time())
                if judge is not None and (stale_after is None or silent < stale_after):
                    if wait is not None and loop.time() - waited_from - wait > runtime.config.max_loop_lag:
                        # our own loop was too busy to read the socket: frames may be waiting
                        # in it, so the exchange's newer book proves nothing this time
                        runtime.counters[(name, "lagging")] += 1
                        continue
                    verdict, confirmed = await self._ask_exchange(name, judge, state.last)
                    if verdict is Verdict.QUIET and confirmed is not None:
                        state.on_confirmed(confirmed, loop.time())
                        yield confirmed, time.perf_counter()
                        continue
                    if verdict is Verdict.ABSENT:
                        state.on_absent(loop.time())
                        continue
                    if not state.diverged_again(verdict):
                        continue
                state.on_reset(loop.time())
                runtime.counters[(name, "stale")] += 1
                runtime.disconnected(symbol, channel, f"no data for {silent:.0f}s")
                self._reset_connection(ws, url_key, f"{name}: no data for {silent:.0f}s")
                await log_and_sleep(backoff, log, name, StaleStreamError("silent stream"))
            except UnknownSymbolError:
                raise
            except ccxt.BadSymbol as exc:
                raise UnknownSymbolError(symbol, f"rejected by MEXC: {exc}") from exc
            except Exception as exc:
                if runtime.closed or not is_transient(exc):
                    raise
                runtime.counters[(name, f"retry.{type(exc).__name__}")] += 1
                state.on_error()
                runtime.disconnected(symbol, channel, f"{type(exc).__name__}: {exc}")
                await log_and_sleep(backoff, log, name, exc)
                # our backoff has just waited; the next dial goes out now
                ccxt_compat.skip_dial_backoff(ws)
            else:
                backoff.success()
                state.on_result(result, loop.time())
                yield result, ccxt_compat.frame_arrival(ws, url_key)

    async def _ask_exchange(
        self, name: str, judge: Judge[T], last: T | None
    ) -> tuple[Verdict | None, T | None]:
        """``judge(last)``, bounded by ``quiet_probe_after`` so the stream goes back to listening
        soon; a REST failure is no verdict, ``(None, None)`` (counted, logged)."""
        try:
            async with self._wheel.timeout(self._runtime.config.quiet_probe_after):
                verdict, confirmed = await judge(last)
        except Exception as exc:  # TimeoutError included: no verdict this time
            if not is_transient(exc) and not isinstance(exc, TimeoutError):
                raise
            self._runtime.counters[(name, f"quiet_check.{type(exc).__name__}")] += 1
            log.warning("%s: could not ask MEXC whether the market is quiet: %s", name, exc)
            return None, None
        self._runtime.counters[(name, verdict.value)] += 1
        return verdict, confirmed

    @staticmethod
    def _reset_connection(ws: MexcWsClient, url_key: str, reason: str) -> None:
        """Fail the websocket connection at ``urls['api']['ws'][url_key]`` and drop it."""
        log.warning("resetting %s: %s", ccxt_compat.ws_url(ws, url_key), reason)
        ccxt_compat.fail_connection(ws, url_key, StaleStreamError(reason))
