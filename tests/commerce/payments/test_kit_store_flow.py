"""The whole store through ``Dropkit``: catalog → cart → checkout with Stripe → webhook → paid →
fulfilments, with vendor isolation; Stripe is the loopback stand-in speaking its wire format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe

from dropkit import Dropkit
from dropkit.commerce import Address, OrderStatus, VariantInput, VendorAccessError
from dropkit.commerce.payments import StripeGateway
from dropkit.core.money import Money

ADDRESS = Address(name="Ada", line1="1 Main St", city="Austin", postal_code="78701", country="US")


@pytest.fixture
async def kit(
    database_url: str, tmp_path: Path, stripe_server: FakeStripe
) -> AsyncIterator[Dropkit]:
    gateway = StripeGateway(
        API_KEY, WEBHOOK_SECRET, base_url=stripe_server.url, retry_backoff=0.01, timeout=5.0
    )
    async with Dropkit(
        database_url=database_url,
        data_dir=tmp_path,
        poll_interval=0.05,
        sweep_interval=0.2,
        payment_gateways={"stripe": gateway},
    ) as k:
        yield k


async def test_paid_by_stripe_then_fulfilled_per_vendor(
    kit: Dropkit, stripe_server: FakeStripe
) -> None:
    store = kit.commerce
    lamps = await store.vendors.create("Lamps", commission_rate="0.12")
    desks = await store.vendors.create("Desks", commission_rate="0.10")
    for vendor, sku, price in ((lamps, "LAMP-1", "39.00"), (desks, "DESK-1", "199.00")):
        product = await store.catalog.create(
            vendor.id,
            f"Product {sku}",
            variants=[VariantInput(sku=sku, price=Money(price, "USD"), stock_on_hand=5)],
        )
        await store.catalog.set_status(product.id, "active")
    cart = await store.carts.create("USD")
    await store.carts.add(cart.id, "LAMP-1", 2)
    await store.carts.add(cart.id, "DESK-1", 1)

    order = await store.checkout(
        cart.id, email="ada@example.com", shipping_address=ADDRESS, payment_gateway="stripe"
    )
    (payment,) = await store.payments.for_order(order.id)
    assert payment.gateway == "stripe"
    assert payment.client_secret  # handed to the browser, which confirms the PaymentIntent
    assert payment.reference is not None
    async with httpx.AsyncClient(base_url=stripe_server.url) as browser:
        confirmed = await browser.post(
            f"/v1/payment_intents/{payment.reference}/confirm",
            headers={"Authorization": f"Bearer {API_KEY}"},
            data={"payment_method": "pm_card_visa"},
        )
        assert confirmed.status_code == 200

    headers, body = stripe_server.webhook("payment_intent.succeeded", payment.reference)
    first = await store.handle_payment_webhook("stripe", headers, body)
    assert not first.duplicate
    assert (await store.orders.get(order.id)).status is OrderStatus.PAID
    again = await store.handle_payment_webhook("stripe", headers, body)
    assert again.duplicate  # Stripe retried the delivery: nothing changes a second time

    with anyio.fail_after(10):  # order.paid → the fulfilment subscriber (a durable job)
        while (await store.orders.get(order.id)).status is not OrderStatus.FULFILLING:
            await anyio.sleep(0.05)
    fulfilments = await store.orders.fulfilments(order.id)
    assert sorted(f.vendor_id for f in fulfilments) == sorted([lamps.id, desks.id])
    paid_events = await kit.events.list(type="order.paid")
    assert [e.subject for e in paid_events] == [order.id]

    lamp_view = store.for_vendor(lamps.id)
    (mine,) = await lamp_view.orders.list()
    assert [line.sku for line in mine.lines] == ["LAMP-1"]  # the desk line is not shown
    (own,) = await lamp_view.orders.fulfilments(order.id)
    other = next(f for f in fulfilments if f.vendor_id == desks.id)
    with pytest.raises(VendorAccessError):
        await lamp_view.orders.ship(other.id)
    with pytest.raises(VendorAccessError):
        await lamp_view.catalog.get((await store.catalog.get_variant_by_sku("DESK-1")).product_id)
    await lamp_view.orders.ship(own.id, carrier="UPS", tracking_number="1Z999")
    assert (await store.orders.get(order.id)).status is OrderStatus.PARTIALLY_SHIPPED
