"""Checkout on SQLite and PostgreSQL: never oversells, exactly once, all or nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import anyio
import pytest
from checkout_support import checkout_services

from dropkit.commerce.carts import Carts
from dropkit.commerce.checkout import Address, Checkout, MarginPolicy
from dropkit.commerce.errors import (
    CartError,
    CouponError,
    IllegalTransitionError,
    InvalidQuantityError,
    MarginTooLowError,
    OutOfStockError,
    UnknownSkuError,
)
from dropkit.commerce.inventory import Inventory
from dropkit.commerce.orders import Orders, OrderStatus
from dropkit.commerce.pricing import DiscountKind, Pricing, ShippingKind
from dropkit.core.database import Database
from dropkit.core.errors import ValidationError
from dropkit.core.money import Money

ADDRESS = Address(name="Ada", line1="1 Main St", city="Lyon", postal_code="69001", country="FR")


@dataclass
class Shop:
    db: Database
    inventory: Inventory
    pricing: Pricing
    carts: Carts
    orders: Orders
    checkout: Checkout

    async def vendor(self, name: str, rate: str = "0.10") -> str:
        vendor_id = f"ven_{uuid.uuid4().hex[:8]}"
        await self.db.execute(
            "INSERT INTO commerce_vendors (id, name, slug, status, commission_rate, created_at,"
            " updated_at) VALUES ({}, {}, {}, 'active', {}, 0, 0)",
            vendor_id,
            name,
            vendor_id,
            rate,
        )
        return vendor_id

    async def variant(
        self, vendor_id: str, sku: str, price: str, stock: int, currency: str = "EUR"
    ) -> str:
        product_id = f"prd_{uuid.uuid4().hex[:8]}"
        variant_id = f"var_{sku}"
        await self.db.execute(
            "INSERT INTO commerce_products (id, vendor_id, slug, title, status, attributes, tags,"
            " created_at, updated_at) VALUES ({}, {}, {}, {}, 'active', {}, {}, 0, 0)",
            product_id,
            vendor_id,
            product_id,
            f"Product {sku}",
            "{}",
            "[]",
        )
        await self.db.execute(
            "INSERT INTO commerce_variants (id, product_id, sku, options, price_amount, currency,"
            " stock_on_hand, created_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, 0, 0)",
            variant_id,
            product_id,
            sku,
            "{}",
            price,
            currency,
            stock,
        )
        return variant_id

    async def offer(self, variant_id: str, name: str, cost: str, stock: int, lead: int = 3) -> str:
        supplier_id = f"sup_{name}"
        await self.db.execute(
            "INSERT INTO commerce_suppliers (id, name, slug, preferred, created_at)"
            " VALUES ({}, {}, {}, {}, 0)",
            supplier_id,
            name,
            name,
            False,
        )
        offer_id = f"off_{name}"
        await self.db.execute(
            "INSERT INTO commerce_supplier_offers (id, supplier_id, variant_id, supplier_sku,"
            " cost_amount, cost_currency, stock, lead_time_days, synced_at)"
            " VALUES ({}, {}, {}, {}, {}, 'EUR', {}, {}, {})",
            offer_id,
            supplier_id,
            variant_id,
            f"{name}-sku",
            cost,
            stock,
            lead,
            time.time(),
        )
        return offer_id

    async def count(self, table: str) -> int:
        return int(await self.db.fetchval(f"SELECT COUNT(*) FROM {table}"))

    async def cart_with(self, *items: tuple[str, int], currency: str = "EUR") -> str:
        cart = await self.carts.create(currency)
        for sku, quantity in items:
            await self.carts.add(cart.id, sku, quantity)
        return cart.id


@pytest.fixture
async def shop(database_url: str) -> AsyncIterator[Shop]:
    async with checkout_services(database_url, pool_size=12) as s:
        yield Shop(s.db, s.inventory, s.pricing, s.carts, s.orders, s.checkout)


async def test_checkout_prices_reserves_and_records_everything(shop: Shop) -> None:
    vendor = await shop.vendor("Lamps & Co", rate="0.15")
    await shop.variant(vendor, "LAMP-1", "40.00", stock=10)
    await shop.variant(vendor, "BULB-1", "5.00", stock=10)
    await shop.pricing.set_tax_rate("FR", "0.20")
    flat = await shop.pricing.create_shipping_method("Colissimo", "flat", Money("4.90", "EUR"))
    await shop.pricing.create_discount("WELCOME10", DiscountKind.PERCENTAGE, 10)
    cart_id = await shop.cart_with(("LAMP-1", 2), ("BULB-1", 3))
    await shop.carts.apply_coupon(cart_id, "welcome10")

    order = await shop.checkout(
        cart_id, email="Ada@Example.com", shipping_address=ADDRESS, shipping_method_id=flat.id
    )

    assert order.status is OrderStatus.PENDING_PAYMENT
    assert order.number >= 1001
    assert order.email == "ada@example.com"
    assert order.subtotal == Money("95.00", "EUR")
    assert order.discount == Money("9.50", "EUR")
    assert order.tax == Money("17.10", "EUR")  # 20 % of 85.50
    assert order.shipping == Money("4.90", "EUR")
    assert order.total == Money("107.50", "EUR")
    lamp = next(line for line in order.lines if line.sku == "LAMP-1")
    assert lamp.unit_price == Money("40.00", "EUR")
    assert lamp.commission_rate == Decimal("0.15")
    assert lamp.commission == Money("10.80", "EUR")  # 15 % of (80.00 - 8.00)
    assert sum((line.discount for line in order.lines), Money.zero("EUR")) == order.discount
    assert (await shop.inventory.level("var_LAMP-1")).own == 8
    events = await shop.db.fetch("SELECT type, subject FROM dropkit_events ORDER BY type")
    assert {"type": "order.placed", "subject": order.id} in events
    with pytest.raises(CartError, match="checked_out"):
        await shop.carts.add(cart_id, "LAMP-1", 1)


@pytest.mark.slow
async def test_the_last_units_go_to_exactly_that_many_buyers(shop: Shop) -> None:
    vendor = await shop.vendor("Scarce")
    await shop.variant(vendor, "LAST-1", "10.00", stock=5)
    carts = [await shop.cart_with(("LAST-1", 1)) for _ in range(30)]
    placed: list[str] = []
    refused: list[OutOfStockError] = []

    async def buy(cart_id: str) -> None:
        try:
            order = await shop.checkout(cart_id, email="b@x.io", shipping_address=ADDRESS)
            placed.append(order.id)
        except OutOfStockError as exc:
            refused.append(exc)

    async with anyio.create_task_group() as tg:
        for cart_id in carts:
            tg.start_soon(buy, cart_id)
    assert len(placed) == 5
    assert len(refused) == 25
    assert all(exc.sku == "LAST-1" for exc in refused)
    assert await shop.count("commerce_orders") == 5
    level = await shop.inventory.level("var_LAST-1")
    assert level.available == 0
    reserved = await shop.db.fetchval(
        "SELECT stock_reserved FROM commerce_variants WHERE sku = 'LAST-1'"
    )
    assert reserved == 5


async def test_the_same_cart_submitted_concurrently_yields_one_order(shop: Shop) -> None:
    vendor = await shop.vendor("Twice")
    await shop.variant(vendor, "ONE-1", "10.00", stock=1)
    cart_id = await shop.cart_with(("ONE-1", 1))
    ids: list[str] = []

    async def submit() -> None:
        order = await shop.checkout(cart_id, email="c@x.io", shipping_address=ADDRESS)
        ids.append(order.id)

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(submit)
    assert len(set(ids)) == 1
    assert len(ids) == 8
    assert await shop.count("commerce_orders") == 1
    again = await shop.checkout(cart_id, email="c@x.io", shipping_address=ADDRESS)
    assert again.id == ids[0]


async def test_bad_input_is_refused_and_nothing_is_written(shop: Shop) -> None:
    vendor = await shop.vendor("Careful")
    await shop.variant(vendor, "OK-1", "10.00", stock=3)
    await shop.variant(vendor, "USD-1", "10.00", stock=3, currency="USD")
    cart = await shop.carts.create("EUR")
    with pytest.raises(InvalidQuantityError):
        await shop.carts.add(cart.id, "OK-1", 0)
    with pytest.raises(InvalidQuantityError):
        await shop.carts.add(cart.id, "OK-1", -2)
    with pytest.raises(InvalidQuantityError):
        await shop.carts.add(cart.id, "OK-1", 10**9)
    with pytest.raises(UnknownSkuError):
        await shop.carts.add(cart.id, "NOPE", 1)
    with pytest.raises(CartError, match="USD"):
        await shop.carts.add(cart.id, "USD-1", 1)
    with pytest.raises(CartError, match="empty"):
        await shop.checkout(cart.id, email="d@x.io", shipping_address=ADDRESS)
    await shop.carts.add(cart.id, "OK-1", 2)
    with pytest.raises(ValidationError, match="email"):
        await shop.checkout(cart.id, email="not an email", shipping_address=ADDRESS)
    with pytest.raises(ValidationError, match="country"):
        await shop.checkout(
            cart.id, email="d@x.io", shipping_address={**ADDRESS.to_dict(), "country": "France"}
        )
    with pytest.raises(CouponError):
        await shop.carts.apply_coupon(cart.id, "NOSUCHCODE")
    with pytest.raises(OutOfStockError):
        await shop.carts.set_quantity(cart.id, "OK-1", 5)
        await shop.checkout(cart.id, email="d@x.io", shipping_address=ADDRESS)
    for table in ("commerce_orders", "commerce_order_lines", "commerce_reservations"):
        assert await shop.count(table) == 0, table
    assert (
        await shop.db.fetchval("SELECT stock_reserved FROM commerce_variants WHERE sku = 'OK-1'")
        == 0
    )


async def test_discount_limits_hold_under_concurrency(shop: Shop) -> None:
    vendor = await shop.vendor("Promo")
    await shop.variant(vendor, "PROMO-1", "20.00", stock=100)
    await shop.pricing.create_discount(
        "FIRST3", DiscountKind.FIXED, "5.00", currency="EUR", usage_limit=3
    )
    carts = []
    for _ in range(10):
        cart_id = await shop.cart_with(("PROMO-1", 1))
        await shop.carts.apply_coupon(cart_id, "FIRST3")
        carts.append(cart_id)
    outcomes: list[str] = []

    async def buy(cart_id: str) -> None:
        try:
            await shop.checkout(cart_id, email=f"{cart_id}@x.io", shipping_address=ADDRESS)
            outcomes.append("ok")
        except CouponError:
            outcomes.append("used up")

    async with anyio.create_task_group() as tg:
        for cart_id in carts:
            tg.start_soon(buy, cart_id)
    assert outcomes.count("ok") == 3
    assert await shop.count("commerce_orders") == 3
    await shop.pricing.create_discount(
        "ONCE", DiscountKind.PERCENTAGE, 50, usage_limit_per_customer=1
    )
    first = await shop.cart_with(("PROMO-1", 1))
    await shop.carts.apply_coupon(first, "ONCE")
    await shop.checkout(first, email="same@x.io", shipping_address=ADDRESS)
    second = await shop.cart_with(("PROMO-1", 1))
    await shop.carts.apply_coupon(second, "ONCE")
    with pytest.raises(CouponError, match="already used"):
        await shop.checkout(second, email="same@x.io", shipping_address=ADDRESS)


async def test_order_life_and_illegal_transitions(shop: Shop) -> None:
    vendor_a = await shop.vendor("A")
    vendor_b = await shop.vendor("B")
    await shop.variant(vendor_a, "A-1", "10.00", stock=5)
    await shop.variant(vendor_b, "B-1", "12.00", stock=5)
    order = await shop.checkout(
        await shop.cart_with(("A-1", 1), ("B-1", 2)), email="e@x.io", shipping_address=ADDRESS
    )
    with pytest.raises(IllegalTransitionError):
        await shop.orders.create_fulfilments(order.id)  # not paid yet
    await shop.orders.mark_paid(order.id)
    with pytest.raises(IllegalTransitionError):
        await shop.orders.mark_paid(order.id)
    first, second = await shop.orders.create_fulfilments(order.id)
    assert {first.vendor_id, second.vendor_id} == {vendor_a, vendor_b}
    await shop.orders.ship(first.id, carrier="DHL", tracking_number="JD0001")
    assert (await shop.orders.get(order.id)).status is OrderStatus.PARTIALLY_SHIPPED
    with pytest.raises(IllegalTransitionError):
        await shop.orders.ship(first.id)
    with pytest.raises(IllegalTransitionError):
        await shop.orders.cancel(order.id)  # part of it left already
    await shop.orders.ship(second.id)
    assert (await shop.orders.get(order.id)).status is OrderStatus.SHIPPED
    await shop.orders.deliver(first.id)
    await shop.orders.deliver(second.id)
    assert (await shop.orders.get(order.id)).status is OrderStatus.DELIVERED
    assert (await shop.inventory.level("var_A-1")).own == 4  # shipped units left the stock
    assert (
        await shop.db.fetchval("SELECT stock_on_hand FROM commerce_variants WHERE sku = 'B-1'") == 3
    )


async def test_cancel_gives_stock_back_and_refunds_are_bounded(shop: Shop) -> None:
    vendor = await shop.vendor("C")
    await shop.variant(vendor, "C-1", "10.00", stock=2)
    order = await shop.checkout(
        await shop.cart_with(("C-1", 2)), email="f@x.io", shipping_address=ADDRESS
    )
    assert (await shop.inventory.level("var_C-1")).available == 0
    await shop.orders.cancel(order.id, reason="customer asked")
    assert (await shop.inventory.level("var_C-1")).available == 2
    paid = await shop.checkout(
        await shop.cart_with(("C-1", 1)), email="f@x.io", shipping_address=ADDRESS
    )
    await shop.orders.mark_paid(paid.id)
    with pytest.raises(ValidationError, match="exceeds"):
        await shop.orders.record_refund(paid.id, Money("11.00", "EUR"))
    await shop.orders.record_refund(paid.id, Money("4.00", "EUR"))
    done = await shop.orders.record_refund(paid.id, Money("6.00", "EUR"))
    assert done.status is OrderStatus.REFUNDED
    assert done.refunded == done.total


async def test_supplier_routing_and_the_margin_guard(shop: Shop) -> None:
    vendor = await shop.vendor("Drop")
    variant = await shop.variant(vendor, "DROP-1", "20.00", stock=0)
    await shop.offer(variant, "dear", cost="15.00", stock=10)
    await shop.offer(variant, "cheap", cost="9.00", stock=10)
    order = await shop.checkout(
        await shop.cart_with(("DROP-1", 2)), email="g@x.io", shipping_address=ADDRESS
    )
    (line,) = order.lines
    assert line.source == "supplier"
    assert line.supplier_id == "sup_cheap"
    assert line.unit_cost == Money("9.00", "EUR")

    shop.checkout.margin_floor = Decimal("0.60")  # demand 60 %: 20 - 9 = 11 < 12
    cart_id = await shop.cart_with(("DROP-1", 1))
    with pytest.raises(MarginTooLowError):
        await shop.checkout(cart_id, email="g@x.io", shipping_address=ADDRESS)
    assert await shop.count("commerce_orders") == 1
    shop.checkout.margin_policy = MarginPolicy.FLAG
    flagged = await shop.checkout(cart_id, email="g@x.io", shipping_address=ADDRESS)
    assert flagged.flags == ("low_margin:DROP-1",)


async def test_cart_holds_keep_stock_during_payment_and_expire(shop: Shop) -> None:
    vendor = await shop.vendor("Hold")
    await shop.variant(vendor, "HOLD-1", "10.00", stock=1)
    paying = await shop.cart_with(("HOLD-1", 1))
    await shop.carts.hold(paying, seconds=0.3)
    other = await shop.cart_with(("HOLD-1", 1))
    with pytest.raises(OutOfStockError):
        await shop.checkout(other, email="h@x.io", shipping_address=ADDRESS)
    order = await shop.checkout(paying, email="h@x.io", shipping_address=ADDRESS)
    assert order.status is OrderStatus.PENDING_PAYMENT
    assert await shop.count("commerce_reservations") == 1
    # A hold that runs out gives the unit back.
    await shop.orders.cancel(order.id)
    late = await shop.cart_with(("HOLD-1", 1))
    await shop.carts.hold(late, seconds=0.1)
    await anyio.sleep(0.2)
    assert await shop.inventory.release_expired() == 1
    assert (await shop.inventory.level("var_HOLD-1")).available == 1


def test_tax_inclusive_and_shipping_rules() -> None:
    from dropkit.commerce.pricing import ShippingMethod, TaxRate, quote

    lines = [("v1", "ven1", 1, Money("12.00", "EUR")), ("v2", "ven2", 1, Money("8.00", "EUR"))]
    inclusive = TaxRate("DE", "", Decimal("0.19"), True, "MwSt")
    per_vendor = ShippingMethod(
        "s", "Parcels", ShippingKind.PER_VENDOR, Money("3.00", "EUR"), None, None, (), True
    )
    q = quote(lines, currency="EUR", tax=inclusive, shipping=per_vendor)
    assert q.total == Money("26.00", "EUR")  # tax included in prices; 2 vendors x 3.00
    assert q.tax == Money("3.20", "EUR")  # 1.92 + 1.28: rounded per line, as invoiced
    free = ShippingMethod(
        "f",
        "Free",
        ShippingKind.FREE_OVER,
        Money("5.00", "EUR"),
        Money("20.00", "EUR"),
        None,
        (),
        True,
    )
    assert quote(lines, currency="EUR", shipping=free).shipping == Money.zero("EUR")


async def test_stock_low_is_published_when_a_sale_crosses_the_threshold(shop: Shop) -> None:
    vendor = await shop.vendor("Low")
    variant = await shop.variant(vendor, "LOW-1", "10.00", stock=5)
    await shop.db.execute(
        "UPDATE commerce_variants SET low_stock_threshold = 2 WHERE id = {}", variant
    )
    await shop.checkout(
        await shop.cart_with(("LOW-1", 2)), email="l@x.io", shipping_address=ADDRESS
    )
    assert await shop.db.fetch("SELECT type FROM dropkit_events WHERE type = 'stock.low'") == []
    await shop.checkout(
        await shop.cart_with(("LOW-1", 1)), email="l@x.io", shipping_address=ADDRESS
    )
    (row,) = await shop.db.fetch("SELECT payload FROM dropkit_events WHERE type = 'stock.low'")
    payload = row["payload"] if isinstance(row["payload"], dict) else json.loads(row["payload"])
    assert payload == {"variant_id": variant, "sku": "LOW-1", "available": 2, "threshold": 2}
