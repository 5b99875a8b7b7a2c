"""Store fixtures: a migrated database (SQLite and PostgreSQL) and an event bus that only records.

The bus writes events and their dispatch jobs to the ledger (``LedgerOnlyDispatcher``) and runs
nothing, so tests can assert on what was published in the writer's transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from dropkit.commerce.catalog import Catalog
from dropkit.commerce.customers import Customers
from dropkit.commerce.schema import COMMERCE_MIGRATIONS
from dropkit.commerce.suppliers import Suppliers
from dropkit.commerce.vendors import Vendors
from dropkit.core.database import Database
from dropkit.core.events import EventBus
from dropkit.core.jobs import JobRegistry, Jobs, LedgerOnlyDispatcher
from dropkit.core.migrations import Migrator
from dropkit.core.schema import CORE_MIGRATIONS


class Tick:
    """A clock that moves one second per call: creation order is unambiguous."""

    def __init__(self, start: float = 1_700_000_000.0, step: float = 1.0) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
async def store_db(database_url: str) -> AsyncIterator[Database]:
    """A started database with the core and commerce schemas applied."""
    async with Database(database_url) as database:
        await Migrator(database, [*CORE_MIGRATIONS, *COMMERCE_MIGRATIONS]).migrate()
        yield database


@pytest.fixture
def bus(store_db: Database) -> EventBus:
    registry = JobRegistry()
    events = EventBus(store_db, Jobs(store_db, registry, dispatcher=LedgerOnlyDispatcher()))
    events.register_jobs(registry)
    return events


@pytest.fixture
def clock() -> Tick:
    return Tick()


@pytest.fixture
def catalog(store_db: Database, bus: EventBus, clock: Tick) -> Catalog:
    return Catalog(store_db, bus, clock=clock)


@pytest.fixture
def vendors(store_db: Database, bus: EventBus, clock: Tick) -> Vendors:
    return Vendors(store_db, bus, clock=clock)


@pytest.fixture
def customers(store_db: Database, bus: EventBus) -> Customers:
    return Customers(store_db, bus)


@pytest.fixture
def suppliers(store_db: Database, bus: EventBus) -> Suppliers:
    return Suppliers(store_db, bus)


Snapshot = Callable[[], Awaitable[dict[str, int]]]

_COUNTED = (
    "commerce_vendors",
    "commerce_customers",
    "commerce_categories",
    "commerce_products",
    "commerce_variants",
    "commerce_product_images",
    "commerce_suppliers",
    "commerce_supplier_offers",
    "dropkit_events",
    "dropkit_jobs",
)


@pytest.fixture
def snapshot(store_db: Database) -> Snapshot:
    """Row counts of the store's tables: refused input must leave them unchanged."""

    async def take() -> dict[str, int]:
        return {
            table: int(await store_db.fetchval(f"SELECT COUNT(*) FROM {table}"))
            for table in _COUNTED
        }

    return take
