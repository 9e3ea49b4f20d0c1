"""Text sources: RSS/Atom parsing over real HTTP (127.0.0.1), symbol filtering, dedup, bounds,
and failing sources that are counted and backed off without stopping the hub."""

from __future__ import annotations

import asyncio
import calendar
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from backend.src.data.text_hub import TextHub
from backend.src.data.text_rss import RssTextSource
from backend.src.data.text_sources import TextItem, TextSource
from backend.src.data.text_symbols import base_asset
from backend.src.errors import TextSourceError
from backend.tests.helpers import pending_tasks, wait_until

BTC, ETH, SOL = "BTC/USDT", "ETH/USDT", "SOL/USDT"
Handler = Callable[[web.Request], Awaitable[web.Response]]


def own_pending_tasks() -> list[asyncio.Task[Any]]:
    """Pending tasks except the test server's own connection handlers (not the code under test)."""
    return [t for t in pending_tasks() if t.get_coro().__qualname__ != "RequestHandler.start"]


def epoch_ms(iso: str) -> int:
    """'2024-11-05T10:00:00' (UTC) -> epoch ms."""
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%S")) * 1000


NOW_MS = epoch_ms("2024-11-05T13:00:00")


def now() -> float:
    return NOW_MS / 1000


RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
  <title>Crypto News</title><link>http://news.example/</link><description>d</description>
  <item>
    <title>Bitcoin tops $100k as ETF inflows surge</title>
    <link>http://news.example/a</link><guid>rss-1</guid>
    <pubDate>Tue, 05 Nov 2024 10:00:00 GMT</pubDate>
    <description>&lt;p&gt;The &lt;b&gt;rally&lt;/b&gt; continues&lt;/p&gt;</description>
  </item>
  <item>
    <title>Ethereum upgrade scheduled</title><guid>rss-2</guid>
    <pubDate>Tue, 05 Nov 2024 11:00:00 GMT</pubDate>
    <description>Developers say $BTC holders are watching too</description>
  </item>
  <item><title>Fed holds rates</title><guid>rss-3</guid>
    <pubDate>Tue, 05 Nov 2024 09:00:00 GMT</pubDate></item>
  <item><title>WBTC bridge paused</title><link>http://news.example/wbtc</link>
    <pubDate>Tue, 05 Nov 2024 09:30:00 GMT</pubDate></item>
</channel></rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Social</title><id>urn:feed</id><updated>2024-11-05T12:00:00Z</updated>
  <entry>
    <title type="text">BTC &lt; 100k again</title><id>urn:atom:1</id>
    <updated>2024-11-05T12:00:00Z</updated><link href="http://social.example/1"/>
    <summary type="html">&lt;p&gt;Sell-off &amp;amp; liquidations&lt;/p&gt;</summary>
  </entry>
  <entry><title>Solana outage</title><id>urn:atom:2</id><published>2024-11-05T08:00:00Z</published></entry>
</feed>
"""


def rss_doc(items: list[tuple[str, str, int]]) -> bytes:
    """RSS 2.0 with (guid, title, epoch seconds) items."""
    body = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><pubDate>{formatdate(s, usegmt=True)}</pubDate></item>"
        for g, t, s in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>r</title>{body}</channel></rss>'.encode()


@pytest_asyncio.fixture
async def server() -> AsyncIterator[TestServer]:
    release = asyncio.Event()
    rolling = {"n": 0}

    def xml(body: bytes, ctype: str = "application/rss+xml", status: int = 200) -> web.Response:
        return web.Response(body=body, content_type=ctype, status=status)

    def static(body: bytes, ctype: str = "application/rss+xml", status: int = 200) -> Handler:
        async def handler(_: web.Request) -> web.Response:
            return xml(body, ctype, status)

        return handler

    async def slow(_: web.Request) -> web.Response:
        await release.wait()
        return xml(RSS)

    async def rolling_feed(_: web.Request) -> web.Response:
        """Two new BTC headlines per request, one minute apart, newest last."""
        rolling["n"] += 1
        base = NOW_MS // 1000 - 3600
        items = [(f"roll-{i}", f"BTC headline {i}", base + 60 * i) for i in range(2 * rolling["n"])]
        return xml(rss_doc(items))

    app = web.Application()
    app.router.add_get("/rss", static(RSS))
    app.router.add_get("/atom", static(ATOM, "application/atom+xml"))
    app.router.add_get("/500", static(b"oops", "text/plain", 500))
    app.router.add_get("/malformed", static(b"<rss><channel><item><title>BTC"))
    app.router.add_get("/html", static(b"<html><body>not a feed</body></html>", "text/html"))
    app.router.add_get("/big", static(RSS + b" " * 5000))
    app.router.add_get("/slow", slow)
    app.router.add_get("/rolling", rolling_feed)
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    yield srv
    release.set()
    await srv.close()


def rss(server: TestServer, path: str, **kwargs: Any) -> RssTextSource:
    return RssTextSource(str(server.make_url(path)), name=path.strip("/"), clock=now, **kwargs)


async def fetch_once(source: RssTextSource) -> list[TextItem]:
    try:
        return await source.fetch()
    finally:
        await source.close()


def hub_for(*sources: TextSource, **kwargs: Any) -> TextHub:
    kwargs.setdefault("clock", now)
    return TextHub([BTC, ETH, SOL], sources, **kwargs)


# ---- parsing --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_rss_parsing(server: TestServer) -> None:
    source = rss(server, "/rss")
    assert isinstance(source, TextSource)
    items = await fetch_once(source)
    by_id = {i.id: i for i in items}
    assert set(by_id) == {"rss-1", "rss-2", "rss-3", "http://news.example/wbtc"}
    first = by_id["rss-1"]
    assert first.title == "Bitcoin tops $100k as ETF inflows surge"
    assert first.summary == "The rally continues"
    assert first.ts == epoch_ms("2024-11-05T10:00:00")
    assert first.link == "http://news.example/a"
    assert first.source == "rss"
    assert first.text == first.title


@pytest.mark.asyncio
async def test_atom_parsing(server: TestServer) -> None:
    items = await fetch_once(rss(server, "/atom"))
    assert [(i.id, i.title, i.ts) for i in items] == [
        ("urn:atom:1", "BTC < 100k again", epoch_ms("2024-11-05T12:00:00")),
        ("urn:atom:2", "Solana outage", epoch_ms("2024-11-05T08:00:00")),
    ]
    assert items[0].summary == "Sell-off & liquidations"
    assert items[0].link == "http://social.example/1"


def test_base_asset() -> None:
    assert [base_asset(s) for s in ("BTC/USDT", "BTC/USDT:USDT", "ETH_USDT", "SOLUSDT", "ETHBTC")] == [
        "BTC",
        "BTC",
        "ETH",
        "SOL",
        "ETH",
    ]


# ---- hub --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_hub_filters_by_symbol_newest_first(server: TestServer) -> None:
    hub = hub_for(rss(server, "/rss"), rss(server, "/atom"))
    async with hub:  # start() polls at once; stop() closes the sources' sessions
        await hub.poll_once()
    assert hub.texts_for(BTC) == [
        "BTC < 100k again",  # ticker in the title
        "Ethereum upgrade scheduled",  # $BTC cashtag in the summary
        "Bitcoin tops $100k as ETF inflows surge",  # name; "WBTC" is not BTC
    ]
    assert hub.texts_for(ETH) == ["Ethereum upgrade scheduled"]
    assert hub.texts_for(SOL) == ["Solana outage"]
    assert hub.texts_for("DOGE/USDT") == []
    assert [i.id for i in hub.items_for(ETH)] == ["rss-2"]
    hub.texts_for(BTC).clear()  # callers get a copy
    assert len(hub.texts_for(BTC)) == 3


@pytest.mark.asyncio
async def test_no_sources_gives_empty_texts() -> None:
    hub = TextHub([BTC])
    async with hub:
        await hub.poll_once()
        assert hub.texts_for(BTC) == []
    assert hub.stats()["sources"] == {}


@pytest.mark.asyncio
async def test_dedup_across_polls_and_sources(server: TestServer) -> None:
    a, b = rss(server, "/rss"), rss(server, "/rss")
    hub = hub_for(a, b)
    try:
        await hub.poll_once()
        await hub.poll_once()
    finally:
        await hub.stop()
    assert len(hub.texts_for(BTC)) == 2
    stats = hub.stats()
    assert set(stats["sources"]) == {"rss", "rss#2"}  # same name made unique
    assert sum(s["items_new"] for s in stats["sources"].values()) == 4
    assert stats["duplicates"] == 3 * 4


def test_same_headline_with_different_ids_is_kept_once() -> None:
    hub = hub_for()
    item = TextItem("a", "Bitcoin halts", NOW_MS, "x")
    hub.ingest([item, TextItem("b", "Bitcoin halts", NOW_MS - 1, "y")])
    assert hub.texts_for(BTC) == ["Bitcoin halts"]


@pytest.mark.asyncio
async def test_memory_is_bounded(server: TestServer) -> None:
    hub = hub_for(rss(server, "/rolling"), max_per_symbol=3, max_seen_ids=5)
    try:
        for _ in range(4):
            await hub.poll_once()
    finally:
        await hub.stop()
    assert hub.texts_for(BTC) == ["BTC headline 7", "BTC headline 6", "BTC headline 5"]
    assert hub.stats()["seen_ids"] == 5


def test_stale_items_are_skipped_and_pruned() -> None:
    clock = [now()]
    hub = hub_for(max_age_s=3600, clock=lambda: clock[0])
    hub.ingest(
        [
            TextItem("old", "BTC old news", NOW_MS - 2 * 3600_000, "x"),
            TextItem("new", "BTC fresh news", NOW_MS - 60_000, "x"),
        ]
    )
    assert hub.texts_for(BTC) == ["BTC fresh news"]
    assert hub.stats()["stale"] == 1
    clock[0] += 3600
    hub.prune()
    assert hub.texts_for(BTC) == []


# ---- failures ---------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "kwargs", "error"),
    [
        ("/500", {}, "HTTP 500"),
        ("/malformed", {}, "malformed feed"),
        ("/html", {}, "not an RSS/Atom feed"),
        ("/slow", {"timeout_s": 0.2}, "TimeoutError"),
        ("/big", {"max_bytes": 4000}, "larger than 4000 bytes"),
    ],
)
async def test_failing_source_is_counted_not_fatal(
    server: TestServer, path: str, kwargs: dict[str, Any], error: str
) -> None:
    bad = rss(server, path, **kwargs)
    hub = hub_for(bad, rss(server, "/atom"))
    try:
        await hub.poll_once()
        await hub.poll_once()
    finally:
        await hub.stop()
    stats = hub.stats()["sources"][bad.name]
    assert stats["errors"] == 2 and stats["consecutive_failures"] == 2
    assert error in stats["last_error"]
    assert hub.stats()["sources"]["atom"]["errors"] == 0
    assert hub.texts_for(SOL) == ["Solana outage"]


@pytest.mark.asyncio
async def test_source_errors_raise_from_fetch(server: TestServer) -> None:
    with pytest.raises(TextSourceError, match="HTTP 500"):
        await fetch_once(rss(server, "/500"))


class ScriptedSource:
    """In-memory source: fails ``failures`` times, then serves one item per call."""

    name = "scripted"

    def __init__(self, failures: int = 0, hang: bool = False) -> None:
        self.failures = failures
        self.hang = hang
        self.calls = 0

    async def fetch(self) -> list[TextItem]:
        self.calls += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.calls <= self.failures:
            raise ConnectionError(f"down #{self.calls}")
        return [TextItem(f"s{self.calls}", f"Bitcoin item {self.calls}", NOW_MS, self.name)]


@pytest.mark.asyncio
async def test_backoff_grows_then_resets_on_success() -> None:
    source = ScriptedSource(failures=4)
    hub = hub_for(source, interval_s=10.0, backoff_max_s=100.0)
    state = hub._states[0]
    delays = [await hub._poll_source(state) for _ in range(5)]
    assert all(10.0 <= d <= 100.0 for d in delays[:4])
    assert state.backoff.ceiling() == 10.0  # reset by the success
    assert state.backoff.attempts == 0
    assert delays[4] == 10.0
    assert hub.stats()["sources"]["scripted"]["consecutive_failures"] == 0
    assert hub.stats()["sources"]["scripted"]["errors"] == 4
    assert hub.texts_for(BTC) == ["Bitcoin item 5"]


@pytest.mark.asyncio
async def test_hung_source_is_timed_out_by_the_hub() -> None:
    hub = hub_for(ScriptedSource(hang=True), fetch_timeout_s=0.05)
    await hub.poll_once()
    assert hub.stats()["sources"]["scripted"]["errors"] == 1
    assert "TimeoutError" in hub.stats()["sources"]["scripted"]["last_error"]


@pytest.mark.asyncio
async def test_background_polling_survives_errors_and_stops_cleanly() -> None:
    source = ScriptedSource(failures=2)
    hub = hub_for(source, interval_s=0.01, backoff_max_s=0.02)
    await hub.start()
    await wait_until(lambda: source.calls >= 5)
    await hub.stop()
    await hub.stop()  # idempotent
    assert pending_tasks() == []
    assert hub.stats()["sources"]["scripted"]["errors"] == 2
    assert hub.texts_for(BTC)[0].startswith("Bitcoin item")


@pytest.mark.asyncio
async def test_stop_closes_owned_sessions(server: TestServer) -> None:
    source = rss(server, "/rss")
    hub = hub_for(source, interval_s=0.01)
    await hub.start()
    await wait_until(lambda: bool(hub.texts_for(BTC)))
    await hub.stop()
    assert source._session is None
    assert own_pending_tasks() == []


def test_symbols_tracked_later_collect_texts_from_then_on() -> None:
    hub = TextHub([BTC], clock=lambda: NOW_MS / 1000)
    hub.ingest([TextItem("e1", "Ethereum upgrade scheduled", NOW_MS, "x")])
    assert hub.texts_for(ETH) == []  # not tracked yet
    hub.track([ETH, BTC])
    hub.ingest([TextItem("e2", "Ethereum fees fall", NOW_MS, "x")])
    assert hub.texts_for(ETH) == ["Ethereum fees fall"]
