"""Rendering with the system Chromium through Playwright, without leaks.

A :class:`BrowserPool` runs one Chromium with up to ``contexts`` browser contexts rendering at
once. A context serves ``pages_per_context`` pages and is then closed (contexts accumulate
caches and listeners); when Chromium's memory (RSS summed over its process tree) passes
``max_rss_mb``, a fresh browser takes the next pages and the old one is closed as soon as its
last page is done. Pages and contexts are closed in ``finally`` blocks shielded from
cancellation, so no path leaves one open. A crashed browser ("Target closed") is replaced and the
page retried. The SSRF guard applies here too: Chromium opens no connection of its own, every
request the page makes is fetched through the pinned, size-limited guard
(:mod:`dropkit.crawl.browser_guard`), redirect hops included. Each pool finds its own Chromium
processes by a marker on their command line, so it measures only its own memory and can tell,
after closing, whether any of them survived.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import anyio

from dropkit.core.errors import MissingDependencyError, UnsafeTargetError, WebhookError
from dropkit.core.webhooks.targets import IPNetwork, Resolver, allowed_networks, check_target
from dropkit.crawl.browser_guard import RequestGuard
from dropkit.crawl.errors import (
    BrowserError,
    CrawlError,
    FetchError,
    ResponseTooLargeError,
    UnsafeUrlError,
)
from dropkit.crawl.http import DEFAULT_USER_AGENT, FetchedPage
from dropkit.crawl.processes import ProcessTracker, rss_bytes

__all__ = ["BrowserPool", "BrowserStats"]

SYSTEM_CHROMIUM: Final = "/usr/bin/chromium"
_SKIPPED_RESOURCES: Final = frozenset({"image", "media", "font"})
_LAUNCH_ARGS: Final = ("--disable-dev-shm-usage", "--disable-gpu", "--no-first-run")
_CLOSE_TIMEOUT: Final = 10.0  # a close that hangs (dead browser) is abandoned after this


@dataclass
class BrowserStats:
    pages: int = 0
    contexts_opened: int = 0
    contexts_closed: int = 0
    browsers_launched: int = 0
    recycled_for_memory: int = 0
    crashes: int = 0
    peak_rss_bytes: int = 0
    rss_samples: list[int] = field(default_factory=list)


@dataclass
class _Browser:
    handle: Any
    generation: int
    in_flight: int = 0
    retired: bool = False
    gone: bool = False
    # Work running on this browser: cancelled when it disconnects, since Playwright can leave a
    # call on a dead browser (e.g. ``new_page``) pending forever.
    scopes: set[anyio.CancelScope] = field(default_factory=set)

    def disconnected(self) -> None:
        self.gone = True
        for scope in self.scopes:
            scope.cancel()


@dataclass
class _Slot:
    browser: _Browser
    context: Any
    pages: int = 0


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
        self._contexts = contexts
        self._rss_every = max(rss_check_every, 1)
        self._allow_private = allow_private
        self._allow_networks = allowed_networks(allow_networks)
        self._agent = user_agent
        self._crash_retries = crash_retries
        self._guard = RequestGuard(
            allow_private=allow_private,
            allow_networks=self._allow_networks,
            timeout=timeout,
            max_bytes=max_bytes,
            skip_resources=frozenset(skip_resources),
            resolver=resolver,
        )
        self._resolver = resolver
        marker = f"--dropkit-pool={uuid.uuid4().hex}"  # Chromium ignores unknown switches
        self._args = [*_LAUNCH_ARGS, *args, marker]
        self._tracker = ProcessTracker(marker)
        self._permits = anyio.Semaphore(contexts)
        self._launch_lock = anyio.Lock()
        self._playwright: Any = None
        self._current: _Browser | None = None
        self._browsers: list[_Browser] = []
        self._free: list[_Slot] = []
        self._generation = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._playwright is not None:
            return
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:  # pragma: no cover - only without the crawl extra
            raise MissingDependencyError("playwright", "crawl") from exc
        self._playwright = await async_playwright().start()

    async def aclose(self) -> None:
        """Close every context and browser and stop Playwright; idempotent."""
        with anyio.CancelScope(shield=True):
            for slot in self._free:
                await self._close_context(slot)
            self._free.clear()
            for browser in self._browsers:
                await self._close_browser(browser)
            self._browsers.clear()
            self._current = None
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

    # -- browsers and contexts ---------------------------------------------------------------

    async def _browser(self) -> _Browser:
        async with self._launch_lock:
            current = self._current
            if current is not None and not current.retired and current.handle.is_connected():
                return current
            if current is not None:
                self._retire(current)
                await self._reap()
            if self._playwright is None:
                await self.start()
            try:
                handle = await self._playwright.chromium.launch(
                    executable_path=self.executable_path, headless=True, args=self._args
                )
            except Exception as exc:
                raise BrowserError(f"cannot launch {self.executable_path}: {exc}") from exc
            self._generation += 1
            self._current = _Browser(handle, self._generation)
            handle.on("disconnected", lambda _: self._on_disconnected(self._current_of(handle)))
            self._browsers.append(self._current)
            self.stats.browsers_launched += 1
            self._tracker.current()  # remember its processes from the start
            return self._current

    def _current_of(self, handle: Any) -> _Browser | None:
        return next((b for b in self._browsers if b.handle is handle), None)

    def _on_disconnected(self, browser: _Browser | None) -> None:
        if browser is not None:
            browser.disconnected()
            self._retire(browser)

    def _retire(self, browser: _Browser) -> None:
        browser.retired = True
        if self._current is browser:
            self._current = None

    async def _close_browser(self, browser: _Browser) -> None:
        self._tracker.current()  # its latest renderers: checked for survivors after closing
        with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True), contextlib.suppress(Exception):
            await browser.handle.close()  # a crashed browser may fail or hang here

    async def _close_context(self, slot: _Slot) -> None:
        with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True), contextlib.suppress(Exception):
            await slot.context.close()  # its browser died: the context died with it
        self.stats.contexts_closed += 1

    async def _take_slot(self) -> _Slot:
        browser = await self._browser()
        while self._free:
            slot = self._free.pop()
            if slot.browser is browser and slot.pages < self.pages_per_context:
                slot.browser.in_flight += 1
                return slot
            await self._close_context(slot)
        watch = anyio.CancelScope()
        browser.scopes.add(watch)
        context: Any = None
        try:
            with watch:
                context = await browser.handle.new_context(
                    user_agent=self._agent, service_workers="block"
                )
                await context.route("**/*", self._guard.route)
                await context.route_web_socket(_every_url, self._guard.websocket)
        except Exception as exc:
            self._retire(browser)
            raise _Crashed(str(exc)) from exc
        finally:
            browser.scopes.discard(watch)
        if watch.cancelled_caught:
            self._retire(browser)
            raise _Crashed("the browser disconnected while opening a context")
        self.stats.contexts_opened += 1
        browser.in_flight += 1
        return _Slot(browser, context)

    async def _give_back(self, slot: _Slot) -> None:
        slot.browser.in_flight -= 1
        if slot.browser.retired or slot.pages >= self.pages_per_context:
            await self._close_context(slot)
        else:
            self._free.append(slot)

    async def _reap(self) -> None:
        """Close retired browsers (and their idle contexts) once no page runs on them."""
        idle = [b for b in self._browsers if b.retired and b.in_flight == 0]
        for browser in idle:
            self._browsers.remove(browser)
            for slot in [s for s in self._free if s.browser is browser]:
                self._free.remove(slot)
                await self._close_context(slot)
            await self._close_browser(browser)

    def _check_memory(self) -> None:
        if self.stats.pages % self._rss_every:
            return
        rss = rss_bytes(self._tracker.current())  # this pool's browsers only
        self.stats.rss_samples.append(rss)
        self.stats.peak_rss_bytes = max(self.stats.peak_rss_bytes, rss)
        if rss > self.max_rss_bytes and self._current is not None:
            self.stats.recycled_for_memory += 1
            self._retire(self._current)

    # -- the SSRF guard ----------------------------------------------------------------------

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

    # -- rendering ---------------------------------------------------------------------------

    async def render(self, url: str, *, wait_for: str | None = None) -> FetchedPage:
        """Load ``url`` in a fresh page, wait for ``wait_for`` (if given), return its HTML."""
        if not await self._safe(url):
            raise UnsafeUrlError(f"{url}: refused by the SSRF guard")
        attempts = self._crash_retries + 1
        for attempt in range(attempts):
            try:
                return await self._render_once(url, wait_for)
            except _Crashed as exc:
                self.stats.crashes += 1
                if attempt + 1 == attempts:
                    raise BrowserError(f"{url}: browser crashed {attempts} times: {exc}") from None
        raise AssertionError("unreachable")

    async def _render_once(self, url: str, wait_for: str | None) -> FetchedPage:
        async with self._permits:
            started = time.perf_counter()
            slot = await self._take_slot()
            page: Any = None
            watch = anyio.CancelScope()
            slot.browser.scopes.add(watch)
            try:
                with watch:
                    page = await slot.context.new_page()
                    response = await self._navigate(page, url)
                    if wait_for is not None:
                        await self._wait_for(page, wait_for)
                    html = await page.content()
                    final_url = page.url
                    status = 0 if response is None else response.status
                    headers = {} if response is None else dict(response.headers)
                if watch.cancelled_caught:
                    raise _Crashed("the browser disconnected")
            except _Crashed:
                self._retire(slot.browser)
                raise
            except Exception as exc:
                if not slot.browser.handle.is_connected() or _looks_crashed(exc):
                    self._retire(slot.browser)
                    raise _Crashed(str(exc)) from exc
                oversized = self._guard.oversized(page)
                if oversized is not None:
                    raise ResponseTooLargeError(oversized) from None
                if "ERR_BLOCKED_BY_CLIENT" in str(exc):
                    raise UnsafeUrlError(
                        f"{url}: a redirect was refused by the SSRF guard"
                    ) from None
                if isinstance(exc, CrawlError):
                    raise
                raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
            finally:
                slot.browser.scopes.discard(watch)
                self._guard.forget(page)
                with anyio.CancelScope(shield=True):
                    if page is not None and not slot.browser.gone:
                        with anyio.move_on_after(_CLOSE_TIMEOUT), contextlib.suppress(Exception):
                            await page.close()
                    slot.pages += 1
                    self.stats.pages += 1
                    await self._give_back(slot)
                    self._check_memory()
                    await self._reap()
        if len(html.encode()) > self.max_bytes:
            raise ResponseTooLargeError(
                f"{url}: the rendered page passed the limit of {self.max_bytes} bytes"
            )
        return FetchedPage(
            url=url,
            final_url=final_url,
            status=status,
            html=html,
            elapsed=time.perf_counter() - started,
            render="browser",
            headers=headers,
        )

    async def _navigate(self, page: Any, url: str) -> Any:
        """``goto`` following the document's redirects, each one a guarded fetch."""
        target = url
        for _ in range(self.max_redirects + 1):
            try:
                return await page.goto(
                    target, wait_until="domcontentloaded", timeout=self.timeout * 1000
                )
            except Exception:
                hop = self._guard.redirect(page)
                if hop is None:
                    raise
                target = hop
        raise FetchError(f"{url}: more than {self.max_redirects} redirects")

    async def _wait_for(self, page: Any, selector: str) -> None:
        try:
            await page.wait_for_selector(selector, timeout=self.timeout * 1000)
        except Exception as exc:
            if _looks_crashed(exc):
                raise
            # Not there in time: return what rendered; missing fields become warnings.


def _every_url(_url: str) -> bool:
    return True


class _Crashed(Exception):
    """The browser or its context died under a page: replace it and retry."""


def _looks_crashed(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in ("target closed", "crashed", "has been closed"))
