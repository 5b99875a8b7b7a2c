"""The browser's SSRF guard: Chromium never opens a connection of its own.

Checking a URL and then letting Chromium (or Playwright's driver) fetch it is not enough: the
name is resolved again when the connection is made, and a host that answered with a public
address for the check can answer with ``169.254.169.254`` for the fetch (DNS rebinding); a page
script would then read the metadata service and the answer would land in the page's HTML. So
every http(s) request of a page is fetched here, through core's
:class:`~dropkit.core.webhooks.targets.GuardedTransport` (which checks the resolved addresses
and dials exactly the checked one), size-limited, and handed to the page with ``route.fulfill``.
A redirect is never handed to Chromium: it would follow it itself, unrouted. Subresources'
redirects are followed here (each hop through the transport); a page's own redirect is noted
and the navigation aborted, and :class:`~dropkit.crawl.browser.BrowserPool` navigates to the
target, which comes back here as a new request.
WebSockets are closed (``route`` never sees them) and service workers blocked (their requests
escape page routing).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urljoin

import anyio
import httpx

from dropkit.core.errors import UnsafeTargetError, WebhookError
from dropkit.core.webhooks.targets import GuardedTransport, IPNetwork, Resolver
from dropkit.crawl.errors import ResponseTooLargeError
from dropkit.crawl.http import read_limited

__all__ = ["RequestGuard"]

_DROP_REQUEST: Final = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "upgrade",
        "accept-encoding",  # httpx asks for (and decodes) only what it can decode
        "proxy-authorization",
        "proxy-connection",
    }
)
_DROP_RESPONSE: Final = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}
)


class RequestGuard:
    """Route handlers answering a browser context's requests through the pinned transport."""

    def __init__(
        self,
        *,
        allow_private: bool,
        allow_networks: Iterable[str | IPNetwork],
        timeout: float,
        max_bytes: int,
        skip_resources: frozenset[str],
        resolver: Resolver | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._allow_private = allow_private
        self._networks = tuple(allow_networks)
        self._skip = skip_resources
        self._resolver = resolver
        self._client: httpx.AsyncClient | None = None
        # What happened to a page's own document (page -> reason / redirect target), asked by
        # the pool when the navigation fails.
        self._oversized: dict[Any, str] = {}
        self._redirects: dict[Any, str] = {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            transport = GuardedTransport(
                allow_private=self._allow_private,
                allow_networks=self._networks,
                resolver=self._resolver,
            )
            self._client = httpx.AsyncClient(
                transport=transport, follow_redirects=False, timeout=httpx.Timeout(self.timeout)
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def oversized(self, page: Any) -> str | None:
        """Why ``page``'s document was refused for its size, if it was (asked once)."""
        return self._oversized.pop(page, None)

    def redirect(self, page: Any) -> str | None:
        """Where ``page``'s document redirected to, if it did (asked once)."""
        return self._redirects.pop(page, None)

    def forget(self, page: Any) -> None:
        self._oversized.pop(page, None)
        self._redirects.pop(page, None)

    async def websocket(self, socket: Any) -> None:
        """Close every WebSocket before it connects: it would bypass the guard."""
        with contextlib.suppress(Exception):
            await socket.close(code=1008, reason="WebSockets are not allowed while crawling")

    async def route(self, route: Any) -> None:
        """Answer one request: refused, failed or fulfilled, never left pending."""
        request = route.request
        try:
            url: str = request.url
            if not url.startswith(("http://", "https://")) or request.resource_type in self._skip:
                await route.abort("blockedbyclient")
                return
            document = _main_document(request)
            try:
                status, headers, body = await self._fetch(request, follow=document is None)
            except UnsafeTargetError:
                await route.abort("blockedbyclient")
                return
            except ResponseTooLargeError as exc:
                if document is not None:
                    self._oversized[document] = str(exc)
                await route.abort("failed")
                return
            except (httpx.HTTPError, WebhookError, TimeoutError):
                await route.abort("failed")  # at once: the page must not wait for its timeout
                return
            location = headers.get("location")
            if document is not None and 300 <= status < 400 and location:
                self._redirects[document] = urljoin(url, location)
                await route.abort("aborted")
                return
            await route.fulfill(status=status, headers=headers, body=body)
        except Exception:
            # The page closed meanwhile, or the answer could not be delivered: fail the
            # request rather than leave it pending until the navigation times out.
            with contextlib.suppress(Exception):
                await route.abort("failed")

    async def _fetch(self, request: Any, *, follow: bool) -> tuple[int, dict[str, str], bytes]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST}
        with anyio.fail_after(self.timeout):
            async with self._http().stream(
                request.method,
                request.url,
                headers=headers,
                content=request.post_data_buffer,
                follow_redirects=follow,
            ) as response:
                body = await self._read(response)
        answer: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            name = name.lower()
            if name in _DROP_RESPONSE:
                continue
            joiner = "\n" if name == "set-cookie" else ", "
            answer[name] = f"{answer[name]}{joiner}{value}" if name in answer else value
        return response.status_code, answer, body

    async def _read(self, response: httpx.Response) -> bytes:
        return await read_limited(response, self.max_bytes)


def _main_document(request: Any) -> Any:
    """The page whose own document ``request`` fetches, or None for anything else."""
    with contextlib.suppress(Exception):  # a worker's request has no frame
        frame = request.frame
        if request.is_navigation_request() and frame.parent_frame is None:
            return frame.page
    return None
