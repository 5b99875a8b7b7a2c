"""The browser path against real Chromium: rendering, auto mode, SSRF, recycling, crashes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from crawl_shop import Shop, serve

from dropkit.crawl import BrowserPool, Crawler, RenderMode, ScrapeTask, UnsafeUrlError
from dropkit.crawl.processes import chromium_processes
from dropkit.crawl.robots import site_of

LOOPBACK = ("127.0.0.0/8",)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def js_shop() -> AsyncIterator[str]:
    async with serve(Shop().app()) as url:
        yield url


@pytest.fixture(scope="module")
async def browser_crawler() -> AsyncIterator[Crawler]:
    crawler = Crawler(allow_networks=LOOPBACK)
    try:
        yield crawler
    finally:
        await crawler.aclose()
    assert chromium_processes() == []  # nothing left behind


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
