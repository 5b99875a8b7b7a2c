"""``CrawlOptions``: what ``Dropkit(crawl={...})`` may pass on to :class:`Crawl`.

The kit wires the database, event bus, commerce, ``redis_url`` and ``allow_private`` (from
``allow_private_crawl``) itself; these are the rest of ``Crawl``'s keyword arguments together
with the :class:`Crawler` ones it forwards, typed, so mypy checks a kit's ``crawl`` dict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

from dropkit.core.webhooks.targets import IPNetwork
from dropkit.crawl.browser import BrowserPool
from dropkit.crawl.crawler import Crawler
from dropkit.crawl.throttle import Throttle

__all__ = ["CrawlOptions"]


class CrawlOptions(TypedDict, total=False):
    """Keyword arguments of :class:`Crawl` (and its :class:`Crawler`) the kit leaves open."""

    # Crawl's own
    allow_networks: Iterable[str | IPNetwork]
    obey_robots: bool
    schedule: str
    crawler: Crawler | None
    # forwarded to Crawler (ignored when ``crawler`` is given)
    user_agent: str
    concurrency: int
    per_site_concurrency: int
    delay: float
    max_retries: int
    backoff: float
    max_retry_after: float
    timeout: float
    max_bytes: int
    throttle: Throttle | None
    browser: BrowserPool | None
    executable_path: str
    max_sites: int
