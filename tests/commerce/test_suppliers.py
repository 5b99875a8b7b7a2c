"""Suppliers, offers and the routing policies (fresh, in-stock offers only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dropkit.commerce.catalog import Catalog
from dropkit.commerce.errors import InvalidQuantityError
from dropkit.commerce.suppliers import (
    Offer,
    RoutingPolicy,
    Suppliers,
    choose_offer,
    fresh_supplier_stock,
)
from dropkit.commerce.vendors import Vendors
from dropkit.core.database import Database
from dropkit.core.errors import ConflictError, NotFoundError, ValidationError
from dropkit.core.money import Money

Snapshot = Callable[[], Awaitable[dict[str, int]]]

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=6)


def offer(
    name: str,
    cost: str,
    *,
    stock: int = 10,
    reserved: int = 0,
    lead: int = 5,
    age: timedelta = timedelta(hours=1),
    preferred: bool = False,
) -> Offer:
    amount, currency = cost.split()
    return Offer(
        id=f"off_{name}",
        supplier_id=f"sup_{name}",
        variant_id="var_1",
        supplier_sku=f"{name}-SKU",
        cost=Money(amount, currency),
        stock=stock,
        stock_reserved=reserved,
        lead_time_days=lead,
        synced_at=NOW - age,
        preferred=preferred,
    )


# -- routing (pure) ---------------------------------------------------------------------------


def choose(offers: list[Offer], policy: str, quantity: int = 1, **kw: Any) -> str | None:
    chosen = choose_offer(offers, quantity, policy, now=NOW, ttl=TTL, **kw)
    return None if chosen is None else chosen.id.removeprefix("off_")


def test_cheapest_in_stock_skips_stale_and_short_offers() -> None:
    offers = [
        offer("a", "9.00 EUR"),
        offer("b", "7.00 EUR", age=timedelta(hours=7)),  # stale: its stock is unknown
        offer("c", "6.00 EUR", stock=5, reserved=4),  # only one unit left
        offer("d", "8.00 EUR"),
    ]
    assert choose(offers, "cheapest_in_stock") == "c"
    assert choose(offers, RoutingPolicy.CHEAPEST_IN_STOCK, quantity=2) == "d"
    assert choose(offers, "cheapest_in_stock", quantity=11) is None
    assert choose([], "cheapest_in_stock") is None


def test_fastest_prefers_short_lead_times_then_preferred_then_cost() -> None:
    offers = [
        offer("slow", "5.00 EUR", lead=10),
        offer("quick", "9.00 EUR", lead=2),
        offer("quick_cheap", "8.00 EUR", lead=2),
        offer("stale_fastest", "1.00 EUR", lead=1, age=timedelta(days=2)),
    ]
    assert choose(offers, "fastest") == "quick_cheap"
    offers.append(offer("quick_pref", "9.50 EUR", lead=2, preferred=True))
    assert choose(offers, "fastest") == "quick_pref"


def test_preferred_falls_back_to_cheapest() -> None:
    offers = [
        offer("cheap", "5.00 EUR"),
        offer("pref", "7.00 EUR", preferred=True),
        offer("pref_cheaper_but_empty", "6.00 EUR", stock=0, preferred=True),
    ]
    assert choose(offers, "preferred") == "pref"
    assert choose(offers, "preferred", quantity=11) is None
    offers[1] = offer("pref", "7.00 EUR", preferred=True, age=timedelta(days=1))
    assert choose(offers, "preferred") == "cheap"


def test_costs_are_compared_in_one_currency_only() -> None:
    offers = [
        offer("usd", "1.00 USD"),
        offer("eur_dear", "9.00 EUR"),
        offer("eur_cheap", "8.00 EUR"),
    ]
    # The first eligible offer's currency is the reference: the EUR offers are not comparable.
    assert choose(offers, "cheapest_in_stock") == "usd"
    assert choose(offers, "cheapest_in_stock", currency="eur") == "eur_cheap"
    assert choose(offers, "cheapest_in_stock", currency="GBP") is None
    assert choose(offers[1:] + offers[:1], "cheapest_in_stock") == "eur_cheap"


def test_ties_are_deterministic() -> None:
    offers = [offer("b", "5.00 EUR"), offer("a", "5.00 EUR")]
    assert choose(offers, "cheapest_in_stock") == "a"
    assert choose(list(reversed(offers)), "cheapest_in_stock") == "a"


def test_bad_routing_arguments_are_refused() -> None:
    offers = [offer("a", "5.00 EUR")]
    for quantity in (0, -1, True):
        with pytest.raises(InvalidQuantityError):
            choose_offer(offers, quantity, "fastest", now=NOW, ttl=TTL)
    with pytest.raises(ValidationError, match="routing policy"):
        choose_offer(offers, 1, "random", now=NOW, ttl=TTL)
    with pytest.raises(ValidationError, match="timezone"):
        choose_offer(offers, 1, "fastest", now=datetime(2025, 6, 1), ttl=TTL)


def test_fresh_supplier_stock_counts_only_fresh_unreserved_units() -> None:
    offers = [
        offer("a", "5.00 EUR", stock=10, reserved=3),
        offer("b", "5.00 EUR", stock=4, age=timedelta(hours=6)),  # exactly at the TTL: fresh
        offer("c", "5.00 EUR", stock=100, age=timedelta(hours=6, seconds=1)),
        offer("d", "5.00 EUR", stock=2, reserved=5),  # over-reserved counts as zero
    ]
    assert fresh_supplier_stock(offers, NOW, TTL) == 11
    assert fresh_supplier_stock([], NOW, TTL) == 0


# -- suppliers and offers in the database ------------------------------------------------------


@pytest.fixture
async def variant_id(catalog: Catalog, vendors: Vendors) -> str:
    vendor = await vendors.create("Seller")
    product = await catalog.create(
        vendor.id, "Widget", variants=[{"sku": "W-1", "price": "10.00 EUR"}]
    )
    return product.variants[0].id


async def test_upsert_offer_creates_then_refreshes_one_row(
    suppliers: Suppliers, variant_id: str, store_db: Database
) -> None:
    supplier = await suppliers.create("Far East Wholesale", preferred=True)
    assert supplier.id.startswith("sup_") and supplier.slug == "far-east-wholesale"
    assert supplier.preferred
    first = await suppliers.upsert_offer(
        supplier.id, variant_id, "FEW-1", Money("3.10", "USD"), 50, 12, synced_at=NOW
    )
    assert first.id.startswith("off_") and first.preferred and first.synced_at == NOW
    await store_db.execute(
        "UPDATE commerce_supplier_offers SET stock_reserved = 5 WHERE id = {}", first.id
    )
    later = NOW + timedelta(hours=1)
    second = await suppliers.upsert_offer(
        supplier.id, variant_id, "FEW-1b", Money("2.90", "USD"), 40, 10, synced_at=later
    )
    assert second.id == first.id
    assert (second.supplier_sku, second.cost, second.stock, second.lead_time_days) == (
        "FEW-1b",
        Money("2.90", "USD"),
        40,
        10,
    )
    assert second.stock_reserved == 5 and second.available == 35 and second.synced_at == later

    other = await suppliers.create("Local Maker")
    await suppliers.upsert_offer(other.id, variant_id, "LM-1", Money("4.00", "EUR"), 3, 2)
    offers = await suppliers.offers_for(variant_id)
    assert {o.supplier_id: o.preferred for o in offers} == {supplier.id: True, other.id: False}
    local = next(o for o in offers if o.supplier_id == other.id)
    assert datetime.now(UTC) - local.synced_at < timedelta(minutes=1)
    assert await suppliers.offers_for_variants([variant_id, "var_none"]) == {
        variant_id: offers,
        "var_none": [],
    }
    assert await store_db.fetchval("SELECT COUNT(*) FROM commerce_supplier_offers") == 2

    chosen = choose_offer(
        offers, 3, RoutingPolicy.FASTEST, now=datetime.now(UTC), ttl=timedelta(days=3650)
    )
    assert chosen is not None and chosen.supplier_id == other.id


async def test_supplier_management(suppliers: Suppliers) -> None:
    supplier = await suppliers.create("Acme Supply")
    assert (await suppliers.set_preferred(supplier.id, True)).preferred
    assert [s.id for s in await suppliers.list()] == [supplier.id]
    assert (await suppliers.get(supplier.id)).preferred
    with pytest.raises(ConflictError):
        await suppliers.create("ACME supply")
    with pytest.raises(NotFoundError):
        await suppliers.get("sup_missing")
    with pytest.raises(NotFoundError):
        await suppliers.set_preferred("sup_missing", True)
    with pytest.raises(ValidationError):
        await suppliers.create("")


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"stock": -1}, InvalidQuantityError, "stock"),
        ({"stock": 10**9 + 1}, InvalidQuantityError, "stock"),
        ({"lead_time_days": -2}, ValidationError, "lead_time_days"),
        ({"cost": Money("-1.00", "USD")}, ValidationError, "negative"),
        ({"cost": "1.00 USD"}, ValidationError, "Money"),
        ({"supplier_sku": "  "}, ValidationError, "supplier_sku"),
        ({"synced_at": datetime(2025, 1, 1)}, ValidationError, "timezone"),
        ({"variant_id": "var_missing"}, NotFoundError, "no variant"),
        ({"supplier_id": "sup_missing"}, NotFoundError, "no supplier"),
    ],
)
async def test_bad_offers_write_nothing(
    suppliers: Suppliers,
    variant_id: str,
    snapshot: Snapshot,
    overrides: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    supplier = await suppliers.create("Supplier")
    arguments: dict[str, Any] = {
        "supplier_id": supplier.id,
        "variant_id": variant_id,
        "supplier_sku": "S-1",
        "cost": Money("1.00", "USD"),
        "stock": 1,
        "lead_time_days": 3,
        **overrides,
    }
    before = await snapshot()
    with pytest.raises(error, match=message):
        await suppliers.upsert_offer(**arguments)
    assert await snapshot() == before
