"""Starting Playwright and launching the system Chromium, marked as one pool's own.

Kept apart from the pool so the pool deals only in running browsers: this is the one place that
knows where Chromium lives, which switches it gets, and how a pool's processes are marked so
:class:`~dropkit.crawl.processes.ProcessTracker` can find them (and only them) later.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Final

from dropkit.core.errors import MissingDependencyError
from dropkit.crawl.errors import BrowserError

__all__ = [
    "LAUNCH_ARGS",
    "SYSTEM_CHROMIUM",
    "launch_args",
    "launch_chromium",
    "pool_marker",
    "start_playwright",
]

SYSTEM_CHROMIUM: Final = "/usr/bin/chromium"
LAUNCH_ARGS: Final = ("--disable-dev-shm-usage", "--disable-gpu", "--no-first-run")


def pool_marker() -> str:
    """A command-line switch unique to one pool; Chromium ignores unknown switches."""
    return f"--dropkit-pool={uuid.uuid4().hex}"


def launch_args(extra: Iterable[str], marker: str) -> list[str]:
    """Chromium's command line: the defaults, the caller's switches, then the pool's marker."""
    return [*LAUNCH_ARGS, *extra, marker]


async def start_playwright() -> Any:
    """A started Playwright driver; needs the ``crawl`` extra."""
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:  # pragma: no cover - only without the crawl extra
        raise MissingDependencyError("playwright", "crawl") from exc
    return await async_playwright().start()


async def launch_chromium(playwright: Any, executable_path: str, args: list[str]) -> Any:
    """A headless Chromium from ``executable_path``; any failure is a :class:`BrowserError`."""
    try:
        return await playwright.chromium.launch(
            executable_path=executable_path, headless=True, args=args
        )
    except Exception as exc:
        raise BrowserError(f"cannot launch {executable_path}: {exc}") from exc
