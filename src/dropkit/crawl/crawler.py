"""The crawler: fetch politely (http or browser), extract, follow pagination.

``auto`` rendering fetches statically first and renders in Chromium only when the task's fields
are missing from the static HTML, then remembers per site which way worked, so a shop that
needs the browser costs one wasted static fetch, not one per page.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

import anyio

from dropkit.core.webhooks.targets import IPNetwork
from dropkit.crawl.blocking import block_reason
from dropkit.crawl.browser import SYSTEM_CHROMIUM, BrowserPool
from dropkit.crawl.document import Document
from dropkit.crawl.errors import CrawlError, RobotsDisallowedError
from dropkit.crawl.extract import PageExtraction, extract_page, missing_fields
from dropkit.crawl.http import DEFAULT_USER_AGENT, FetchedPage, HttpFetcher, retry_after_seconds
from dropkit.crawl.results import Record, Review, ScrapeResult, ScrapeWarning, Timings
from dropkit.crawl.robots import RobotsCache, site_of
from dropkit.crawl.tasks import RenderMode, ScrapeTask
from dropkit.crawl.throttle import LocalThrottle, RedisThrottle, Throttle, throttled

__all__ = ["Crawler", "SiteModes", "retry_after_seconds"]

Render = Literal["http", "browser"]


class SiteModes(OrderedDict[str, Render]):
    """Which way worked per site, the ``limit`` most recently used sites kept (a long crawl
    meets sites without end)."""

    def __init__(self, limit: int = 10_000) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, site: str, render: Render) -> None:
        self[site] = render
        self.move_to_end(site)
        while len(self) > self.limit:
            self.popitem(last=False)


class Crawler:
    """Scrapes :class:`ScrapeTask` URLs politely and safely; build once, reuse, ``aclose()``."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        allow_networks: Iterable[str | IPNetwork] = (),
        user_agent: str = DEFAULT_USER_AGENT,
        obey_robots: bool = True,
        concurrency: int = 16,
        per_site_concurrency: int = 8,
        delay: float = 0.0,
        max_retries: int = 2,
        backoff: float = 1.0,
        max_retry_after: float = 60.0,
        timeout: float = 15.0,
        max_bytes: int = 5_000_000,
        redis_url: str | None = None,
        throttle: Throttle | None = None,
        browser: BrowserPool | None = None,
        executable_path: str = SYSTEM_CHROMIUM,
        max_sites: int = 10_000,
    ) -> None:
        if concurrency < 1 or per_site_concurrency < 1 or delay < 0 or max_retries < 0:
            raise CrawlError("concurrency must be positive, delay and retries not negative")
        networks = tuple(allow_networks)
        self.http = HttpFetcher(
            allow_private=allow_private,
            allow_networks=networks,
            timeout=timeout,
            max_bytes=max_bytes,
            user_agent=user_agent,
            max_connections=max(concurrency, per_site_concurrency),
        )
        self.robots = RobotsCache(self.http, user_agent=user_agent, max_sites=max_sites)
        if throttle is None:
            throttle = RedisThrottle(redis_url) if redis_url else LocalThrottle(max_sites=max_sites)
        self.throttle = throttle
        self.obey_robots = obey_robots
        self.concurrency = concurrency
        self.per_site_concurrency = per_site_concurrency
        self.delay = delay
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.site_modes = SiteModes(max_sites)
        self._own_browser = browser is None
        self._browser = browser
        self._browser_options = {
            "allow_private": allow_private,
            "allow_networks": networks,
            "user_agent": user_agent,
            "executable_path": executable_path,
            "max_bytes": max_bytes,
        }

    @property
    def browser(self) -> BrowserPool:
        """The Chromium pool, created on first use (static crawls never start a browser)."""
        if self._browser is None:
            self._browser = BrowserPool(**self._browser_options)  # type: ignore[arg-type]
        return self._browser

    async def aclose(self) -> None:
        try:
            if self._browser is not None and self._own_browser:
                await self._browser.aclose()
        finally:
            try:
                await self.http.aclose()
            finally:
                await self.throttle.aclose()

    async def __aenter__(self) -> Crawler:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- fetching ----------------------------------------------------------------------------

    async def fetch(self, url: str) -> FetchedPage:
        """GET ``url`` statically, honouring robots.txt, the site's pace and ``Retry-After``."""
        return await self._politely(url, lambda: self.http.fetch(url))

    async def _politely(self, url: str, get: Callable[[], Awaitable[FetchedPage]]) -> FetchedPage:
        """``get()`` the page within robots.txt and the site's pace, retrying 429/503 after
        ``Retry-After`` (or exponential backoff); one loop for static and rendered pages."""
        delay = await self._permitted(url)
        site = site_of(url)
        attempt = 0
        while True:
            async with throttled(
                self.throttle, site, concurrency=self.per_site_concurrency, delay=delay
            ):
                page = await get()
            if page.status not in (429, 503) or attempt >= self.max_retries:
                return page
            wait = retry_after_seconds(page.headers.get("retry-after"))
            if wait is None:
                wait = self.backoff * 2**attempt
            if wait > self.max_retry_after:
                return page  # asked to stay away longer than we wait: reported as blocked
            await self.throttle.backoff(site, wait)  # other workers on this site wait too
            attempt += 1

    async def _permitted(self, url: str) -> float:
        """Refuse what robots.txt disallows; return the delay between requests to the site."""
        if not self.obey_robots:
            return self.delay
        if not await self.robots.allowed(url):
            raise RobotsDisallowedError(f"robots.txt of {site_of(url)} disallows {url}")
        return max(self.delay, await self.robots.crawl_delay(url) or 0.0)

    async def _render(self, url: str, task: ScrapeTask) -> FetchedPage:
        return await self._politely(url, lambda: self.browser.render(url, wait_for=task.wait_for))

    # -- scraping ----------------------------------------------------------------------------

    async def scrape(self, task: ScrapeTask) -> list[ScrapeResult]:
        """Every URL of ``task``, ``concurrency`` at a time; a URL that fails gets a result
        with ``error`` set instead of failing the others."""
        results: list[ScrapeResult | None] = [None] * len(task.urls)
        queue = iter(enumerate(task.urls))

        async def worker() -> None:
            for index, url in queue:
                try:
                    results[index] = await self.scrape_url(task, url)
                except CrawlError as exc:
                    results[index] = ScrapeResult(
                        url=url, final_url=url, status=None, render="http", error=str(exc)
                    )

        async with anyio.create_task_group() as tg:
            for _ in range(min(self.concurrency, len(task.urls))):
                tg.start_soon(worker)
        return [r for r in results if r is not None]

    async def scrape_url(self, task: ScrapeTask, url: str) -> ScrapeResult:
        """One URL of ``task`` (and its pagination); errors are raised (typed)."""
        started = time.perf_counter()
        fetch_time = extract_time = 0.0
        records: list[Record] = []
        reviews: list[Review] = []
        warnings: list[ScrapeWarning] = []
        offer = None
        first: FetchedPage | None = None
        render: Render = "http"
        blocked = False
        next_url: str | None = url
        pages = 0
        max_pages = task.pagination.max_pages if task.pagination else 1
        while next_url is not None and pages < max_pages:
            t0 = time.perf_counter()
            page, render, extraction = await self._page(task, next_url)
            fetch_time += time.perf_counter() - t0 - extraction[1]
            extract_time += extraction[1]
            pages += 1
            first = first or page
            reason = block_reason(page.status, page.html)
            if reason is not None:
                blocked = True
                warnings.append(ScrapeWarning(code="blocked", message=f"{page.url}: {reason}"))
                break
            if page.status >= 400:
                warnings.append(ScrapeWarning(code="http_error", message=f"HTTP {page.status}"))
                break
            found = extraction[0]
            records.extend(found.records)
            reviews.extend(found.reviews)
            warnings.extend(found.warnings)
            offer = offer or found.offer
            next_url = found.next_url
        assert first is not None
        return ScrapeResult(
            url=url,
            final_url=first.final_url,
            status=first.status,
            render=render,
            pages=pages,
            records=records,
            offer=offer,
            reviews=reviews,
            warnings=_dedupe(warnings),
            blocked=blocked,
            timings=Timings(
                fetch_ms=fetch_time * 1000,
                extract_ms=extract_time * 1000,
                total_ms=(time.perf_counter() - started) * 1000,
            ),
        )

    async def _page(
        self, task: ScrapeTask, url: str
    ) -> tuple[FetchedPage, Render, tuple[PageExtraction, float]]:
        site = site_of(url)
        mode = task.render
        if mode is RenderMode.AUTO:
            known = self.site_modes.get(site)
            mode = RenderMode.AUTO if known is None else RenderMode(known)
        if mode is RenderMode.BROWSER:
            page = await self._render(url, task)
            return page, "browser", _extract(page, task)
        page = await self.fetch(url)
        extraction = _extract(page, task)
        if mode is not RenderMode.AUTO or block_reason(page.status, page.html):
            return page, "http", extraction
        if page.status >= 400:  # an error page: rendering it would not make it a product
            return page, "http", extraction
        missing = missing_fields(extraction[0], task)
        if not missing:
            self.site_modes.remember(site, "http")
            return page, "http", extraction
        rendered = await self._render(url, task)
        rendered_extraction = _extract(rendered, task)
        still_missing = missing_fields(rendered_extraction[0], task)
        if len(still_missing) < len(missing):
            self.site_modes.remember(site, "browser")
            rendered_extraction[0].warnings.append(
                ScrapeWarning(
                    code="rendered",
                    message=f"{', '.join(missing)} appeared only after rendering; "
                    f"{site} will be rendered from now on",
                )
            )
            return rendered, "browser", rendered_extraction
        self.site_modes.remember(site, "http")
        return page, "http", extraction


def _extract(page: FetchedPage, task: ScrapeTask) -> tuple[PageExtraction, float]:
    started = time.perf_counter()
    extraction = extract_page(Document(page.html, page.final_url), task)
    return extraction, time.perf_counter() - started


def _dedupe(warnings: list[ScrapeWarning]) -> list[ScrapeWarning]:
    return list(dict.fromkeys(warnings))
