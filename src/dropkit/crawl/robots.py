"""robots.txt, honoured by default: parsed by protego, cached per site.

One fetch per site and TTL, however many tasks ask at once (a per-site lock). A missing
robots.txt (4xx) allows everything; an unreachable one (5xx, 429, network error) disallows the
site for a short while (``Retry-After`` if the server names one), as Google does, rather than
crawling blind. At most ``max_sites`` sites are remembered, least recently used dropped first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
from protego import Protego

from dropkit.crawl.errors import FetchError
from dropkit.crawl.http import HttpFetcher, retry_after_seconds

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
        max_sites: int = 10_000,
        max_error_ttl: float = 3600.0,
    ) -> None:
        self._fetcher = fetcher
        self._agent = user_agent
        self._ttl = ttl
        self._error_ttl = error_ttl
        self._clock = clock
        self._max_sites = max(max_sites, 1)
        self._max_error_ttl = max_error_ttl
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, anyio.Lock] = {}  # only while a load runs

    def __len__(self) -> int:
        """How many sites' rules are remembered."""
        return len(self._entries)

    async def _rules(self, url: str) -> Protego | None:
        site = site_of(url)
        entry = self._entries.get(site)
        if entry is not None and entry.expires > self._clock():
            self._entries.move_to_end(site)
            return entry.rules
        lock = self._locks.setdefault(site, anyio.Lock())
        try:
            async with lock:
                entry = self._entries.get(site)
                if entry is None or entry.expires <= self._clock():
                    entry = await self._load(site)
                    self._remember(site, entry)
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(site, None)
        return entry.rules

    def _remember(self, site: str, entry: _Entry) -> None:
        self._entries[site] = entry
        self._entries.move_to_end(site)
        while len(self._entries) > self._max_sites:
            self._entries.popitem(last=False)

    async def _load(self, site: str) -> _Entry:
        try:
            page = await self._fetcher.fetch(f"{site}/robots.txt")
        except FetchError:
            return _Entry(None, self._clock() + self._error_ttl)
        if page.status >= 500 or page.status == 429:
            wait = retry_after_seconds(page.headers.get("retry-after"))
            ttl = self._error_ttl if wait is None else min(wait, self._max_error_ttl)
            return _Entry(None, self._clock() + ttl)
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
