"""Product listings page through an index, in order, without sorting the table per page."""

from __future__ import annotations

from dropkit.commerce.catalog import Catalog
from dropkit.commerce.vendors import Vendors
from dropkit.core.database import Database


async def test_status_listing_seeks_the_listing_index(store_db: Database) -> None:
    if store_db.dialect != "sqlite":
        # PostgreSQL's planner picks by table statistics (a few test rows: a scan); the plan
        # is checked where it is deterministic, the paging itself below on both.
        return
    plan = await store_db.fetch(
        "EXPLAIN QUERY PLAN SELECT p.* FROM commerce_products p WHERE p.status = {}"
        " AND (p.created_at, p.id) > ({}, {}) ORDER BY p.created_at, p.id LIMIT {}",
        "active",
        0.0,
        "",
        51,
    )
    details = " | ".join(str(row["detail"]) for row in plan)
    assert "commerce_products_listing" in details
    assert "TEMP B-TREE" not in details  # no sort per page


async def test_pages_cover_every_active_product_once_in_order(
    catalog: Catalog, vendors: Vendors
) -> None:
    vendor = (await vendors.create("Lamps")).id
    made = []
    for n in range(14):
        active = n % 3 != 0
        product = await catalog.create(
            vendor,
            f"Lamp {n}",
            status="active" if active else "draft",
            variants=[{"sku": f"LAMP-{n}", "price": "19.90 EUR"}] if active else (),
        )
        made.append((product.id, active))
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await catalog.list(status="active", limit=4, cursor=cursor)
        seen += [p.id for p in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [pid for pid, active in made if active]
