"""The pool's browsers and contexts, and the policy that recycles them.

A context serves ``pages_per_context`` pages and is then closed (contexts accumulate caches and
listeners); when the pool's Chromium memory (RSS over its process tree) passes the ceiling, the
current browser is retired: the next pages get a fresh one and the old one is closed as soon as
its last page is done. A browser that disconnects is retired too, and the work running on it
cancelled. Closing is shielded and time-boxed, since a dead browser may fail or hang there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import anyio

from dropkit.crawl.browser_guard import RequestGuard
from dropkit.crawl.processes import ProcessTracker, rss_bytes

__all__ = [
    "CLOSE_TIMEOUT",
    "BrowserCrashed",
    "BrowserStats",
    "ContextPool",
    "ContextSlot",
    "RunningBrowser",
]

CLOSE_TIMEOUT: Final = 10.0  # a close that hangs (dead browser) is abandoned after this


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


class BrowserCrashed(Exception):
    """The browser or its context died under a page: replace it and retry."""


@dataclass
class RunningBrowser:
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
class ContextSlot:
    browser: RunningBrowser
    context: Any
    pages: int = 0


class ContextPool:
    """Hands out contexts on the current browser; closes them by page budget and memory."""

    def __init__(
        self,
        *,
        launch: Callable[[], Awaitable[Any]],
        guard: RequestGuard,
        tracker: ProcessTracker,
        stats: BrowserStats,
        user_agent: str,
        pages_per_context: int,
        max_rss_bytes: int,
        rss_check_every: int,
    ) -> None:
        self._launch = launch
        self._guard = guard
        self._tracker = tracker
        self._stats = stats
        self._agent = user_agent
        self._pages_per_context = pages_per_context
        self._max_rss_bytes = max_rss_bytes
        self._rss_every = max(rss_check_every, 1)
        self._launch_lock = anyio.Lock()
        self._current: RunningBrowser | None = None
        self._browsers: list[RunningBrowser] = []
        self._free: list[ContextSlot] = []
        self._generation = 0

    async def take(self) -> ContextSlot:
        """A context with pages left on the current browser, reused or freshly opened."""
        browser = await self._browser()
        while self._free:
            slot = self._free.pop()
            if slot.browser is browser and slot.pages < self._pages_per_context:
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
            self.retire(browser)
            raise BrowserCrashed(str(exc)) from exc
        finally:
            browser.scopes.discard(watch)
        if watch.cancelled_caught:
            self.retire(browser)
            raise BrowserCrashed("the browser disconnected while opening a context")
        self._stats.contexts_opened += 1
        browser.in_flight += 1
        return ContextSlot(browser, context)

    async def page_done(self, slot: ContextSlot) -> None:
        """Count a finished page, give its context back, then apply the recycling policy."""
        slot.pages += 1
        self._stats.pages += 1
        await self._give_back(slot)
        self._check_memory()
        await self._reap()

    def retire(self, browser: RunningBrowser) -> None:
        """Send no new pages to ``browser``; it is closed once its last page is done."""
        browser.retired = True
        if self._current is browser:
            self._current = None

    async def aclose(self) -> None:
        """Close every idle context and every browser."""
        for slot in self._free:
            await self._close_context(slot)
        self._free.clear()
        for browser in self._browsers:
            await self._close_browser(browser)
        self._browsers.clear()
        self._current = None

    async def _browser(self) -> RunningBrowser:
        async with self._launch_lock:
            current = self._current
            if current is not None and not current.retired and current.handle.is_connected():
                return current
            if current is not None:
                self.retire(current)
                await self._reap()
            handle = await self._launch()
            self._generation += 1
            self._current = RunningBrowser(handle, self._generation)
            handle.on("disconnected", lambda _: self._on_disconnected(self._browser_of(handle)))
            self._browsers.append(self._current)
            self._stats.browsers_launched += 1
            self._tracker.current()  # remember its processes from the start
            return self._current

    def _browser_of(self, handle: Any) -> RunningBrowser | None:
        return next((b for b in self._browsers if b.handle is handle), None)

    def _on_disconnected(self, browser: RunningBrowser | None) -> None:
        if browser is not None:
            browser.disconnected()
            self.retire(browser)

    async def _give_back(self, slot: ContextSlot) -> None:
        slot.browser.in_flight -= 1
        if slot.browser.retired or slot.pages >= self._pages_per_context:
            await self._close_context(slot)
        else:
            self._free.append(slot)

    def _check_memory(self) -> None:
        if self._stats.pages % self._rss_every:
            return
        rss = rss_bytes(self._tracker.current())  # this pool's browsers only
        self._stats.rss_samples.append(rss)
        self._stats.peak_rss_bytes = max(self._stats.peak_rss_bytes, rss)
        if rss > self._max_rss_bytes and self._current is not None:
            self._stats.recycled_for_memory += 1
            self.retire(self._current)

    async def _reap(self) -> None:
        """Close retired browsers (and their idle contexts) once no page runs on them."""
        idle = [b for b in self._browsers if b.retired and b.in_flight == 0]
        for browser in idle:
            self._browsers.remove(browser)
            for slot in [s for s in self._free if s.browser is browser]:
                self._free.remove(slot)
                await self._close_context(slot)
            await self._close_browser(browser)

    async def _close_browser(self, browser: RunningBrowser) -> None:
        self._tracker.current()  # its latest renderers: checked for survivors after closing
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True), contextlib.suppress(Exception):
            await browser.handle.close()  # a crashed browser may fail or hang here

    async def _close_context(self, slot: ContextSlot) -> None:
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True), contextlib.suppress(Exception):
            await slot.context.close()  # its browser died: the context died with it
        self._stats.contexts_closed += 1


def _every_url(_url: str) -> bool:
    return True
