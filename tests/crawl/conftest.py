from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from crawl_shop import Shop, serve

from dropkit.crawl import Crawler

LOOPBACK = ("127.0.0.0/8",)


@pytest.fixture
def shop() -> Shop:
    return Shop()


@pytest.fixture
async def shop_url(shop: Shop) -> AsyncIterator[str]:
    async with serve(shop.app()) as url:
        yield url


@pytest.fixture
async def crawler() -> AsyncIterator[Crawler]:
    crawler = Crawler(allow_networks=LOOPBACK, backoff=0.1)
    try:
        yield crawler
    finally:
        await crawler.aclose()
