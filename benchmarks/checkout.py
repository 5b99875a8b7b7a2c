"""Checkouts per second on PostgreSQL, last-unit contention, and the bare-asyncpg limit.

Run: ``python -P benchmarks/checkout.py [--orders N] [--buyers 32]``

1. dropkit: ``--buyers`` concurrent buyers check out one-line carts over 20 products (carts are
   filled before the clock starts); orders/s and p50/p95 latency of the checkout call.
2. contention: 200 buyers race for the last 10 units of one variant; oversold units must be 0.
3. the limit: the same inserts and updates a checkout writes (stock reservation, reservation
   row, order number, order, line, cart, event, dispatch job), as bare asyncpg statements in one
   transaction per order, with the same concurrency. Reads, validation and pricing are what
   dropkit adds on top; the ratio says what they cost.
4. GraphQL: listing 50 products with variants, images and availability (when the storefront
   is installed): requests/s and SQL statements per request.

PostgreSQL: a fresh database through ``DROPKIT_BENCH_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), dropped afterwards. The last line printed is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg

from dropkit.commerce.carts import Carts
from dropkit.commerce.checkout import Address, Checkout
from dropkit.commerce.errors import OutOfStockError
from dropkit.commerce.inventory import Inventory
from dropkit.commerce.orders import Orders
from dropkit.commerce.pricing import Pricing
from dropkit.commerce.schema import COMMERCE_MIGRATIONS
from dropkit.core.database import Database
from dropkit.core.events import EventBus
from dropkit.core.jobs import JobRegistry, Jobs, LedgerOnlyDispatcher
from dropkit.core.migrations import Migrator
from dropkit.core.schema import CORE_MIGRATIONS

POSTGRES_URL = os.environ.get(
    "DROPKIT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ADDRESS = Address(name="Bench", line1="1 Loop St", city="Lyon", postal_code="69001", country="FR")
PRODUCTS = 20


async def create_database() -> str:
    name = f"dropkit_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))


async def drop_database(url: str) -> None:
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')
    finally:
        await admin.close()


class Store:
    """The commerce services over one database, wired by hand (no jobs run)."""

    def __init__(self, db: Database) -> None:
        registry = JobRegistry()
        self.db = db
        self.events = EventBus(db, Jobs(db, registry, dispatcher=LedgerOnlyDispatcher()))
        self.events.register_jobs(registry)
        self.inventory = Inventory(db, self.events)
        self.carts = Carts(db, self.inventory)
        self.orders = Orders(db, self.events, self.inventory)
        self.checkout = Checkout(
            db,
            self.events,
            carts=self.carts,
            inventory=self.inventory,
            pricing=Pricing(db),
            orders=self.orders,
        )

    async def seed(self, products: int, stock: int, prefix: str) -> list[str]:
        await self.db.execute(
            "INSERT INTO commerce_vendors (id, name, slug, status, commission_rate, created_at,"
            " updated_at) VALUES ({}, 'Bench', {}, 'active', '0.10', 0, 0)"
            " ON CONFLICT (id) DO NOTHING",
            "ven_bench",
            "bench",
        )
        skus = []
        for n in range(products):
            product_id, sku = f"prd_{prefix}{n}", f"{prefix}-{n}"
            await self.db.execute(
                "INSERT INTO commerce_products (id, vendor_id, slug, title, status, attributes,"
                " tags, created_at, updated_at) VALUES ({}, 'ven_bench', {}, {}, 'active', {}, {},"
                " 0, 0)",
                product_id,
                product_id,
                f"Product {sku}",
                "{}",
                "[]",
            )
            await self.db.execute(
                "INSERT INTO commerce_variants (id, product_id, sku, options, price_amount,"
                " currency, stock_on_hand, created_at, updated_at)"
                " VALUES ({}, {}, {}, {}, '10.00', 'EUR', {}, 0, 0)",
                f"var_{sku}",
                product_id,
                sku,
                "{}",
                stock,
            )
            skus.append(sku)
        return skus


async def concurrently(n: int, limit: int, fn: Callable[[int], Awaitable[None]]) -> float:
    """Run ``fn(0..n-1)`` with at most ``limit`` at once; returns the elapsed seconds."""
    gate = anyio.Semaphore(limit)

    async def one(i: int) -> None:
        async with gate:
            await fn(i)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    return time.perf_counter() - started


async def dropkit_checkouts(store: Store, orders: int, buyers: int) -> tuple[float, list[float]]:
    skus = await store.seed(PRODUCTS, stock=10**9, prefix="hot")
    carts = []
    for i in range(orders):
        cart = await store.carts.create("EUR")
        await store.carts.add(cart.id, skus[i % len(skus)], 1)
        carts.append(cart.id)
    latencies: list[float] = []

    async def buy(i: int) -> None:
        started = time.perf_counter()
        await store.checkout(carts[i], email=f"b{i}@bench.io", shipping_address=ADDRESS)
        latencies.append(time.perf_counter() - started)

    elapsed = await concurrently(orders, buyers, buy)
    return orders / elapsed, latencies


async def contention(store: Store) -> tuple[int, int, int]:
    (sku,) = await store.seed(1, stock=10, prefix="last")
    carts = []
    for _ in range(200):
        cart = await store.carts.create("EUR")
        await store.carts.add(cart.id, sku, 1)
        carts.append(cart.id)
    won: list[str] = []
    lost = 0

    async def buy(i: int) -> None:
        nonlocal lost
        try:
            won.append(
                (await store.checkout(carts[i], email="x@b.io", shipping_address=ADDRESS)).id
            )
        except OutOfStockError:
            lost += 1

    await concurrently(200, 200, buy)
    reserved = int(
        await store.db.fetchval("SELECT stock_reserved FROM commerce_variants WHERE sku = {}", sku)
    )
    oversold = max(0, len(won) - 10) + max(0, reserved - 10)
    return len(won), lost, oversold


async def bare_checkouts(url: str, orders: int, buyers: int) -> float:
    """The same writes as a checkout, as bare asyncpg statements: the limit."""
    pool = await asyncpg.create_pool(url, min_size=buyers, max_size=buyers)
    assert pool is not None
    now = time.time()
    await pool.execute(
        "INSERT INTO commerce_carts (id, currency, state, created_at, updated_at)"
        " SELECT 'bare' || g, 'EUR', 'open', $1, $1 FROM generate_series(0, $2) g",
        now,
        orders,
    )

    async def buy(i: int) -> None:
        sku = f"hot-{i % PRODUCTS}"
        order_id = f"ord_bare{i}"
        async with pool.acquire() as con, con.transaction():
            row = await con.fetchrow(
                "UPDATE commerce_variants SET stock_reserved = stock_reserved + 1, updated_at = $1"
                " WHERE sku = $2 AND stock_on_hand - stock_reserved >= 1 RETURNING id",
                now,
                sku,
            )
            await con.execute(
                "INSERT INTO commerce_reservations (id, variant_id, quantity, order_id, state,"
                " created_at) VALUES ($1, $2, 1, $3, 'ordered', $4)",
                f"res_bare{i}",
                row["id"],
                order_id,
                now,
            )
            number = await con.fetchval("SELECT nextval('commerce_order_number')")
            await con.execute(
                "INSERT INTO commerce_orders (id, number, idempotency_key, cart_id, email, status,"
                " currency, subtotal_amount, discount_amount, tax_amount, shipping_amount,"
                " total_amount, refunded_amount, shipping_address, payment_gateway, flags,"
                " placed_at, updated_at) VALUES ($1, $2, $3, $4, 'b@x.io', 'pending_payment',"
                " 'EUR', 10, 0, 0, 0, 10, 0, '{}', 'manual', '[]', $5, $5)",
                order_id,
                number,
                f"bare:{i}",
                f"bare{i}",
                now,
            )
            await con.execute(
                "INSERT INTO commerce_order_lines (id, order_id, variant_id, product_id, vendor_id,"
                " sku, title, quantity, unit_price_amount, line_total_amount, tax_amount,"
                " discount_amount, commission_rate, commission_amount, source) VALUES ($1, $2, $3,"
                " 'p', 'ven_bench', $4, 't', 1, 10, 10, 0, 0, 0.1, 1, 'own')",
                f"oli_bare{i}",
                order_id,
                row["id"],
                sku,
            )
            await con.execute(
                "UPDATE commerce_carts SET state = 'checked_out', order_id = $1 WHERE id = $2",
                order_id,
                f"bare{i}",
            )
            await con.execute(
                "INSERT INTO dropkit_events (id, type, subject, payload, occurred_at)"
                " VALUES ($1, 'order.placed', $2, '{}', $3)",
                f"evt_bare{i}",
                order_id,
                now,
            )
            await con.execute(
                "INSERT INTO dropkit_jobs (id, function, queue, args, state, max_attempts, run_at,"
                " idempotency_key, created_at, updated_at) VALUES ($1, 'dropkit.events.dispatch',"
                " 'default', '{}', 'queued', 10, $2, $3, $2, $2)",
                f"job_bare{i}",
                now,
                f"event:evt_bare{i}:dispatch",
            )

    try:
        elapsed = await concurrently(orders, buyers, buy)
    finally:
        await pool.close()
    return orders / elapsed


async def graphql_listing(store: Store, seconds: float) -> tuple[float, float] | None:
    try:
        from dropkit.commerce.catalog import Catalog
        from dropkit.commerce.graphql import build_schema
    except ImportError:
        return None
    schema: Any = build_schema(
        catalog=Catalog(store.db, store.events),
        inventory=store.inventory,
        carts=store.carts,
        checkout=store.checkout,
    )
    query = (
        "{ products(first: 50) { edges { node { title priceRange { min { amount } }"
        " variants { sku available price { amount } } images { url } } } } }"
    )
    before = store.db.statements
    requests = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        result = await schema.execute(query)
        assert not result.errors, result.errors
        requests += 1
    elapsed = time.perf_counter() - started
    return requests / elapsed, (store.db.statements - before) / requests


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(options: argparse.Namespace) -> None:
    url = await create_database()
    try:
        async with Database(url, pool_size=options.buyers + 4) as db:
            await Migrator(db, [*CORE_MIGRATIONS, *COMMERCE_MIGRATIONS]).migrate()
            store = Store(db)
            rate, latencies = await dropkit_checkouts(store, options.orders, options.buyers)
            p50 = percentile(latencies, 0.5) * 1000
            p95 = percentile(latencies, 0.95) * 1000
            print(
                f"dropkit checkout: {rate:8.0f} orders/s with {options.buyers} buyers "
                f"(p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
                f"mean {statistics.mean(latencies) * 1000:.1f} ms)",
                flush=True,
            )
            won, lost, oversold = await contention(store)
            print(
                f"last units: 200 buyers for 10 units -> {won} orders, {lost} refused, "
                f"oversold {oversold}",
                flush=True,
            )
            listing = await graphql_listing(store, options.graphql_seconds)
        bare = await bare_checkouts(url, options.orders, options.buyers)
        print(f"bare asyncpg (same writes): {bare:8.0f} orders/s", flush=True)
        ratio = rate / bare
        print(f"ratio dropkit / bare:       {ratio:8.2f}", flush=True)
        graphql_rps, graphql_queries = listing if listing else (0.0, 0.0)
        if listing:
            print(
                f"GraphQL, 50 products with variants and images: {graphql_rps:.1f} requests/s, "
                f"{graphql_queries:.1f} SQL statements per request",
                flush=True,
            )
    finally:
        await drop_database(url)
    print(
        json.dumps(
            {
                "checkouts_per_s": round(rate, 1),
                "p95_ms": round(p95, 1),
                "oversold": oversold,
                "ratio_to_bare": round(ratio, 3),
                "graphql_rps": round(graphql_rps, 1),
                "graphql_queries_per_request": round(graphql_queries, 1),
            }
        )
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--buyers", type=int, default=32)
    parser.add_argument("--graphql-seconds", type=float, default=5.0)
    return parser.parse_args()


if __name__ == "__main__":
    anyio.run(main, parse())
