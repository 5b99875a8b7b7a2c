"""The research bot's errors, all under :class:`~dropkit.core.errors.CrawlError`::

CrawlError
├── TaskError             a scrape task or monitor is malformed (also a ValueError)
├── UnsafeUrlError        the URL (or a redirect) leads to a refused address
├── FetchError            the page could not be fetched (network failure, timeout)
│   └── ResponseTooLargeError  the body passed the size limit
├── RobotsDisallowedError robots.txt forbids the URL
└── BrowserError          Chromium could not be started or kept alive
"""

from __future__ import annotations

from dropkit.core.errors import CrawlError

__all__ = [
    "BrowserError",
    "CrawlError",
    "FetchError",
    "ResponseTooLargeError",
    "RobotsDisallowedError",
    "TaskError",
    "UnsafeUrlError",
]


class TaskError(CrawlError, ValueError):
    """A scrape task, selector or monitor definition is malformed."""


class UnsafeUrlError(CrawlError, ValueError):
    """The URL, or a redirect it leads to, resolves to a refused (private/metadata) address."""


class FetchError(CrawlError):
    """The page could not be fetched: network failure, timeout, too many redirects."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ResponseTooLargeError(FetchError):
    """The response body passed the configured size limit; the rest was not read."""


class RobotsDisallowedError(CrawlError):
    """robots.txt of the site forbids fetching the URL with our user agent."""


class BrowserError(CrawlError):
    """Chromium could not be launched, or crashed more often than the retry budget allows."""
