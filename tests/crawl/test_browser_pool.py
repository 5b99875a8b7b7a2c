"""BrowserPool lifecycle against real Chromium: page budget, memory ceiling, crash recovery.

Own module: these tests assert that no Chromium process is left, so no other browser may run.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator

import anyio
import pytest
from crawl_shop import Shop, serve

from dropkit.crawl import BrowserPool
from dropkit.crawl.processes import rss_bytes

LOOPBACK = ("127.0.0.0/8",)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def js_shop() -> AsyncIterator[str]:
    async with serve(Shop().app()) as url:
        yield url


async def test_contexts_are_recycled_and_memory_limit_replaces_browser(js_shop: str) -> None:
    pool = BrowserPool(
        allow_networks=LOOPBACK, contexts=2, pages_per_context=2, max_rss_mb=1, rss_check_every=2
    )
    try:
        async with anyio.create_task_group() as tg:
            for n in range(6):
                tg.start_soon(pool.render, f"{js_shop}/p/plain-{n}")
        stats = pool.stats
        assert stats.pages == 6
        assert stats.contexts_opened >= 3
        assert stats.recycled_for_memory >= 1 and stats.browsers_launched >= 2
        assert stats.peak_rss_bytes > 1024 * 1024
    finally:
        await pool.aclose()
    assert pool.stats.contexts_closed == pool.stats.contexts_opened
    assert pool.leftover_processes() == [] and pool.processes() == []
    assert rss_bytes([]) == 0


async def test_a_crashed_browser_is_replaced_and_the_page_retried(js_shop: str) -> None:
    pool = BrowserPool(allow_networks=LOOPBACK)
    killed: list[int] = []
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:

                async def kill_mid_page() -> None:
                    while pool.stats.contexts_opened == 0:  # the page is on its way
                        await anyio.sleep(0.02)
                    await anyio.sleep(0.3)
                    for pid in pool.processes():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                            killed.append(pid)

                tg.start_soon(kill_mid_page)
                page = await pool.render(f"{js_shop}/p/slow", wait_for=".late")
        assert killed
        assert "€ 5,00" in page.html
        assert pool.stats.crashes >= 1 and pool.stats.browsers_launched == 2
    finally:
        await pool.aclose()
    assert pool.leftover_processes() == []
