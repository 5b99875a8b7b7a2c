"""Rendering one page in a pooled context, and telling a crash from a failed fetch.

The page is closed and its context handed back in a ``finally`` shielded from cancellation, so
no path leaves one open. A crash (the browser gone, "Target closed") retires the browser and is
raised as :class:`~dropkit.crawl.browser_contexts.BrowserCrashed` for the pool to retry; anything
else becomes the crawl error that explains it (too large, refused by the SSRF guard, fetch
failed). The document's redirects are followed here, each hop a fetch of its own through the
guard, because Chromium is never handed a redirect.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import anyio

from dropkit.crawl.browser_contexts import CLOSE_TIMEOUT, BrowserCrashed, ContextPool
from dropkit.crawl.browser_guard import RequestGuard
from dropkit.crawl.errors import CrawlError, FetchError, ResponseTooLargeError, UnsafeUrlError
from dropkit.crawl.http import FetchedPage

__all__ = ["PageRenderer", "looks_crashed"]


class PageRenderer:
    """Loads a URL in a page of the pool, at most ``permits`` pages at once."""

    def __init__(
        self,
        contexts: ContextPool,
        guard: RequestGuard,
        *,
        permits: int,
        timeout: float,
        max_bytes: int,
        max_redirects: int,
    ) -> None:
        self._contexts = contexts
        self._guard = guard
        self._permits = anyio.Semaphore(permits)
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects

    async def render_once(self, url: str, wait_for: str | None) -> FetchedPage:
        """One attempt; raises :class:`BrowserCrashed` if the browser died under it."""
        async with self._permits:
            started = time.perf_counter()
            slot = await self._contexts.take()
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
                    raise BrowserCrashed("the browser disconnected")
            except BrowserCrashed:
                self._contexts.retire(slot.browser)
                raise
            except Exception as exc:
                if not slot.browser.handle.is_connected() or looks_crashed(exc):
                    self._contexts.retire(slot.browser)
                    raise BrowserCrashed(str(exc)) from exc
                failure = self._failure(url, page, exc)
                if failure is exc:
                    raise
                raise failure from None
            finally:
                slot.browser.scopes.discard(watch)
                self._guard.forget(page)
                with anyio.CancelScope(shield=True):
                    if page is not None and not slot.browser.gone:
                        with anyio.move_on_after(CLOSE_TIMEOUT), contextlib.suppress(Exception):
                            await page.close()
                    await self._contexts.page_done(slot)
        if len(html.encode()) > self._max_bytes:
            raise ResponseTooLargeError(
                f"{url}: the rendered page passed the limit of {self._max_bytes} bytes"
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

    def _failure(self, url: str, page: Any, exc: Exception) -> Exception:
        """The crawl error for a page that failed while its browser lived on (``exc`` itself
        if it already is one)."""
        oversized = self._guard.oversized(page)
        if oversized is not None:
            return ResponseTooLargeError(oversized)
        if "ERR_BLOCKED_BY_CLIENT" in str(exc):
            return UnsafeUrlError(f"{url}: a redirect was refused by the SSRF guard")
        if isinstance(exc, CrawlError):
            return exc
        return FetchError(f"{url}: {type(exc).__name__}: {exc}")

    async def _navigate(self, page: Any, url: str) -> Any:
        """``goto`` following the document's redirects, each one a guarded fetch."""
        target = url
        for _ in range(self._max_redirects + 1):
            try:
                return await page.goto(
                    target, wait_until="domcontentloaded", timeout=self._timeout * 1000
                )
            except Exception:
                hop = self._guard.redirect(page)
                if hop is None:
                    raise
                target = hop
        raise FetchError(f"{url}: more than {self._max_redirects} redirects")

    async def _wait_for(self, page: Any, selector: str) -> None:
        try:
            await page.wait_for_selector(selector, timeout=self._timeout * 1000)
        except Exception as exc:
            if looks_crashed(exc):
                raise
            # Not there in time: return what rendered; missing fields become warnings.


def looks_crashed(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in ("target closed", "crashed", "has been closed"))
