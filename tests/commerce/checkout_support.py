"""The services a checkout needs, wired over one migrated database (checkout tests share it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from dropkit.commerce.carts import Carts
from dropkit.commerce.checkout import Checkout
from dropkit.commerce.inventory import Inventory
from dropkit.commerce.orders import Orders
from dropkit.commerce.pricing import Pricing
from dropkit.commerce.schema import COMMERCE_MIGRATIONS
from dropkit.core.database import Database
from dropkit.core.events import EventBus
from dropkit.core.jobs import JobRegistry, Jobs, LedgerOnlyDispatcher
from dropkit.core.migrations import Migrator
from dropkit.core.schema import CORE_MIGRATIONS


@dataclass
class CheckoutServices:
    db: Database
    inventory: Inventory
    pricing: Pricing
    carts: Carts
    orders: Orders
    checkout: Checkout


@asynccontextmanager
async def checkout_services(url: str, *, pool_size: int = 4) -> AsyncIterator[CheckoutServices]:
    """A migrated database and its checkout services; events go to the ledger only."""
    async with Database(url, pool_size=pool_size) as db:
        await Migrator(db, [*CORE_MIGRATIONS, *COMMERCE_MIGRATIONS]).migrate()
        registry = JobRegistry()
        events = EventBus(db, Jobs(db, registry, dispatcher=LedgerOnlyDispatcher()))
        events.register_jobs(registry)
        inventory = Inventory(db, events)
        pricing = Pricing(db)
        carts = Carts(db, inventory)
        orders = Orders(db, events, inventory)
        checkout = Checkout(
            db, events, carts=carts, inventory=inventory, pricing=pricing, orders=orders
        )
        yield CheckoutServices(db, inventory, pricing, carts, orders, checkout)
