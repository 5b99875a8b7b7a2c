"""Row-level reads, guards and inserts that more than one catalog section needs.

They take the :class:`~dropkit.core.database.Database` and run inside the caller's transaction,
so a product, its variants and its images are written together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dropkit.commerce._catalog_models import ImageInput, VariantInput
from dropkit.commerce._records import new_id, param_list
from dropkit.commerce.amounts import to_db
from dropkit.core.database import Database, Row
from dropkit.core.errors import ConflictError, IntegrityError, NotFoundError
from dropkit.core.jsontext import dumps_strict

__all__ = [
    "check_skus_free",
    "check_vendor",
    "insert_images",
    "insert_product",
    "insert_variants",
    "product_row",
]

_SLUG_ATTEMPTS = 200


async def product_row(db: Database, product_id: str) -> Row:
    row = await db.fetchrow("SELECT * FROM commerce_products WHERE id = {}", product_id)
    if row is None:
        raise NotFoundError(f"no product {product_id!r}")
    return row


async def check_vendor(db: Database, vendor_id: str) -> None:
    status = await db.fetchval("SELECT status FROM commerce_vendors WHERE id = {}", vendor_id)
    if status is None:
        raise NotFoundError(f"no vendor {vendor_id!r}")
    if status != "active":
        raise ConflictError(f"vendor {vendor_id} is {status}: it cannot list products")


async def check_skus_free(db: Database, skus: Sequence[str]) -> None:
    if not skus:
        return
    taken = await db.fetch(
        f"SELECT sku FROM commerce_variants WHERE sku IN ({param_list(len(skus))})", *skus
    )
    if taken:
        names = ", ".join(sorted(row["sku"] for row in taken))
        raise ConflictError(f"SKU already in use: {names}")


async def insert_product(
    db: Database, explicit: str | None, base: str, values: Sequence[Any]
) -> str:
    """Insert the product row under a free slug; returns the slug used.

    Each attempt runs in a savepoint: on PostgreSQL a concurrent transaction that took the
    same slug makes the insert wait for it, then fail; the next attempt sees its slug.
    """
    for _attempt in range(_SLUG_ATTEMPTS):
        candidate = explicit if explicit is not None else await _free_slug(db, base)
        try:
            async with db.transaction():
                await db.execute(
                    "INSERT INTO commerce_products (id, vendor_id, category_id, slug, title,"
                    " description, status, attributes, tags, created_at, updated_at)"
                    " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                    values[0],
                    values[1],
                    values[2],
                    candidate,
                    *values[3:],
                )
        except IntegrityError as exc:
            if not await db.fetchval("SELECT id FROM commerce_products WHERE slug = {}", candidate):
                raise ConflictError(f"cannot create product: {exc}") from exc
            if explicit is not None:
                raise ConflictError(f"slug {explicit!r} is taken") from exc
            continue
        return candidate
    raise ConflictError(f"no free slug for {base!r} after {_SLUG_ATTEMPTS} attempts")


async def _free_slug(db: Database, base: str) -> str:
    rows = await db.fetch(
        "SELECT slug FROM commerce_products WHERE slug = {} OR slug LIKE {}",
        base,
        f"{base}-%",
    )
    taken = {row["slug"] for row in rows}
    if base not in taken:
        return base
    suffixes = {
        int(s[len(base) + 1 :]) for s in taken if s[len(base) + 1 :].isdigit() and s != base
    }
    n = 2
    while n in suffixes:
        n += 1
    return f"{base}-{n}"


async def insert_variants(
    db: Database, product_id: str, variants: Sequence[VariantInput], *, start: int, now: float
) -> list[str]:
    """Insert ``variants`` at positions from ``start``; returns their new ids in order."""
    if not variants:
        return []
    ids = [new_id("var") for _ in variants]
    values: list[Any] = []
    for offset, (variant_id, v) in enumerate(zip(ids, variants, strict=True)):
        values += [
            variant_id,
            product_id,
            v.sku,
            v.title,
            dumps_strict(v.options),
            to_db(v.price),
            v.price.currency,
            None if v.compare_at is None else to_db(v.compare_at),
            v.weight_grams,
            v.stock_on_hand,
            v.low_stock_threshold,
            start + offset,
            now,
            now,
        ]
    row_sql = f"({param_list(14)})"
    try:
        await db.execute(
            "INSERT INTO commerce_variants (id, product_id, sku, title, options, price_amount,"
            " currency, compare_at_amount, weight_grams, stock_on_hand, low_stock_threshold,"
            f" position, created_at, updated_at) VALUES {', '.join([row_sql] * len(ids))}",
            *values,
        )
    except IntegrityError as exc:  # a concurrent writer took a SKU after our check
        skus = ", ".join(v.sku for v in variants)
        raise ConflictError(f"SKU already in use (one of {skus})") from exc
    return ids


async def insert_images(db: Database, product_id: str, images: Sequence[ImageInput]) -> None:
    if not images:
        return
    values: list[Any] = []
    for position, image in enumerate(images):
        values += [new_id("img"), product_id, image.url, image.alt, position]
    row_sql = f"({param_list(5)})"
    await db.execute(
        "INSERT INTO commerce_product_images (id, product_id, url, alt, position)"
        f" VALUES {', '.join([row_sql] * len(images))}",
        *values,
    )
