"""Payments fixtures: a Stripe stand-in on loopback, gateways, and a migrated store database."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe, serve

from dropkit.commerce.payments import ManualGateway, Payments, StripeGateway
from dropkit.commerce.schema import COMMERCE_MIGRATIONS
from dropkit.core.database import Database
from dropkit.core.migrations import Migrator
from dropkit.core.schema import CORE_MIGRATIONS

MakeOrder = Callable[..., Awaitable[str]]


@pytest.fixture
async def stripe_server() -> AsyncIterator[FakeStripe]:
    async with serve(FakeStripe()) as fake:
        yield fake


@pytest.fixture
async def stripe(stripe_server: FakeStripe) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(
        API_KEY, WEBHOOK_SECRET, base_url=stripe_server.url, retry_backoff=0.01, timeout=5.0
    )
    async with gateway:
        yield gateway


@pytest.fixture
async def commerce_db(database_url: str) -> AsyncIterator[Database]:
    """A started database with the core and commerce schemas (SQLite and PostgreSQL)."""
    async with Database(database_url) as database:
        await Migrator(database, [*CORE_MIGRATIONS, *COMMERCE_MIGRATIONS]).migrate()
        yield database


@pytest.fixture
def make_order(commerce_db: Database) -> MakeOrder:
    """Insert a minimal order row (payments reference orders) and return its id."""
    numbers = iter(range(5000, 6000))

    async def make(total: str = "30.00", currency: str = "USD", gateway: str = "stripe") -> str:
        order_id = f"ord_{uuid.uuid4().hex[:12]}"
        now = time.time()
        await commerce_db.execute(
            "INSERT INTO commerce_orders (id, number, email, status, currency, subtotal_amount,"
            " discount_amount, tax_amount, shipping_amount, total_amount, refunded_amount,"
            " shipping_address, payment_gateway, flags, placed_at, updated_at) VALUES"
            " ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            order_id,
            next(numbers),
            "buyer@example.com",
            "pending_payment",
            currency,
            total,
            "0",
            "0",
            "0",
            total,
            "0",
            json.dumps({"country": "US"}),
            gateway,
            json.dumps({}),
            now,
            now,
        )
        return order_id

    return make


@pytest.fixture
def payments(commerce_db: Database, stripe: StripeGateway) -> Payments:
    return Payments(
        commerce_db,
        {
            "stripe": stripe,
            "bank_transfer": ManualGateway(
                "bank_transfer", instructions="IBAN DE00 1234; pay {amount}, quote {reference}"
            ),
            "cash_on_delivery": ManualGateway("cash_on_delivery"),
        },
    )
