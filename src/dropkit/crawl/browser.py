"""Rendering with the system Chromium through Playwright, without leaks.

A :class:`BrowserPool` runs one Chromium with up to ``contexts`` browser contexts rendering at
once. A context serves ``pages_per_context`` pages and is then closed; when Chromium's memory
passes ``max_rss_mb``, a fresh browser takes the next pages and the old one is closed as soon as
its last page is done (:mod:`dropkit.crawl.browser_contexts`). Pages and contexts are closed in
``finally`` blocks shielded from cancellation, so no path leaves one open
(:mod:`dropkit.crawl.browser_pages`). A crashed browser ("Target closed") is replaced and the
page retried. The SSRF guard applies here too: Chromium opens no connection of its own, every
request the page makes is fetched through the pinned, size-limited guard
(:mod:`dropkit.crawl.browser_guard`), redirect hops included. Each pool finds its own Chromium
processes by a marker on their command line (:mod:`dropkit.crawl.browser_launch`), so it
measures only its own memory and can tell, after closing, whether any of them survived.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import anyio

from dropkit.core.errors import UnsafeTargetError, WebhookError
from dropkit.core.webhooks.targets import IPNetwork, Resolver, allowed_networks, check_target
from dropkit.crawl.browser_contexts import BrowserCrashed, BrowserStats, ContextPool
from dropkit.crawl.browser_guard import RequestGuard
from dropkit.crawl.browser_launch import (
    SYSTEM_CHROMIUM,
    launch_args,
    launch_chromium,
    pool_marker,
    start_playwright,
)
from dropkit.crawl.browser_pages import PageRenderer
from dropkit.crawl.errors import BrowserError, UnsafeUrlError
from dropkit.crawl.http import DEFAULT_USER_AGENT, FetchedPage
from dropkit.crawl.processes import ProcessTracker

__all__ = ["SYSTEM_CHROMIUM", "BrowserPool", "BrowserStats"]

_SKIPPED_RESOURCES: Final = frozenset({"image", "media", "font"})


class BrowserPool:
    """A pool of Chromium contexts with a page budget and a memory ceiling."""

    def __init__(
        self,
        *,
        executable_path: str = SYSTEM_CHROMIUM,
        contexts: int = 2,
        pages_per_context: int = 20,
        max_rss_mb: int = 2048,
        rss_check_every: int = 5,
        allow_private: bool = False,
        allow_networks: Iterable[str | IPNetwork] = (),
        timeout: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        crash_retries: int = 2,
        skip_resources: Iterable[str] = _SKIPPED_RESOURCES,
        max_bytes: int = 5_000_000,
        args: Iterable[str] = (),
        max_redirects: int = 5,
        resolver: Resolver | None = None,
    ) -> None:
        if contexts < 1 or pages_per_context < 1 or max_rss_mb < 1 or max_bytes < 1:
            raise BrowserError(
                "contexts, pages_per_context, max_rss_mb and max_bytes must be positive"
            )
        self.executable_path = executable_path
        self.pages_per_context = pages_per_context
        self.max_rss_bytes = max_rss_mb * 1024 * 1024
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.stats = BrowserStats()
        self._allow_private = allow_private
        self._allow_networks = allowed_networks(allow_networks)
        self._resolver = resolver
        self._crash_retries = crash_retries
        self._guard = RequestGuard(
            allow_private=allow_private,
            allow_networks=self._allow_networks,
            timeout=timeout,
            max_bytes=max_bytes,
            skip_resources=frozenset(skip_resources),
            resolver=resolver,
        )
        marker = pool_marker()
        self._args = launch_args(args, marker)
        self._tracker = ProcessTracker(marker)
        self._playwright: Any = None
        self._contexts = ContextPool(
            launch=self._launch,
            guard=self._guard,
            tracker=self._tracker,
            stats=self.stats,
            user_agent=user_agent,
            pages_per_context=pages_per_context,
            max_rss_bytes=self.max_rss_bytes,
            rss_check_every=rss_check_every,
        )
        self._pages = PageRenderer(
            self._contexts,
            self._guard,
            permits=contexts,
            timeout=timeout,
            max_bytes=max_bytes,
            max_redirects=max_redirects,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._playwright is None:
            self._playwright = await start_playwright()

    async def aclose(self) -> None:
        """Close every context and browser and stop Playwright; idempotent."""
        with anyio.CancelScope(shield=True):
            await self._contexts.aclose()
            try:
                if self._playwright is not None:
                    playwright, self._playwright = self._playwright, None
                    await playwright.stop()
            finally:
                await self._guard.aclose()

    def processes(self) -> list[int]:
        """This pool's Chromium processes now (every browser it runs, with its children)."""
        return self._tracker.current()

    def leftover_processes(self) -> list[int]:
        """This pool's Chromium processes ever seen that are still alive: after
        :meth:`aclose`, anything here is a leak (re-parented ones included)."""
        return self._tracker.leftover()

    async def __aenter__(self) -> BrowserPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _launch(self) -> Any:
        if self._playwright is None:
            await self.start()
        return await launch_chromium(self._playwright, self.executable_path, self._args)

    # -- rendering ---------------------------------------------------------------------------

    async def render(self, url: str, *, wait_for: str | None = None) -> FetchedPage:
        """Load ``url`` in a fresh page, wait for ``wait_for`` (if given), return its HTML."""
        if not await self._safe(url):
            raise UnsafeUrlError(f"{url}: refused by the SSRF guard")
        attempts = self._crash_retries + 1
        for attempt in range(attempts):
            try:
                return await self._pages.render_once(url, wait_for)
            except BrowserCrashed as exc:
                self.stats.crashes += 1
                if attempt + 1 == attempts:
                    raise BrowserError(f"{url}: browser crashed {attempts} times: {exc}") from None
        raise AssertionError("unreachable")

    async def _safe(self, url: str) -> bool:
        """A cheap early refusal; the fetch itself is checked (and pinned) by the guard."""
        try:
            await check_target(
                url,
                allow_private=self._allow_private,
                allow_networks=self._allow_networks,
                resolver=self._resolver,
            )
        except (UnsafeTargetError, WebhookError):
            return False
        return True
