"""A checkout that fails after Stripe authorised its payment cancels that PaymentIntent, so the
customer's money is not held for an order that does not exist (loopback Stripe, real stores)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import pytest
from fake_stripe import FakeStripe

from dropkit.commerce.carts import Carts
from dropkit.commerce.checkout import Address, Checkout
from dropkit.commerce.errors import OutOfStockError
from dropkit.commerce.inventory import Inventory
from dropkit.commerce.orders import Orders
from dropkit.commerce.payments import CheckoutPayments, Payments
from dropkit.commerce.pricing import Pricing
from dropkit.core.database import Database
from dropkit.core.events import EventBus
from dropkit.core.jobs import JobRegistry, Jobs, LedgerOnlyDispatcher

ADDRESS = Address(name="Ada", line1="1 Main St", city="Austin", postal_code="78701", country="US")


@dataclass
class Store:
    db: Database
    carts: Carts
    checkout: Checkout

    async def variant(self, sku: str, stock: int) -> None:
        vendor_id, product_id = f"ven_{uuid.uuid4().hex[:8]}", f"prd_{uuid.uuid4().hex[:8]}"
        await self.db.execute(
            "INSERT INTO commerce_vendors (id, name, slug, status, commission_rate, created_at,"
            " updated_at) VALUES ({}, 'V', {}, 'active', '0.10', 0, 0)",
            vendor_id,
            vendor_id,
        )
        await self.db.execute(
            "INSERT INTO commerce_products (id, vendor_id, slug, title, status, attributes, tags,"
            " created_at, updated_at) VALUES ({}, {}, {}, 'P', 'active', {}, {}, 0, 0)",
            product_id,
            vendor_id,
            product_id,
            "{}",
            "[]",
        )
        await self.db.execute(
            "INSERT INTO commerce_variants (id, product_id, sku, options, price_amount, currency,"
            " stock_on_hand, created_at, updated_at) VALUES ({}, {}, {}, {}, '25.00', 'USD',"
            " {}, 0, 0)",
            f"var_{sku}",
            product_id,
            sku,
            "{}",
            stock,
        )

    async def cart(self, sku: str) -> str:
        cart = await self.carts.create("USD")
        await self.carts.add(cart.id, sku, 1)
        return cart.id

    async def count(self, table: str) -> int:
        return int(await self.db.fetchval(f"SELECT COUNT(*) FROM {table}"))


@pytest.fixture
def store(commerce_db: Database, payments: Payments) -> Store:
    registry = JobRegistry()
    events = EventBus(commerce_db, Jobs(commerce_db, registry, dispatcher=LedgerOnlyDispatcher()))
    events.register_jobs(registry)
    inventory = Inventory(commerce_db, events)
    carts = Carts(commerce_db, inventory)
    checkout = Checkout(
        commerce_db,
        events,
        carts=carts,
        inventory=inventory,
        pricing=Pricing(commerce_db),
        orders=Orders(commerce_db, events, inventory),
        payments=CheckoutPayments(payments),
    )
    return Store(commerce_db, carts, checkout)


def cancels(server: FakeStripe) -> list[str]:
    return [
        seen.path.split("/")[3]
        for seen in server.requests
        if seen.method == "POST" and seen.path.endswith("/cancel")
    ]


async def test_stock_gone_after_authorisation_cancels_the_intent(
    store: Store, stripe_server: FakeStripe
) -> None:
    await store.variant("LAST-1", stock=1)
    first, second = await store.cart("LAST-1"), await store.cart("LAST-1")
    winner = await store.checkout(
        first, email="a@example.com", shipping_address=ADDRESS, payment_gateway="stripe"
    )
    with pytest.raises(OutOfStockError):  # authorised at Stripe, then the stock was gone
        await store.checkout(
            second, email="b@example.com", shipping_address=ADDRESS, payment_gateway="stripe"
        )
    (orphan,) = [i for i in stripe_server.intents.values() if i["receipt_email"] == "b@example.com"]
    assert cancels(stripe_server) == [orphan["id"]]
    assert orphan["status"] == "canceled"
    (cancel,) = stripe_server.calls("POST", f"/v1/payment_intents/{orphan['id']}/cancel")
    assert cancel.headers["idempotency-key"] == f"checkout-cancel:cart:{second}"
    assert await store.count("commerce_orders") == 1  # the winner's only
    assert await store.count("commerce_payments") == 1
    assert (await store.db.fetchval("SELECT order_id FROM commerce_payments")) == winner.id


async def test_a_failed_cancel_is_logged_and_the_checkout_error_stands(
    store: Store, stripe_server: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    await store.variant("LAST-2", stock=1)
    first, second = await store.cart("LAST-2"), await store.cart("LAST-2")
    await store.checkout(
        first, email="a@example.com", shipping_address=ADDRESS, payment_gateway="stripe"
    )
    stripe_server.cancel_outage = True
    with (
        caplog.at_level(logging.ERROR, logger="dropkit.commerce.checkout"),
        pytest.raises(OutOfStockError),  # not the cancel's PaymentGatewayError
    ):
        await store.checkout(
            second, email="b@example.com", shipping_address=ADDRESS, payment_gateway="stripe"
        )
    (orphan,) = [i for i in stripe_server.intents.values() if i["receipt_email"] == "b@example.com"]
    assert cancels(stripe_server) == [orphan["id"]] * 3  # the first try and two retries
    (record,) = caplog.records
    assert f"cart:{second}" in record.getMessage()
    assert "cancelling that payment failed" in record.getMessage()
    assert await store.count("commerce_orders") == 1


async def test_a_placed_or_replayed_checkout_cancels_nothing(
    store: Store, stripe_server: FakeStripe
) -> None:
    await store.variant("MANY-1", stock=5)
    cart_id = await store.cart("MANY-1")
    order = await store.checkout(
        cart_id, email="a@example.com", shipping_address=ADDRESS, payment_gateway="stripe"
    )
    again = await store.checkout(
        cart_id, email="a@example.com", shipping_address=ADDRESS, payment_gateway="stripe"
    )
    assert again.id == order.id
    assert cancels(stripe_server) == []
    (intent,) = stripe_server.intents.values()
    assert intent["status"] == "requires_payment_method"
