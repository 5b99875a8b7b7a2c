"""The offer cascade, fields and reviews, against the loopback shop through real httpx."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

import pytest
from crawl_shop import REVIEWS

from dropkit.crawl import (
    Availability,
    Crawler,
    FieldSpec,
    Pagination,
    Provenance,
    ScrapeTask,
    TaskError,
)


async def test_json_ld_survives_a_malformed_block_beside_it(
    shop_url: str, crawler: Crawler
) -> None:
    task = ScrapeTask(url=f"{shop_url}/p/jsonld", reviews=True)
    (result,) = await crawler.scrape(task)
    offer = result.offer
    assert offer is not None
    assert (offer.name, offer.sku, offer.brand) == ("Aurora Desk Lamp", "A-1", "Aurora")
    assert (offer.price, offer.currency) == (Decimal("1299.00"), "EUR")
    assert offer.availability is Availability.IN_STOCK
    assert (offer.rating, offer.review_count) == (Decimal("4.4"), 87)
    assert offer.sources["price"] is Provenance.JSON_LD  # not the page's "999,00 €" text
    assert "malformed_json_ld" in result.warning_codes()
    (review,) = result.reviews
    assert (review.title, review.author, review.rating) == ("Bright", "Ann", Decimal(5))
    assert review.date is not None and review.date.isoformat() == "2024-05-01"
    assert result.status == 200 and result.render == "http"
    assert result.timings.total_ms > 0


async def test_microdata_opengraph_and_fallback(shop_url: str, crawler: Crawler) -> None:
    urls = [f"{shop_url}/p/{name}" for name in ("microdata", "og", "plain")]
    micro, og, plain = await crawler.scrape(ScrapeTask(urls=tuple(urls)))
    assert micro.offer is not None and og.offer is not None and plain.offer is not None
    assert (micro.offer.price, micro.offer.currency) == (Decimal("59.00"), "GBP")
    assert micro.offer.availability is Availability.OUT_OF_STOCK
    assert micro.offer.sources["price"] is Provenance.MICRODATA
    assert (og.offer.name, og.offer.price, og.offer.currency) == (
        "Birch Stand",
        Decimal("45.50"),
        "USD",
    )
    assert og.offer.sources["price"] is Provenance.OPENGRAPH
    assert (plain.offer.price, plain.offer.currency) == (Decimal("1299.00"), "EUR")
    assert plain.offer.sources["price"] is Provenance.FALLBACK
    assert plain.offer.name == "Fjord Standing Desk"


async def test_task_selectors_beat_fallbacks_and_report_empty_fields(
    shop_url: str, crawler: Crawler
) -> None:
    task = ScrapeTask(
        url=f"{shop_url}/p/plain",
        fields={
            "price": FieldSpec(selector=".product-price", cleaner="price"),
            "rating": FieldSpec(selector=".rating", cleaner="rating"),
            "review_count": FieldSpec(
                selector="//a[@class='reviews-count']", kind="xpath", cleaner="number"
            ),
            "title": FieldSpec(selector="//h1/text()", kind="xpath"),
            "stock": FieldSpec(selector="p.stock", cleaner="availability"),
            "missing": FieldSpec(selector=".no-such-thing"),
        },
    )
    (result,) = await crawler.scrape(task)
    (record,) = result.records
    assert record.get("price") == {"amount": "1299.00", "currency": "EUR"}
    assert record.get("rating") == "4.5"
    assert record.get("review_count") == 1234
    assert record.get("title") == "Fjord Standing Desk"
    assert record.get("stock") == "in_stock"
    assert record.fields["price"].source is Provenance.SELECTOR
    assert result.offer is not None
    assert result.offer.sources["price"] is Provenance.SELECTOR
    assert result.offer.rating == Decimal("4.5") and result.offer.review_count == 1234
    empty = [w for w in result.warnings if w.code == "selector_empty"]
    assert [w.field for w in empty] == ["missing"]


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("1.299,00 €", "1299.00", "EUR"),
        ("$1,299.99", "1299.99", "USD"),
        ("From £10", "10.00", "GBP"),
        ("2 499 kr", "2499.00", "SEK"),
        ("¥ 3,000", "3000", "JPY"),
    ],
)
async def test_price_formats_on_pages(
    shop_url: str, crawler: Crawler, text: str, amount: str, currency: str
) -> None:
    (result,) = await crawler.scrape(ScrapeTask(url=f"{shop_url}/p/price-x?text={quote(text)}"))
    assert result.offer is not None
    assert (result.offer.price, result.offer.currency) == (Decimal(amount), currency)


async def test_paginated_reviews_with_item_selector(shop_url: str, crawler: Crawler) -> None:
    task = ScrapeTask(
        url=f"{shop_url}/reviews",
        item_selector=".review",
        offer=False,
        reviews=True,
        fields={
            "rating": FieldSpec(selector=".stars", cleaner="rating"),
            "title": FieldSpec(selector="h3"),
            "body": FieldSpec(selector="p"),
            "author": FieldSpec(selector=".by"),
            "date": FieldSpec(selector="time", cleaner="date"),
            "verified": FieldSpec(selector=".verified"),
        },
        pagination=Pagination(next_selector="a.next", max_pages=10),
    )
    (result,) = await crawler.scrape(task)
    assert result.pages == 3
    assert [r.author for r in result.reviews] == [r[3] for r in REVIEWS]
    assert [r.verified for r in result.reviews] == [r[5] for r in REVIEWS]
    assert result.reviews[2].rating == Decimal(2)
    assert result.reviews[0].date is not None and result.reviews[0].date.isoformat() == "2024-01-02"
    assert result.offer is None

    limited = task.model_copy(
        update={"pagination": Pagination(next_selector="a.next", max_pages=2)}
    )
    (first_two,) = await crawler.scrape(limited)
    assert first_two.pages == 2 and len(first_two.reviews) == 4


def test_bad_tasks_are_refused_up_front() -> None:
    with pytest.raises(TaskError, match="CSS selector"):
        ScrapeTask.build(url="http://shop.example/", fields={"p": {"selector": "div[["}})
    with pytest.raises(TaskError, match="XPath"):
        ScrapeTask.build(
            url="http://shop.example/", fields={"p": {"selector": "//[", "kind": "xpath"}}
        )
    with pytest.raises(TaskError, match="http"):
        ScrapeTask.build(url="file:///etc/passwd")
    with pytest.raises(TaskError, match="required"):
        ScrapeTask.build(url="http://shop.example/", required=["nope"])
    with pytest.raises(TaskError):
        ScrapeTask.build(urls=[])
