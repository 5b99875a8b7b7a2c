"""Politeness and safety of the static path: robots.txt, Retry-After, blocks, SSRF, limits."""

from __future__ import annotations

import itertools
import time

import anyio
import pytest
from crawl_shop import Shop

from dropkit.crawl import (
    BrowserPool,
    Crawler,
    FetchError,
    HttpFetcher,
    LocalThrottle,
    RedisThrottle,
    RenderMode,
    ResponseTooLargeError,
    RobotsDisallowedError,
    ScrapeTask,
    UnsafeUrlError,
)
from dropkit.crawl.crawler import retry_after_seconds
from dropkit.crawl.robots import RobotsCache, site_of

LOOPBACK = ("127.0.0.0/8",)


async def test_robots_txt_is_honoured_and_fetched_once(
    shop: Shop, shop_url: str, crawler: Crawler
) -> None:
    with pytest.raises(RobotsDisallowedError, match="disallows"):
        await crawler.scrape_url(ScrapeTask(url=f"{shop_url}/private/x"), f"{shop_url}/private/x")
    results = await crawler.scrape(
        ScrapeTask(urls=(f"{shop_url}/private/y", f"{shop_url}/p/plain", f"{shop_url}/p/og"))
    )
    assert results[0].error is not None and "robots.txt" in results[0].error
    assert results[1].error is None and results[2].error is None
    assert "/private/x" not in shop.hits and "/private/y" not in shop.hits
    assert shop.hits["/robots.txt"] == 1


async def test_crawl_delay_spaces_requests(shop: Shop, shop_url: str, crawler: Crawler) -> None:
    shop.robots_txt = "User-agent: *\nCrawl-delay: 0.3\n"
    started = time.monotonic()
    results = await crawler.scrape(
        ScrapeTask(urls=tuple(f"{shop_url}/p/plain-{n}" for n in range(3)))
    )
    assert [r.status for r in results] == [200] * 3
    assert time.monotonic() - started >= 0.55  # three starts, 0.3 s apart


async def test_robots_can_be_switched_off(shop: Shop, shop_url: str) -> None:
    async with Crawler(allow_networks=LOOPBACK, obey_robots=False) as crawler:
        (result,) = await crawler.scrape(ScrapeTask(url=f"{shop_url}/private/x"))
    assert result.status == 200 and shop.hits["/private/x"] == 1


async def test_429_waits_for_retry_after_then_succeeds(shop: Shop, shop_url: str) -> None:
    async with Crawler(allow_networks=LOOPBACK) as crawler:
        started = time.monotonic()
        (result,) = await crawler.scrape(ScrapeTask(url=f"{shop_url}/limited"))
        waited = time.monotonic() - started
    assert result.status == 200 and not result.blocked
    assert result.offer is not None and str(result.offer.price) == "10.00"
    assert shop.hits["/limited"] == 2
    assert waited >= 0.95  # Retry-After: 1


async def test_a_long_retry_after_is_reported_as_blocked(shop: Shop, shop_url: str) -> None:
    async with Crawler(allow_networks=LOOPBACK, max_retry_after=5) as crawler:
        (result,) = await crawler.scrape(ScrapeTask(url=f"{shop_url}/refused"))
    assert result.blocked and result.status == 429 and result.offer is None
    assert "blocked" in result.warning_codes()
    assert shop.hits["/refused"] == 1  # it asked for an hour: we did not hammer it


async def test_captcha_page_is_blocked_not_empty(shop_url: str, crawler: Crawler) -> None:
    (result,) = await crawler.scrape(ScrapeTask(url=f"{shop_url}/p/captcha"))
    assert result.blocked and result.offer is None
    assert any("captcha" in w.message for w in result.warnings)


async def test_http_errors_are_warnings(shop_url: str, crawler: Crawler) -> None:
    (result,) = await crawler.scrape(ScrapeTask(url=f"{shop_url}/p/nothing-here"))
    assert result.status == 404 and "http_error" in result.warning_codes()


async def test_redirects_to_private_and_metadata_addresses_are_refused(
    shop_url: str, crawler: Crawler
) -> None:
    with pytest.raises(UnsafeUrlError, match="metadata"):
        await crawler.fetch(f"{shop_url}/go/metadata")
    with pytest.raises(UnsafeUrlError, match=r"10\.1\.2\.3"):
        await crawler.fetch(f"{shop_url}/go/private")
    page = await crawler.fetch(f"{shop_url}/go/local")  # a redirect within the allowed net
    assert page.final_url.endswith("/p/plain") and page.status == 200


async def test_loopback_is_refused_unless_allowed(shop_url: str) -> None:
    async with Crawler() as crawler:
        with pytest.raises(UnsafeUrlError, match="not a public address"):
            await crawler.fetch(f"{shop_url}/p/plain")
        (result,) = await crawler.scrape(ScrapeTask(url=f"{shop_url}/p/plain"))
        assert result.error is not None and "refused" in result.error
    async with Crawler(allow_networks=("10.0.0.0/8",)) as crawler:
        with pytest.raises(UnsafeUrlError):
            await crawler.fetch(f"{shop_url}/p/plain")
    with pytest.raises(UnsafeUrlError):
        HttpFetcher(allow_networks=("not a network",))


async def test_size_and_time_limits(shop_url: str) -> None:
    fetcher = HttpFetcher(allow_networks=LOOPBACK, max_bytes=100_000)
    try:
        with pytest.raises(ResponseTooLargeError, match="limit"):
            await fetcher.fetch(f"{shop_url}/big")
        with pytest.raises(FetchError):
            await fetcher.fetch("http://127.0.0.1:9/")  # nothing listens on the discard port
    finally:
        await fetcher.aclose()


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_seconds(date, now=1445412470.0) == pytest.approx(10.0)


async def test_local_throttle_spaces_requests_per_site() -> None:
    throttle = LocalThrottle()
    starts: list[float] = []

    async def one() -> None:
        token = await throttle.acquire("http://a", concurrency=4, delay=0.1)
        starts.append(time.monotonic())
        await throttle.release("http://a", token)

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(one)
    starts.sort()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.09
    await throttle.aclose()


async def test_redis_throttle_is_shared_between_crawlers(redis_url: str) -> None:
    first, second = RedisThrottle(redis_url), RedisThrottle(redis_url)
    starts: list[float] = []
    try:

        async def one(throttle: RedisThrottle) -> None:
            token = await throttle.acquire("http://shared", concurrency=1, delay=0.1)
            starts.append(time.monotonic())
            await anyio.sleep(0.01)
            await throttle.release("http://shared", token)

        await first.backoff("http://shared", 0.2)
        began = time.monotonic()
        async with anyio.create_task_group() as tg:
            for throttle in (first, second, first, second):
                tg.start_soon(one, throttle)
    finally:
        await first.aclose()
        await second.aclose()
    starts.sort()
    assert starts[0] - began >= 0.15  # the backoff held both processes' workers
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.09


async def test_crawler_with_redis_politeness(shop_url: str, redis_url: str) -> None:
    async with Crawler(allow_networks=LOOPBACK, redis_url=redis_url, delay=0.05) as crawler:
        results = await crawler.scrape(
            ScrapeTask(urls=tuple(f"{shop_url}/p/plain-{n}" for n in range(4)))
        )
    assert [r.status for r in results] == [200] * 4


def test_bad_crawler_settings() -> None:
    from dropkit.crawl import CrawlError

    with pytest.raises(CrawlError):
        Crawler(concurrency=0)


async def test_robots_answered_429_disallows_until_retry_after(
    shop: Shop, shop_url: str, crawler: Crawler
) -> None:
    now = [1000.0]
    robots = RobotsCache(crawler.http, user_agent="bot", clock=lambda: now[0])
    shop.robots_status, shop.robots_headers = 429, {"retry-after": "120"}
    assert not await robots.allowed(f"{shop_url}/p/plain")
    shop.robots_status, shop.robots_headers = 200, {}
    now[0] += 100  # past the 60 s error TTL, not past Retry-After
    assert not await robots.allowed(f"{shop_url}/p/plain")
    assert shop.hits["/robots.txt"] == 1
    now[0] += 21
    assert await robots.allowed(f"{shop_url}/p/plain")
    assert shop.hits["/robots.txt"] == 2


async def test_auto_mode_does_not_render_error_pages(shop_url: str) -> None:
    pool = BrowserPool(allow_networks=LOOPBACK)
    async with Crawler(allow_networks=LOOPBACK, browser=pool) as crawler:
        (result,) = await crawler.scrape(
            ScrapeTask(url=f"{shop_url}/p/missing", render=RenderMode.AUTO)
        )
    assert result.status == 404 and result.render == "http"
    assert "http_error" in result.warning_codes()
    assert pool.stats.pages == 0 and pool.stats.browsers_launched == 0
    await pool.aclose()


async def test_per_site_state_stays_bounded(shop_url: str) -> None:
    throttle = LocalThrottle(max_sites=2)
    for n in range(5):
        token = await throttle.acquire(f"http://site-{n}", concurrency=1, delay=0.0)
        await throttle.release(f"http://site-{n}", token)
    assert len(throttle) <= 3
    held = await throttle.acquire("http://busy", concurrency=1, delay=0.0)
    for n in range(5, 8):
        token = await throttle.acquire(f"http://site-{n}", concurrency=1, delay=0.0)
        await throttle.release(f"http://site-{n}", token)
    assert len(throttle) <= 3
    with anyio.fail_after(1):  # the busy site kept its slot: releasing it still works
        await throttle.release("http://busy", held)
    await throttle.aclose()

    async with Crawler(allow_networks=LOOPBACK, max_sites=2, obey_robots=True) as crawler:
        for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
            url = shop_url.replace("127.0.0.1", host)
            crawler.site_modes.remember(site_of(url), "http")
            await crawler.robots.allowed(url)
        assert len(crawler.robots) == 2 and len(crawler.site_modes) == 2
        assert site_of(shop_url) not in crawler.site_modes  # the least recently used went
