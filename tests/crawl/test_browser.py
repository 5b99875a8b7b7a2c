"""The browser path against real Chromium: rendering, auto mode, retries, limits, the SSRF guard."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import quote

import anyio
import pytest
from crawl_shop import Shop, secret_app, serve

from dropkit.crawl import (
    BrowserPool,
    Crawler,
    FetchError,
    RenderMode,
    ResponseTooLargeError,
    ScrapeTask,
    UnsafeUrlError,
)
from dropkit.crawl.processes import rss_bytes
from dropkit.crawl.robots import site_of

LOOPBACK = ("127.0.0.0/8",)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def module_shop() -> Shop:
    return Shop()


@pytest.fixture(scope="module")
async def js_shop(module_shop: Shop) -> AsyncIterator[str]:
    async with serve(module_shop.app()) as url:
        yield url


@pytest.fixture(scope="module")
async def browser_crawler() -> AsyncIterator[Crawler]:
    crawler = Crawler(allow_networks=LOOPBACK, max_bytes=200_000, backoff=0.05)
    try:
        yield crawler
    finally:
        await crawler.aclose()
    assert crawler.browser.leftover_processes() == []  # nothing left behind


async def test_browser_renders_a_javascript_price(js_shop: str, browser_crawler: Crawler) -> None:
    task = ScrapeTask(url=f"{js_shop}/p/js", render=RenderMode.BROWSER, wait_for=".price")
    (result,) = await browser_crawler.scrape(task)
    assert result.render == "browser" and result.status == 200
    assert result.offer is not None
    assert (result.offer.price, result.offer.currency) == (Decimal("1299.99"), "USD")
    assert result.offer.name == "Rendered Lamp"


async def test_auto_renders_only_when_needed_and_remembers(
    js_shop: str, browser_crawler: Crawler
) -> None:
    async with serve(Shop().app()) as static_shop:
        (static,) = await browser_crawler.scrape(
            ScrapeTask(url=f"{static_shop}/p/jsonld", render=RenderMode.AUTO)
        )
        assert static.render == "http"
        assert browser_crawler.site_modes[site_of(static_shop)] == "http"
    task = ScrapeTask(url=f"{js_shop}/p/js", render=RenderMode.AUTO, wait_for=".price")
    (first,) = await browser_crawler.scrape(task)
    assert first.render == "browser" and "rendered" in first.warning_codes()
    assert first.offer is not None and first.offer.price == Decimal("1299.99")
    assert browser_crawler.site_modes[site_of(js_shop)] == "browser"
    (again,) = await browser_crawler.scrape(task)
    assert again.render == "browser" and "rendered" not in again.warning_codes()


async def test_browser_refuses_private_redirects(js_shop: str, browser_crawler: Crawler) -> None:
    browser = browser_crawler.browser
    with pytest.raises(UnsafeUrlError):
        await browser.render(f"{js_shop}/go/metadata")
    with pytest.raises(UnsafeUrlError):
        await browser.render(f"{js_shop}/go/private")
    page = await browser.render(f"{js_shop}/go/local")
    assert page.final_url.endswith("/p/plain") and "Fjord" in page.html
    async with BrowserPool() as strict:
        with pytest.raises(UnsafeUrlError):
            await strict.render(f"{js_shop}/p/plain")


async def test_browser_responses_are_size_limited(js_shop: str, browser_crawler: Crawler) -> None:
    browser = browser_crawler.browser
    with pytest.raises(ResponseTooLargeError):
        await browser.render(f"{js_shop}/big")  # 300 kB document, limit 200 kB
    with pytest.raises(ResponseTooLargeError):
        await browser.render(f"{js_shop}/p/huge-dom")  # small document, huge rendered DOM


async def test_a_failed_navigation_fails_at_once(browser_crawler: Crawler) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    started = time.perf_counter()
    with anyio.fail_after(10), pytest.raises(FetchError):  # the pool's timeout is 30 s
        await browser_crawler.browser.render(f"http://127.0.0.1:{closed}/p/plain")
    assert time.perf_counter() - started < 5


async def test_browser_path_retries_after_503(
    js_shop: str, module_shop: Shop, browser_crawler: Crawler
) -> None:
    task = ScrapeTask(url=f"{js_shop}/busy", render=RenderMode.BROWSER)
    (result,) = await browser_crawler.scrape(task)
    assert result.status == 200 and result.render == "browser"
    assert result.offer is not None and result.offer.price == Decimal("10.00")
    assert module_shop.hits["/busy"] == 2


# The browser's SSRF guard against real Chromium: no connection of its own, ever.
#
# Chromium is told (``--host-resolver-rules``) that ``rebind.test`` is 127.0.0.2, where an
# internal service listens, while the resolver the guard uses says 127.0.0.1 (allowed, nothing
# listening on that port): exactly a DNS rebinding, where the name answers one address for the
# check and another for the connection. A page script reading the internal service must get
# nothing: Chromium may not connect by itself. Chromium's own Local Network Access checks happen
# to stop this particular request shape, so they are switched off: the guard must hold alone.
ONLY_127_0_0_1 = ("127.0.0.1/32",)  # 127.0.0.2 stays refused


async def check_time_resolver(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]  # what the name says when it is checked


@pytest.fixture(scope="module")
async def rebinding_pool() -> AsyncIterator[BrowserPool]:
    pool = BrowserPool(
        allow_networks=ONLY_127_0_0_1,
        args=[
            "--host-resolver-rules=MAP rebind.test 127.0.0.2",
            "--disable-features=BlockInsecurePrivateNetworkRequests,"
            "PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks",
        ],
        resolver=check_time_resolver,
        timeout=10,
    )
    try:
        yield pool
    finally:
        await pool.aclose()
    assert pool.leftover_processes() == []


async def test_a_rebinding_name_cannot_reach_an_internal_service(
    rebinding_pool: BrowserPool,
) -> None:
    async with serve(secret_app(), host="127.0.0.2") as internal, serve(Shop().app()) as shop:
        port = internal.rsplit(":", 1)[1]
        page = await rebinding_pool.render(
            f"{shop}/p/spy?target=http://rebind.test:{port}/latest/meta-data", wait_for="#done"
        )
    assert 'id="done"' in page.html
    assert "internal-secret" not in page.html
    assert '<div id="out">error</div>' in page.html


async def test_a_subresource_redirect_to_an_internal_service_gets_nothing(
    rebinding_pool: BrowserPool,
) -> None:
    async with serve(secret_app(), host="127.0.0.2") as internal, serve(Shop().app()) as shop:
        target = quote(f"{shop}/go/to?url={internal}/admin", safe="")
        page = await rebinding_pool.render(f"{shop}/p/spy?target={target}", wait_for="#done")
    assert "internal-secret" not in page.html
    assert '<div id="out">error</div>' in page.html


async def test_websockets_never_connect(rebinding_pool: BrowserPool) -> None:
    connections = 0
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()

    async def count(stream: anyio.abc.SocketStream) -> None:
        nonlocal connections
        connections += 1
        await stream.aclose()

    server = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    async with server, anyio.create_task_group() as tg, serve(Shop().app()) as shop:
        tg.start_soon(server.serve, count)
        page = await rebinding_pool.render(
            f"{shop}/p/spy?target=ws://127.0.0.1:{port}/socket", wait_for="#done"
        )
        tg.cancel_scope.cancel()
    assert 'id="done"' in page.html and '<div id="out">got' not in page.html
    assert connections == 0


async def test_each_pool_sees_only_its_own_browsers(
    browser_crawler: Crawler, rebinding_pool: BrowserPool
) -> None:
    mine, theirs = browser_crawler.browser.processes(), rebinding_pool.processes()
    assert mine and theirs and not set(mine) & set(theirs)
    assert rss_bytes(mine) > 0
