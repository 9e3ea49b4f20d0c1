"""Every simulator fault, observed through the real ccxt clients as mexc-facts.md says.

Malformed frames (garbage bytes, truncated protobuf, invalid JSON) are worth a note: ccxt
4.5.90 decodes inside an asyncio done-callback, so the decode error escapes into the event
loop ("Exception in callback ... after_interrupt") and ends the client's receive loop. The
socket stays open but nothing is delivered and pongs are no longer read, so the pending
watch hangs until the keepalive declares ``RequestTimeout`` (16-24 s with the default
8 s keepAlive); the next watch reconnects. A well-formed frame on an unknown channel is
ignored.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import ccxt
import pytest

from backend.src.sim import MexcSimulator

FAST_PING = {"streaming": {"keepAlive": 200}}  # ccxt times out after 2 missed pongs
MINUTE = 60_000


async def pending_watch_error(coro_factory, action, wait: float = 3.0) -> BaseException:
    """Start a watch, run ``action`` and return what the watch raised within ``wait`` s.

    A push the simulator sent just before ``action`` may still resolve the pending watch (a
    loaded machine reads it late); the watch is then asked again, at most twice, and the
    error must come."""
    loop = asyncio.get_running_loop()
    await coro_factory()  # connected and subscribed
    task = asyncio.ensure_future(coro_factory())
    await asyncio.sleep(0)
    await action()
    deadline = loop.time() + wait
    with pytest.raises(ccxt.NetworkError) as info:
        for _ in range(3):
            await asyncio.wait_for(task, max(deadline - loop.time(), 0.0))
            task = asyncio.ensure_future(coro_factory())
    return info.value


async def resolves(coro, wait: float) -> bool:
    try:
        await asyncio.wait_for(coro, wait)
        return True
    except TimeoutError:
        return False


@pytest.mark.asyncio
async def test_clean_close_raises_network_error_then_reconnects(sim: MexcSimulator, pro):
    async def close():
        assert await sim.faults.close_ws("/ws") == 1

    err = await pending_watch_error(lambda: pro.watch_trades("BTC/USDT"), close)
    assert "closing code 1000" in str(err)
    assert await pro.watch_trades("BTC/USDT")  # next watch dials again


@pytest.mark.asyncio
async def test_tcp_drop_without_close_frame(sim: MexcSimulator, pro):
    async def drop():
        assert sim.faults.drop_ws() == 1

    err = await pending_watch_error(lambda: pro.watch_ticker("BTC/USDT:USDT"), drop)
    assert "1006" in str(err)
    assert await pro.watch_ticker("BTC/USDT:USDT")


@pytest.mark.asyncio
async def test_silent_stream_keeps_answering_pings(sim: MexcSimulator, make_pro):
    ex = make_pro(sim, **FAST_PING)
    await ex.watch_trades("BTC/USDT")
    sim.faults.silence(path="/ws")
    await asyncio.sleep(0.1)  # let queued frames drain
    pongs_before = sum(r.pongs for r in sim.recorder.connections.values())
    assert not await resolves(ex.watch_trades("BTC/USDT"), 1.5)  # waits: no error at all
    pongs_after = sum(r.pongs for r in sim.recorder.connections.values())
    assert pongs_after >= pongs_before + 4  # ccxt kept pinging, the sim kept answering
    sim.faults.silence(False)
    assert await resolves(ex.watch_trades("BTC/USDT"), 2)


@pytest.mark.asyncio
async def test_silence_one_channel_only(sim: MexcSimulator, pro):
    await pro.watch_trades("BTC/USDT")
    sim.faults.silence(channel="*deals*BTCUSDT")
    await asyncio.sleep(0.1)
    assert not await resolves(pro.watch_trades("BTC/USDT"), 0.5)
    assert await resolves(pro.watch_ticker("BTC/USDT"), 2)  # other channels still flow


@pytest.mark.asyncio
async def test_unanswered_pings_end_in_request_timeout(sim: MexcSimulator, make_pro):
    ex = make_pro(sim, **FAST_PING)
    await ex.watch_trades("BTC/USDT")
    sim.faults.stop_pong()
    started = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout, match="ping-pong keepalive"):
        while time.monotonic() - started < 5:  # data keep coming; only pongs are missing
            await ex.watch_trades("BTC/USDT")
    assert time.monotonic() - started < 2
    sim.faults.stop_pong(False)
    assert await ex.watch_trades("BTC/USDT")


@pytest.mark.asyncio
async def test_refused_connections_then_recovery(sim: MexcSimulator, pro):
    sim.faults.refuse_connections(1.0)
    with pytest.raises(ccxt.NetworkError):
        await pro.fetch_time()  # ExchangeNotAvailable: the connection was reset
    errors: list[type] = []
    started = time.monotonic()
    while True:
        try:
            await asyncio.wait_for(pro.watch_trades("BTC/USDT"), 3)
            break
        except ccxt.NetworkError as exc:
            errors.append(type(exc))
    recovered = time.monotonic() - started
    assert errors and 0.8 < recovered < 4
    assert sim.gate.refused >= 2  # REST and at least one websocket dial were refused
    assert await pro.fetch_time() > 0


@pytest.mark.asyncio
async def test_rest_status_faults_map_to_ccxt_errors(sim: MexcSimulator, rest):
    await rest.load_markets()
    sim.faults.rest_error(429, retry_after=7)
    with pytest.raises(ccxt.RateLimitExceeded):
        await rest.fetch_time()
    assert rest.last_response_headers.get("Retry-After") == "7"
    sim.faults.rest_error(418)
    with pytest.raises(ccxt.DDoSProtection):
        await rest.fetch_time()
    for status in (500, 502, 503):
        sim.faults.rest_error(status)
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await rest.fetch_time()
    sim.faults.rest_error(503, count=2, path="/api/v3/klines")
    assert await rest.fetch_time() > 0  # other paths unaffected
    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await rest.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert len(await rest.fetch_ohlcv("BTC/USDT", "1m", limit=5)) == 5


@pytest.mark.asyncio
async def test_rest_hang_is_a_request_timeout(sim: MexcSimulator, rest):
    sim.faults.rest_hang(path="/api/v3/time")
    rest.timeout = 300
    with pytest.raises(ccxt.RequestTimeout):
        await rest.fetch_time()
    assert await rest.fetch_time() > 0


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["garbage", "truncated", "invalid_json"])
@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
async def test_malformed_frame_stalls_ccxt_until_keepalive_timeout(
    sim: MexcSimulator, make_pro, kind: str, symbol: str
):
    ex = make_pro(sim, **FAST_PING)
    await ex.watch_trades(symbol)
    assert await sim.faults.send_malformed(kind) == 1
    with pytest.raises(ccxt.RequestTimeout):  # see the module docstring
        while True:
            await asyncio.wait_for(ex.watch_trades(symbol), 2)
    assert await ex.watch_trades(symbol)  # a new connection works


@pytest.mark.asyncio
async def test_unknown_channel_frame_is_ignored(sim: MexcSimulator, pro):
    await pro.watch_trades("BTC/USDT")
    await sim.faults.send_malformed("unknown_channel", path="/ws")
    for _ in range(3):
        assert await asyncio.wait_for(pro.watch_trades("BTC/USDT"), 2)


@pytest.mark.asyncio
async def test_rejected_subscription_leaves_watch_waiting(sim: MexcSimulator, pro):
    sim.faults.reject_subscriptions("*deals*ETHUSDT")
    assert not await resolves(pro.watch_trades("ETH/USDT"), 1.0)
    ((_, channel, reason),) = sim.recorder.refused_subscriptions
    assert channel == "spot@public.aggre.deals.v3.api.pb@100ms@ETHUSDT" and reason == "Blocked! "
    async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url + "/ws") as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIPTION", "params": [channel]}))
        msg = await ws.receive_json(timeout=2)
        assert msg["msg"] == f"Not Subscribed successfully! [{channel}].  Reason： Blocked! "
    sim.faults.clear_rejections()
    await pro.close()  # ccxt remembers the subscription; a fresh connection asks again
    fresh = type(pro)({"urls": {"api": sim.urls}, "enableRateLimit": False})
    try:
        assert await resolves(fresh.watch_trades("ETH/USDT"), 3)
    finally:
        await fresh.close()


@pytest.mark.asyncio
async def test_swap_rejected_subscription(sim: MexcSimulator, pro):
    sim.faults.reject_subscriptions("push.ticker@BTC_USDT", "Contract is paused")
    assert not await resolves(pro.watch_ticker("BTC/USDT:USDT"), 1.0)
    assert sim.recorder.refused_subscriptions[0][1:] == ("push.ticker@BTC_USDT", "Contract is paused")


@pytest.mark.asyncio
async def test_clock_skew_visible_in_fetch_time(sim: MexcSimulator, rest):
    sim.faults.skew_clock(-5000)
    skewed = await rest.fetch_time() - int(time.time() * 1000)
    assert -5500 < skewed < -4500
    sim.faults.skew_clock(0)


@pytest.mark.asyncio
async def test_missing_minutes_absent_from_fetch_ohlcv(sim: MexcSimulator, rest):
    await rest.load_markets()
    base = sim.clock.now_ms() // MINUTE * MINUTE - 100 * MINUTE
    holes = [base + 10 * MINUTE, base + 11 * MINUTE, base + 40 * MINUTE]
    sim.faults.omit_minutes(holes, ["BTC/USDT"])
    bars = await rest.fetch_ohlcv("BTC/USDT", "1m", base, 60)
    stamps = [b[0] for b in bars]
    assert not set(holes) & set(stamps)
    assert base + 9 * MINUTE in stamps and base + 12 * MINUTE in stamps
    assert len(await rest.fetch_ohlcv("ETH/USDT", "1m", base, 60)) == 60  # other symbol intact


@pytest.mark.asyncio
async def test_price_jump_visible_in_stream_and_rest(sim: MexcSimulator, pro):
    before = (await pro.watch_ticker("DOGE/USDT"))["bid"]
    sim.faults.jump_price("DOGE/USDT", 10)
    deadline = time.monotonic() + 3
    while (bid := (await pro.watch_ticker("DOGE/USDT"))["bid"]) < before * 1.08:
        assert time.monotonic() < deadline
    assert bid < before * 1.15
    assert (await pro.fetch_ticker("DOGE/USDT"))["bid"] > before * 1.08
