"""Monitors, observations, change events and trends on SQLite and PostgreSQL, through the kit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from crawl_shop import Shop

from dropkit import Dropkit
from dropkit.commerce import Variant
from dropkit.core.errors import NotFoundError
from dropkit.core.jobs import JobState
from dropkit.core.money import Money
from dropkit.crawl import (
    RUN_MONITOR_JOB,
    RUN_MONITORS_JOB,
    Availability,
    CompetitorPriceChanged,
    CompetitorStockChanged,
    CrawlError,
    FieldSpec,
    TaskError,
    Trends,
)

LOOPBACK = ("127.0.0.0/8",)


@pytest.fixture
async def kit(database_url: str, tmp_path: Path) -> AsyncIterator[Dropkit]:
    async with Dropkit(
        database_url=database_url,
        data_dir=tmp_path,
        poll_interval=0.05,
        margin_floor=Decimal("0.2"),
        crawl={"allow_networks": LOOPBACK},
    ) as kit:
        yield kit


async def _variant(kit: Dropkit, price: str = "1250.00", cost: str | None = "900.00") -> Variant:
    vendor = await kit.commerce.vendors.create("Desks Inc")
    product = await kit.commerce.catalog.create(
        vendor.id,
        "Fjord Standing Desk",
        variants=[{"sku": "DESK-1", "price": Money(price, "EUR"), "stock_on_hand": 5}],
    )
    variant = product.variants[0]
    if cost is not None:
        supplier = await kit.commerce.suppliers.create("Lumen")
        await kit.commerce.suppliers.upsert_offer(
            supplier.id, variant.id, "L-1", Money(cost, "EUR"), stock=10, lead_time_days=3
        )
    return variant


async def test_price_and_stock_changes_become_events(
    kit: Dropkit, shop: Shop, shop_url: str
) -> None:
    variant = await _variant(kit)
    monitor = await kit.crawl.monitors.create(
        variant.id,
        [
            {"url": f"{shop_url}/p/plain", "label": "Desk World"},
            {"url": f"{shop_url}/p/jsonld", "label": "Aurora"},
        ],
        name="desk",
        price_threshold="0.05",
    )
    assert [c.label for c in monitor.competitors] == ["Desk World", "Aurora"]

    first = await kit.crawl.monitors.run(monitor.id)
    assert [o.price for o in first.observations] == [Decimal("1299.00"), Decimal("1299.00")]
    assert first.events == []

    shop.prices["plain"] = "1.270,00 €"  # -2.2 %: under the 5 % threshold
    quiet = await kit.crawl.monitors.run(monitor.id)
    assert quiet.events == []

    shop.prices["plain"] = "1.099,00 €"
    shop.stock["plain"] = "Sold out"
    run = await kit.crawl.monitors.run(monitor.id)
    price_event, stock_event = run.events
    assert isinstance(price_event, CompetitorPriceChanged)
    assert (price_event.old_price, price_event.new_price) == (
        Decimal("1270.00"),
        Decimal("1099.00"),
    )
    assert price_event.change == Decimal("-0.1346") and price_event.currency == "EUR"
    assert isinstance(stock_event, CompetitorStockChanged)
    assert not stock_event.in_stock and stock_event.new_availability == "out_of_stock"

    stored = await kit.events.list(type="competitor.price_changed")
    assert [e.payload["new_price"] for e in stored] == ["1099.00"]
    assert stored[0].subject == monitor.id
    assert len(await kit.events.list(type="competitor.stock_changed")) == 1

    plain = monitor.competitors[0]
    history = await kit.crawl.trends.history(plain.id)
    assert [o.price for o in history] == [
        Decimal("1299.00"),
        Decimal("1270.00"),
        Decimal("1099.00"),
    ]
    assert history[-1].availability is Availability.OUT_OF_STOCK
    trend = await kit.crawl.trends.history(plain.id, since=history[1].observed_at)
    assert len(trend) == 2
    assert [o.price for o in await kit.crawl.trends.history(plain.id, limit=1)] == [
        Decimal("1099.00")
    ]
    with pytest.raises(CrawlError):
        await kit.crawl.trends.history(plain.id, limit=0)
    assert (await kit.crawl.monitors.get(monitor.id)).last_run_at is not None


async def test_selector_drift_is_reported(kit: Dropkit, shop: Shop, shop_url: str) -> None:
    variant = await _variant(kit)
    monitor = await kit.crawl.monitors.create(
        variant.id,
        [
            {
                "url": f"{shop_url}/p/plain-x",
                "fields": {"price": FieldSpec(selector=".product-price", cleaner="price")},
            }
        ],
    )
    await kit.crawl.monitors.run(monitor.id)
    shop.prices["plain-x"] = "ask us"  # the price cell no longer holds a price
    run = await kit.crawl.monitors.run(monitor.id)
    (observation,) = run.observations
    assert "price" in observation.drift and observation.price is None
    (drift,) = run.events
    assert drift.type == "competitor.selector_drifted"
    assert "price" in drift.payload()["fields"]


async def test_a_failed_fetch_is_not_selector_drift(
    kit: Dropkit, shop: Shop, shop_url: str
) -> None:
    variant = await _variant(kit)
    monitor = await kit.crawl.monitors.create(
        variant.id,
        [
            {
                "url": f"{shop_url}/p/plain-y",
                "fields": {"price": FieldSpec(selector=".product-price", cleaner="price")},
            },
            f"{shop_url}/p/plain-z",
        ],
    )
    first = await kit.crawl.monitors.run(monitor.id)
    assert all(o.ok and o.matched for o in first.observations)
    shop.down.update({"plain-y", "plain-z"})  # the shop answers 500 for a while
    down = await kit.crawl.monitors.run(monitor.id)
    assert [o.ok for o in down.observations] == [False, False]
    assert [o.drift for o in down.observations] == [[], []]
    assert down.events == []
    assert await kit.events.list(type="competitor.selector_drifted") == []
    shop.down.clear()
    shop.prices["plain-z"] = "1.111,00 €"
    back = await kit.crawl.monitors.run(monitor.id)
    assert [o.drift for o in back.observations] == [[], []]
    assert [e.type for e in back.events] == ["competitor.price_changed"]
    # The latest good observation of each: the failed run replaced neither.
    latest = await kit.crawl.trends.latest(variant.id)
    assert [(c.url, c.price) for c in latest] == [
        (f"{shop_url}/p/plain-z", Decimal("1111.00")),
        (f"{shop_url}/p/plain-y", Decimal("1299.00")),
    ]


async def test_competitors_are_fetched_concurrently(
    kit: Dropkit, shop: Shop, shop_url: str
) -> None:
    variant = await _variant(kit)
    urls = [f"{shop_url}/p/plain-{n}" for n in range(4)]
    monitor = await kit.crawl.monitors.create(variant.id, urls)
    await kit.crawl.monitors.run(monitor.id)  # robots.txt and connections: warm
    shop.delay = 0.3
    started = time.perf_counter()
    run = await kit.crawl.monitors.run(monitor.id)
    assert time.perf_counter() - started < 0.9  # one after another: 1.2 s at least
    assert [o.competitor_id for o in run.observations] == [c.id for c in monitor.competitors]
    assert all(o.ok for o in run.observations)


async def test_position_and_repricing_respect_the_margin_floor(
    kit: Dropkit, shop: Shop, shop_url: str
) -> None:
    variant = await _variant(kit)  # we sell at 1250.00 EUR, supplier cost 900.00 EUR
    urls = [f"{shop_url}/p/plain-a", f"{shop_url}/p/plain-b", f"{shop_url}/p/og"]
    shop.prices.update({"plain-a": "1.199,00 €", "plain-b": "1.349,00 €"})
    monitor = await kit.crawl.monitors.create(variant.id, urls)
    await kit.crawl.monitors.run(monitor.id)

    position = await kit.crawl.trends.position(variant.id)
    assert position.currency == "EUR" and position.our_price == Decimal("1250.00")
    assert (position.min, position.median, position.max) == (
        Decimal("1199.00"),
        Decimal("1274.00"),
        Decimal("1349.00"),
    )
    assert (position.cheaper_than_us, position.rank, position.other_currencies) == (1, 2, 1)

    suggestion = await kit.crawl.trends.suggest_price(variant.id)
    assert suggestion.floor == Decimal("1125.00")  # 900 / (1 - 0.2)
    assert suggestion.suggested == Decimal("1198.99") and suggestion.changed

    shop.prices["plain-a"] = "999,00 €"  # below our floor: we do not follow
    await kit.crawl.monitors.run(monitor.id)
    floored = await kit.crawl.trends.suggest_price(variant.id)
    assert floored.suggested == Decimal("1125.00") and "floor" in floored.reason
    assert floored.competitor_min == Decimal("999.00")


async def test_no_observations_keeps_the_price(kit: Dropkit) -> None:
    variant = await _variant(kit, cost=None)
    suggestion = await kit.crawl.trends.suggest_price(variant.id)
    assert suggestion.suggested == suggestion.current and suggestion.floor is None
    position = await kit.crawl.trends.position(variant.id)
    assert position.min is None and position.rank == 1
    with pytest.raises(CrawlError, match="commerce"):
        await Trends(kit.database).suggest_price(variant.id)


async def test_monitors_run_as_durable_jobs(kit: Dropkit, shop_url: str) -> None:
    variant = await _variant(kit)
    monitor = await kit.crawl.monitors.create(variant.id, [f"{shop_url}/p/jsonld"])
    paused = await kit.crawl.monitors.create(variant.id, [f"{shop_url}/p/og"])
    await kit.crawl.monitors.set_active(paused.id, False)
    tick = await kit.jobs.enqueue(RUN_MONITORS_JOB)
    done = await kit.jobs.wait(tick.id, timeout=30)
    assert done.state is JobState.SUCCEEDED and done.result == 1
    job = await kit.jobs.get_by_key(f"monitor:{monitor.id}:{tick.id}")
    finished = await kit.jobs.wait(job.id, timeout=30)
    assert finished.state is JobState.SUCCEEDED
    assert finished.result == {"observations": 1, "events": []}
    assert [m.id for m in await kit.crawl.monitors.list(active_only=True)] == [monitor.id]
    assert len(await kit.crawl.monitors.list(variant_id=variant.id)) == 2
    assert RUN_MONITOR_JOB in kit.registry
    assert any(s.name == RUN_MONITORS_JOB for s in kit.registry.schedules)


async def test_failed_fetches_are_observed_not_lost(kit: Dropkit, shop_url: str) -> None:
    variant = await _variant(kit)
    monitor = await kit.crawl.monitors.create(
        variant.id, [f"{shop_url}/private/page", f"{shop_url}/p/captcha"]
    )
    run = await kit.crawl.monitors.run(monitor.id)
    robots, captcha = run.observations
    assert not robots.ok and robots.error is not None and "robots" in robots.error
    assert not captcha.ok and captcha.blocked and captcha.error is not None
    assert run.events == []


async def test_bad_monitors_are_refused(kit: Dropkit) -> None:
    with pytest.raises(TaskError):
        await kit.crawl.monitors.create("v", [])
    with pytest.raises(TaskError):
        await kit.crawl.monitors.create("v", ["ftp://x"])
    with pytest.raises(TaskError):
        await kit.crawl.monitors.create("v", ["http://a.example/", "http://a.example/"])
    with pytest.raises(TaskError):
        await kit.crawl.monitors.create("v", ["http://a.example/"], price_threshold="2")
    with pytest.raises(TaskError):
        await kit.crawl.monitors.create(" ", ["http://a.example/"])
    with pytest.raises(NotFoundError):
        await kit.crawl.monitors.get("mon_missing")
    assert await kit.crawl.monitors.list() == []
