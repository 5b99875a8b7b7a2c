"""Static fetching with httpx through the SSRF guard, with size and time limits.

The bot fetches URLs users give it, so every request (each redirect hop included) goes through
core's :class:`~dropkit.core.webhooks.targets.GuardedTransport`: private, loopback, link-local
and metadata addresses are refused after DNS resolution, and connections are pinned to the
checked address. ``allow_networks`` opens chosen private networks (a LAN shop, or loopback in
tests) without opening the others; metadata addresses stay refused even then.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Final, Literal

import anyio
import httpx

from dropkit.core.errors import UnsafeTargetError, WebhookError
from dropkit.core.webhooks.targets import GuardedTransport, IPNetwork, allowed_networks
from dropkit.crawl.errors import FetchError, ResponseTooLargeError, UnsafeUrlError

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchedPage",
    "HttpFetcher",
    "read_limited",
    "retry_after_seconds",
]

DEFAULT_USER_AGENT: Final = "dropkit-research-bot/1.0 (+https://dropkit.dev/bot)"


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


async def read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    """The body of a streamed ``response``, refused past ``max_bytes`` (declared or counted)."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLargeError(
            f"{response.url}: {declared} bytes declared, limit {max_bytes}",
            status=response.status_code,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLargeError(
                f"{response.url}: body passed the limit of {max_bytes} bytes",
                status=response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class FetchedPage:
    """A fetched page: where we asked, where we landed, what came back."""

    url: str
    final_url: str
    status: int
    html: str
    elapsed: float
    render: Literal["http", "browser"] = "http"
    headers: Mapping[str, str] = field(default_factory=dict)


class HttpFetcher:
    """Pooled, guarded httpx clients; :meth:`fetch` returns the page or raises typed errors.

    The connections are split over several small pools (``pool_size`` connections each, used
    in turn): httpcore scans every connection of a pool for every request it places, a cost
    that grows with the square of the pool's size and dominated a 32-connection crawl; small
    pools keep the same connection reuse without it.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        allow_networks: Iterable[str | IPNetwork] = (),
        timeout: float = 15.0,
        max_bytes: int = 5_000_000,
        user_agent: str = DEFAULT_USER_AGENT,
        max_connections: int = 64,
        pool_size: int = 4,
        max_redirects: int = 5,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self._allow_private = allow_private
        self._networks = tuple(allow_networks)
        try:  # refuse a bad allow-list now, not on the first fetch
            allowed_networks(self._networks)
        except UnsafeTargetError as exc:
            raise UnsafeUrlError(str(exc)) from None
        self._per_pool = max(1, min(pool_size, max_connections))
        self._pools = -(-max_connections // self._per_pool)
        self._max_redirects = max_redirects
        self._clients: list[httpx.AsyncClient] = []  # built on first use: no I/O here
        self._turn = 0

    def _next_client(self) -> httpx.AsyncClient:
        if not self._clients:
            self._clients = [
                self._client(
                    self._allow_private,
                    self._networks,
                    self._per_pool,
                    self._max_redirects,
                    self.timeout,
                )
                for _ in range(self._pools)
            ]
        self._turn = (self._turn + 1) % len(self._clients)
        return self._clients[self._turn]

    def _client(
        self,
        allow_private: bool,
        networks: tuple[str | IPNetwork, ...],
        connections: int,
        max_redirects: int,
        timeout: float,
    ) -> httpx.AsyncClient:
        transport = GuardedTransport(
            allow_private=allow_private,
            allow_networks=networks,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
        return httpx.AsyncClient(
            transport=transport,
            follow_redirects=True,
            max_redirects=max_redirects,
            timeout=httpx.Timeout(timeout),
            headers={
                "user-agent": self.user_agent,
                "accept": "text/html,application/xhtml+xml,*/*",
            },
        )

    async def fetch(self, url: str, *, headers: Mapping[str, str] | None = None) -> FetchedPage:
        """GET ``url`` following guarded redirects; non-2xx statuses are returned, not raised."""
        started = time.perf_counter()
        client = self._next_client()
        try:
            with anyio.fail_after(self.timeout):
                async with client.stream("GET", url, headers=headers) as response:
                    body = await self._read(response)
        except TimeoutError:
            raise FetchError(f"{url}: no complete response within {self.timeout:g}s") from None
        except UnsafeTargetError as exc:
            raise UnsafeUrlError(f"{url}: {exc}") from None
        except WebhookError as exc:  # the guard could not resolve the host
            raise FetchError(f"{url}: {exc}") from None
        except httpx.TooManyRedirects as exc:
            raise FetchError(f"{url}: {exc}") from None
        except httpx.InvalidURL as exc:
            raise UnsafeUrlError(f"{url}: {exc}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        encoding = response.charset_encoding or "utf-8"
        try:
            html = body.decode(encoding, errors="replace")
        except LookupError:  # an unknown charset name
            html = body.decode("utf-8", errors="replace")
        return FetchedPage(
            url=url,
            final_url=str(response.url),
            status=response.status_code,
            html=html,
            elapsed=time.perf_counter() - started,
            headers=dict(response.headers),
        )

    async def _read(self, response: httpx.Response) -> bytes:
        return await read_limited(response, self.max_bytes)

    async def aclose(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()
