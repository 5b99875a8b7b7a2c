"""Helpers shared by the outreach tests and their sender subprocess."""

from __future__ import annotations

from typing import Any

from dropkit.core.database import Database
from dropkit.outreach import Outreach
from dropkit.outreach.models import Campaign
from dropkit.outreach.providers.base import EmailProvider

SECRET = "test-tracking-secret-0123456789"
PUBLIC = "https://shop.example"


def make_outreach(db: Database, provider: EmailProvider, **kwargs: Any) -> Outreach:
    return Outreach(db, provider=provider, tracking_secret=SECRET, public_url=PUBLIC, **kwargs)


async def seed_campaign(
    service: Outreach,
    count: int,
    *,
    html: str = '<p>Hi {{ subscriber.attributes.name }}</p><a href="https://shop.example/p">Buy</a>',
    list_name: str = "all",
) -> Campaign:
    """``count`` subscribers on a list, a template and a draft campaign to that list."""
    target = await service.lists.create(list_name)
    ids = []
    for n in range(count):
        sub = await service.subscribers.add(
            f"user{n:04d}@example.com", attributes={"name": f"U{n}"}
        )
        ids.append(sub.id)
    await service.lists.add(target.id, ids)
    await service.templates.save(
        "launch", subject="Hello {{ subscriber.attributes.name }}", html=html
    )
    return await service.campaigns.create(
        "Launch", template="launch", from_address="Shop <shop@example.com>", lists=[target.id]
    )


async def insert_order(
    db: Database,
    email: str,
    *,
    sku: str = "SKU-1",
    total: str = "50.00",
    placed_at: float,
    status: str = "paid",
    currency: str = "USD",
) -> str:
    """A minimal store order (vendor, product, variant created once) written as raw rows."""
    import uuid

    if await db.fetchval("SELECT id FROM commerce_vendors WHERE id = 'v1'") is None:
        await db.execute(
            "INSERT INTO commerce_vendors (id, name, slug, status, commission_rate, created_at,"
            " updated_at) VALUES ('v1', 'V', 'v', 'active', '0.1', 0, 0)"
        )
        await db.execute(
            "INSERT INTO commerce_products (id, vendor_id, slug, title, status, attributes, tags,"
            " created_at, updated_at) VALUES ('p1', 'v1', 'p', 'P', 'active', {}, '[]', 0, 0)",
            "{}",
        )
    if await db.fetchval("SELECT id FROM commerce_variants WHERE sku = {}", sku) is None:
        await db.execute(
            "INSERT INTO commerce_variants (id, product_id, sku, options, price_amount, currency,"
            " created_at, updated_at) VALUES ({}, 'p1', {}, {}, '10', 'USD', 0, 0)",
            f"var-{sku}",
            sku,
            "{}",
        )
    order_id = uuid.uuid4().hex
    number = int(await db.fetchval("SELECT COUNT(*) FROM commerce_orders")) + 1
    await db.execute(
        "INSERT INTO commerce_orders (id, number, email, status, currency, subtotal_amount,"
        " discount_amount, tax_amount, shipping_amount, total_amount, refunded_amount,"
        " shipping_address, payment_gateway, flags, placed_at, updated_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, '0', '0', '0', {}, '0', {}, 'manual', {}, {}, {})",
        order_id,
        number,
        email,
        status,
        currency,
        total,
        total,
        "{}",
        "{}",
        placed_at,
        placed_at,
    )
    await db.execute(
        "INSERT INTO commerce_order_lines (id, order_id, variant_id, product_id, vendor_id, sku,"
        " title, quantity, unit_price_amount, line_total_amount, tax_amount, discount_amount,"
        " commission_rate, commission_amount, source) VALUES ({}, {}, {}, 'p1', 'v1', {}, 'P', 1,"
        " {}, {}, '0', '0', '0.1', '0', 'own')",
        uuid.uuid4().hex,
        order_id,
        f"var-{sku}",
        sku,
        total,
        total,
    )
    return order_id
