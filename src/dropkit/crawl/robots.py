"""robots.txt, honoured by default: parsed by protego, cached per site.

One fetch per site and TTL, however many tasks ask at once (a per-site lock). A missing
robots.txt (4xx) allows everything; an unreachable one (5xx, network error) disallows the site
for a short while, as Google does, rather than crawling blind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
from protego import Protego

from dropkit.crawl.errors import FetchError
from dropkit.crawl.http import HttpFetcher

__all__ = ["RobotsCache", "site_of"]


def site_of(url: str) -> str:
    """``scheme://host[:port]``: the unit robots.txt and politeness apply to."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass
class _Entry:
    rules: Protego | None  # None: everything disallowed (robots.txt unreachable)
    expires: float


class RobotsCache:
    """Answers "may I fetch this URL?" and "how long between requests?" per site."""

    def __init__(
        self,
        fetcher: HttpFetcher,
        *,
        user_agent: str,
        ttl: float = 3600.0,
        error_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._agent = user_agent
        self._ttl = ttl
        self._error_ttl = error_ttl
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def _rules(self, url: str) -> Protego | None:
        site = site_of(url)
        entry = self._entries.get(site)
        if entry is not None and entry.expires > self._clock():
            return entry.rules
        lock = self._locks.setdefault(site, anyio.Lock())
        async with lock:
            entry = self._entries.get(site)
            if entry is None or entry.expires <= self._clock():
                entry = await self._load(site)
                self._entries[site] = entry
        return entry.rules

    async def _load(self, site: str) -> _Entry:
        try:
            page = await self._fetcher.fetch(f"{site}/robots.txt")
        except FetchError:
            return _Entry(None, self._clock() + self._error_ttl)
        if page.status >= 500:
            return _Entry(None, self._clock() + self._error_ttl)
        text = page.html if 200 <= page.status < 300 else ""
        return _Entry(Protego.parse(text), self._clock() + self._ttl)

    async def allowed(self, url: str) -> bool:
        rules = await self._rules(url)
        return rules is not None and bool(rules.can_fetch(url, self._agent))

    async def crawl_delay(self, url: str) -> float | None:
        rules = await self._rules(url)
        if rules is None:
            return None
        delay = rules.crawl_delay(self._agent)
        return None if delay is None else float(delay)
