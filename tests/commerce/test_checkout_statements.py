"""Statements per checkout, on SQLite and PostgreSQL: a budget that an added N+1 query breaks.

The order checkout returns is built from the rows it wrote, not read back: these tests also
check that it is exactly the order a fresh read gives (same fields, types and values).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from checkout_support import checkout_services

from dropkit.commerce import checkout as checkout_module
from dropkit.commerce.carts import Carts
from dropkit.commerce.checkout import Address, Checkout
from dropkit.commerce.orders import Order, Orders
from dropkit.commerce.pricing import DiscountKind, Pricing
from dropkit.core.database import Database
from dropkit.core.money import Money

ADDRESS = Address(name="Ada", line1="1 Main St", city="Lyon", postal_code="69001", country="FR")

#: Statements of a checkout of three lines from two vendors, one line sold from a supplier's
#: stock (no coupon, no shipping method, no payment gateway). The order number costs one
#: statement more on SQLite (a counter row) than on PostgreSQL (a sequence in the INSERT).
BUDGET = {"postgres": 17, "sqlite": 18}
#: The same cart held first (no reservations at checkout), with a coupon (read, counted,
#: recorded), a tax rate and a shipping method.
HELD_BUDGET = {"postgres": 14, "sqlite": 15}


@dataclass
class Store:
    db: Database
    carts: Carts
    pricing: Pricing
    orders: Orders
    checkout: Checkout

    async def vendor(self) -> str:
        vendor_id = f"ven_{uuid.uuid4().hex[:8]}"
        await self.db.execute(
            "INSERT INTO commerce_vendors (id, name, slug, status, commission_rate, created_at,"
            " updated_at) VALUES ({}, {}, {}, 'active', '0.15', 0, 0)",
            vendor_id,
            vendor_id,
            vendor_id,
        )
        return vendor_id

    async def variant(self, vendor_id: str, sku: str, price: str, stock: int) -> str:
        product_id = f"prd_{uuid.uuid4().hex[:8]}"
        await self.db.execute(
            "INSERT INTO commerce_products (id, vendor_id, slug, title, status, attributes, tags,"
            " created_at, updated_at) VALUES ({}, {}, {}, {}, 'active', {}, '[]', 0, 0)",
            product_id,
            vendor_id,
            product_id,
            f"Product {sku}",
            "{}",
        )
        await self.db.execute(
            "INSERT INTO commerce_variants (id, product_id, sku, title, options, price_amount,"
            " currency, stock_on_hand, created_at, updated_at)"
            " VALUES ({}, {}, {}, 'Large', {}, {}, 'EUR', {}, 0, 0)",
            f"var_{sku}",
            product_id,
            sku,
            "{}",
            price,
            stock,
        )
        return f"var_{sku}"

    async def supplier_offer(self, variant_id: str, cost: str) -> None:
        supplier_id = f"sup_{uuid.uuid4().hex[:8]}"
        await self.db.execute(
            "INSERT INTO commerce_suppliers (id, name, slug, preferred, created_at)"
            " VALUES ({}, {}, {}, {}, 0)",
            supplier_id,
            supplier_id,
            supplier_id,
            False,
        )
        await self.db.execute(
            "INSERT INTO commerce_supplier_offers (id, supplier_id, variant_id, supplier_sku,"
            " cost_amount, cost_currency, stock, lead_time_days, synced_at)"
            " VALUES ({}, {}, {}, 'S-1', {}, 'EUR', 50, 3, {})",
            f"off_{uuid.uuid4().hex[:8]}",
            supplier_id,
            variant_id,
            cost,
            time.time(),
        )

    async def typical_cart(self) -> str:
        """Three lines from two vendors; the third has no own stock and ships from a supplier."""
        lamps, bulbs = await self.vendor(), await self.vendor()
        await self.variant(lamps, "LAMP-1", "40.00", stock=10)
        await self.variant(bulbs, "BULB-1", "5.00", stock=10)
        dropped = await self.variant(bulbs, "BULB-2", "7.50", stock=0)
        await self.supplier_offer(dropped, cost="3.10")
        cart = await self.carts.create("EUR")
        await self.carts.add(cart.id, "LAMP-1", 2)
        await self.carts.add(cart.id, "BULB-1", 3)
        await self.carts.add(cart.id, "BULB-2", 1)
        return cart.id

    async def counted_checkout(self, cart_id: str, **options: str) -> tuple[Order, int]:
        before = self.db.statements
        order = await self.checkout(
            cart_id, email="ada@example.com", shipping_address=ADDRESS, **options
        )
        return order, self.db.statements - before


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async with checkout_services(database_url) as s:
        yield Store(s.db, s.carts, s.pricing, s.orders, s.checkout)


async def assert_same_as_read_back(store: Store, order: Order) -> None:
    """Equal to a fresh read, down to the types and Decimal exponents (repr shows both)."""
    again = await store.orders.get(order.id)
    assert order == again
    assert repr(order) == repr(again)


async def test_a_typical_checkout_stays_within_its_statement_budget(store: Store) -> None:
    cart_id = await store.typical_cart()
    await store.pricing.set_tax_rate("FR", "0.20")

    order, statements = await store.counted_checkout(cart_id)

    assert statements <= BUDGET[store.db.dialect], statements
    assert [line.source for line in order.lines] == ["own", "supplier", "own"]  # by SKU
    assert len(order.vendor_ids) == 2
    await assert_same_as_read_back(store, order)


async def test_the_returned_order_is_the_stored_one_with_coupon_shipping_and_hold(
    store: Store,
) -> None:
    cart_id = await store.typical_cart()
    await store.pricing.set_tax_rate("FR", "0.055", inclusive=True)
    await store.pricing.create_discount("TENOFF", DiscountKind.PERCENTAGE, "10")
    method = await store.pricing.create_shipping_method(
        "Parcels", "per_vendor", Money("3.90", "EUR")
    )
    await store.carts.apply_coupon(cart_id, "tenoff")
    await store.carts.hold(cart_id)

    order, statements = await store.counted_checkout(cart_id, shipping_method_id=method.id)

    assert order.discount == Money("10.25", "EUR")
    assert order.shipping == Money("7.80", "EUR")
    assert statements <= HELD_BUDGET[store.db.dialect], statements
    await assert_same_as_read_back(store, order)


async def test_a_replayed_checkout_returns_the_order_without_writing(store: Store) -> None:
    cart_id = await store.typical_cart()
    order, _ = await store.counted_checkout(cart_id)

    again, statements = await store.counted_checkout(cart_id)

    assert again == order
    assert statements <= 3  # the cart with the order's id, then the order and its lines


async def test_lines_written_in_several_inserts_come_back_in_stored_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkout_module, "LINES_PER_INSERT", 2)
    cart_id = await store.typical_cart()

    order, _ = await store.counted_checkout(cart_id)

    assert [line.sku for line in order.lines] == ["BULB-1", "BULB-2", "LAMP-1"]
    await assert_same_as_read_back(store, order)
