"""Product reads: one product with its variants and images, pages of products, batch loads.

Listings load variants and images for a whole page in a few queries (:func:`fetch_grouped`),
never one query per product, so a storefront page costs the same at 5 or 200 products.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from dropkit.commerce._catalog_base import CatalogBase
from dropkit.commerce._catalog_models import (
    Image,
    Product,
    ProductPage,
    ProductStatus,
    Variant,
    decode_cursor,
    encode_cursor,
    image_from_row,
    product_from_row,
    product_status,
    variant_from_row,
)
from dropkit.commerce._catalog_rows import product_row
from dropkit.commerce._records import fetch_grouped
from dropkit.core.database import Row
from dropkit.core.errors import NotFoundError, ValidationError

__all__ = ["ProductReads"]


class ProductReads(CatalogBase):
    """The catalog's product reads."""

    MAX_PAGE: ClassVar[int] = 200
    """The most products one :meth:`list` call returns (its ``limit`` ceiling)."""

    async def get(self, product_id: str) -> Product:
        """A product with its variants and images."""
        row = await product_row(self._db, product_id)
        return await self._with_details(row)

    async def get_by_slug(self, slug: str) -> Product:
        row = await self._db.fetchrow("SELECT * FROM commerce_products WHERE slug = {}", slug)
        if row is None:
            raise NotFoundError(f"no product with slug {slug!r}")
        return await self._with_details(row)

    async def list(
        self,
        *,
        status: ProductStatus | str | None = None,
        vendor_id: str | None = None,
        category_id: str | None = None,
        search: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ProductPage:
        """A page of products in creation order (keyset pagination: stable under inserts).

        ``category_id`` includes its sub-categories; ``search`` matches title and description
        case-insensitively, or a SKU exactly.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= self.MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {self.MAX_PAGE}, not {limit!r}")
        clauses: builtins.list[str] = []
        args: builtins.list[Any] = []
        if status is not None:
            clauses.append("p.status = {}")
            args.append(product_status(status).value)
        if vendor_id is not None:
            clauses.append("p.vendor_id = {}")
            args.append(vendor_id)
        if category_id is not None:
            clauses.append(
                "p.category_id IN (WITH RECURSIVE sub(id) AS ("
                "SELECT id FROM commerce_categories WHERE id = {}"
                " UNION ALL SELECT c.id FROM commerce_categories c JOIN sub ON c.parent_id = sub.id"
                ") SELECT id FROM sub)"
            )
            args.append(category_id)
        if search is not None and search.strip():
            needle = search.strip().lower()
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", needle) + "%"
            clauses.append(
                "(LOWER(p.title) LIKE {} ESCAPE '\\' OR LOWER(p.description) LIKE {} ESCAPE '\\'"
                " OR EXISTS (SELECT 1 FROM commerce_variants v"
                " WHERE v.product_id = p.id AND LOWER(v.sku) = {}))"
            )
            args += [pattern, pattern, needle]
        if tag is not None:
            if self._db.dialect == "postgres":
                clauses.append("p.tags @> jsonb_build_array({}::text)")
            else:
                clauses.append("EXISTS (SELECT 1 FROM json_each(p.tags) WHERE value = {})")
            args.append(tag.strip().lower())
        if cursor is not None:
            after, after_id = decode_cursor(cursor)
            clauses.append("(p.created_at, p.id) > ({}, {})")  # a row value: one index seek
            args += [after, after_id]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetch(
            f"SELECT p.* FROM commerce_products p{where} ORDER BY p.created_at, p.id LIMIT {{}}",
            *args,
            limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        ids = [row["id"] for row in rows]
        variants = await self.variants_for_products(ids)
        images = await self.images_for_products(ids)
        items = tuple(
            product_from_row(row, variants.get(row["id"], []), images.get(row["id"], []))
            for row in rows
        )
        last = rows[-1] if rows else None
        next_cursor = (
            encode_cursor(float(last["created_at"]), last["id"]) if more and last else None
        )
        return ProductPage(items=items, next_cursor=next_cursor)

    async def variants_for_products(
        self, product_ids: Sequence[str]
    ) -> dict[str, builtins.list[Variant]]:
        """Variants of many products at once (one query per 500 ids): no N+1 in GraphQL."""
        return await fetch_grouped(
            self._db,
            "SELECT * FROM commerce_variants WHERE product_id IN ({ids})"
            " ORDER BY product_id, position, id",
            product_ids,
            "product_id",
            variant_from_row,
        )

    async def images_for_products(
        self, product_ids: Sequence[str]
    ) -> dict[str, builtins.list[Image]]:
        """Images of many products at once (one query per 500 ids)."""
        return await fetch_grouped(
            self._db,
            "SELECT * FROM commerce_product_images WHERE product_id IN ({ids})"
            " ORDER BY product_id, position, id",
            product_ids,
            "product_id",
            image_from_row,
        )

    async def _with_details(self, row: Row) -> Product:
        variants = await self.variants_for_products([row["id"]])
        images = await self.images_for_products([row["id"]])
        return product_from_row(row, variants[row["id"]], images[row["id"]])
