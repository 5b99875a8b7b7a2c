"""The catalog: nested categories, products, their variants (SKU, price, stock) and images.

Every write runs in one transaction and publishes its event (``product.created``,
``product.updated``) in that same transaction, so a product exists exactly when its event does.
Inputs are pydantic models whose refusals surface as dropkit's own typed errors
(:class:`~dropkit.core.errors.InvalidAmountError` for a price finer than its currency,
:class:`~dropkit.commerce.errors.InvalidQuantityError` for a bad stock count,
:class:`~dropkit.core.errors.ValidationError` for the rest), raised before anything is written.

Stock counters change only through one guarded ``UPDATE`` (never below the reserved units, never
below zero), so a stock edit cannot race a checkout into overselling.
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from dropkit.commerce._catalog_models import (
    UNSET,
    Category,
    CategoryNode,
    Image,
    ImageInput,
    Product,
    ProductPage,
    ProductStatus,
    Unset,
    Variant,
    VariantInput,
    category_from_row,
    check_variants,
    clean_attributes,
    clean_tags,
    decode_cursor,
    encode_cursor,
    image_from_row,
    product_from_row,
    product_status,
    variant_from_row,
)
from dropkit.commerce._records import (
    MAX_STOCK,
    InputModel,
    check_quantity,
    check_slug,
    check_text,
    fetch_grouped,
    new_id,
    param_list,
    slugify,
)
from dropkit.commerce.amounts import to_db
from dropkit.commerce.errors import InvalidQuantityError, OutOfStockError, UnknownSkuError
from dropkit.commerce.events import ProductCreated, ProductUpdated
from dropkit.core.database import Database, Row
from dropkit.core.errors import (
    ConflictError,
    CurrencyMismatchError,
    IntegrityError,
    NotFoundError,
    ValidationError,
)
from dropkit.core.events import EventBus
from dropkit.core.jsontext import dumps_strict
from dropkit.core.money import Money

__all__ = [
    "MAX_STOCK",
    "UNSET",
    "Catalog",
    "Category",
    "CategoryNode",
    "Image",
    "ImageInput",
    "InputModel",
    "Product",
    "ProductPage",
    "ProductStatus",
    "Unset",
    "Variant",
    "VariantInput",
    "check_slug",
    "slugify",
]

_SLUG_ATTEMPTS = 200


# -- the service ------------------------------------------------------------------------------


class Catalog:
    """Categories, products, variants and images over one :class:`Database`."""

    MAX_PAGE: ClassVar[int] = 200

    def __init__(
        self,
        database: Database,
        events: EventBus,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._events = events
        self._clock = clock

    # -- categories ---------------------------------------------------------------------

    async def create_category(
        self,
        name: str,
        *,
        parent_id: str | None = None,
        slug: str | None = None,
        position: int = 0,
    ) -> Category:
        """A category, under ``parent_id`` if given; a taken slug is a ``ConflictError``."""
        name = check_text(name, "category name", max_length=200)
        slug = check_slug(slug) if slug is not None else slugify(name, fallback="category")
        category = Category(
            id=new_id("cat"), parent_id=parent_id, name=name, slug=slug, position=position
        )
        async with self._db.transaction():
            if parent_id is not None:
                await self.get_category(parent_id)
            if await self._db.fetchval("SELECT id FROM commerce_categories WHERE slug = {}", slug):
                raise ConflictError(f"a category with slug {slug!r} already exists")
            try:
                await self._db.execute(
                    "INSERT INTO commerce_categories (id, parent_id, name, slug, position)"
                    " VALUES ({}, {}, {}, {}, {})",
                    category.id,
                    parent_id,
                    name,
                    slug,
                    position,
                )
            except IntegrityError as exc:
                raise ConflictError(f"a category with slug {slug!r} already exists") from exc
        return category

    async def get_category(self, category_id: str) -> Category:
        row = await self._db.fetchrow(
            "SELECT * FROM commerce_categories WHERE id = {}", category_id
        )
        if row is None:
            raise NotFoundError(f"no category {category_id!r}")
        return category_from_row(row)

    async def category_tree(self) -> list[CategoryNode]:
        """Every category as a forest of nodes, siblings ordered by position then name."""
        rows = await self._db.fetch("SELECT * FROM commerce_categories ORDER BY position, name, id")
        categories = [category_from_row(row) for row in rows]
        children: dict[str | None, list[Category]] = {}
        for category in categories:
            children.setdefault(category.parent_id, []).append(category)

        def build(category: Category) -> CategoryNode:
            kids = children.get(category.id, [])
            return CategoryNode(category=category, children=tuple(build(k) for k in kids))

        return [build(root) for root in children.get(None, [])]

    async def category_path(self, category_id: str) -> list[Category]:
        """The chain from the root down to ``category_id`` (breadcrumbs)."""
        path: list[Category] = []
        current: str | None = category_id
        while current is not None:
            category = await self.get_category(current)
            path.append(category)
            current = category.parent_id
            if len(path) > 100:  # parents are set at creation only, so this cannot cycle
                raise ConflictError(f"category {category_id!r} is nested too deep")
        return path[::-1]

    # -- products: writes ---------------------------------------------------------------

    async def create(
        self,
        vendor_id: str,
        title: str,
        *,
        slug: str | None = None,
        description: str = "",
        category_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
        tags: Iterable[str] | None = None,
        status: ProductStatus | str = ProductStatus.DRAFT,
        variants: Sequence[VariantInput | Mapping[str, Any]] = (),
        images: Sequence[ImageInput | Mapping[str, Any]] = (),
    ) -> Product:
        """Create a product with its variants and images in one transaction.

        Without ``slug`` one is made from the title and suffixed (``-2``, ``-3``...) until it
        is free, even against concurrent creations; an explicit ``slug`` that is taken is a
        :class:`ConflictError`. Publishes :class:`ProductCreated`.
        """
        title = check_text(title, "title", max_length=200)
        description = check_text(description, "description", max_length=50_000, required=False)
        attrs = clean_attributes(attributes)
        tag_list = clean_tags(tags)
        state = product_status(status)
        variant_inputs = [VariantInput.coerce(v) for v in variants]
        image_inputs = [ImageInput.coerce(i) for i in images]
        if len(variant_inputs) > 250 or len(image_inputs) > 250:
            raise ValidationError("a product has at most 250 variants and 250 images")
        check_variants(variant_inputs)
        if state is ProductStatus.ACTIVE and not variant_inputs:
            raise ValidationError("an active product needs at least one variant")
        explicit = check_slug(slug) if slug is not None else None
        base = slugify(title, fallback="product")

        now = self._clock()
        product_id = new_id("prd")
        async with self._db.transaction():
            await self._check_vendor(vendor_id)
            if category_id is not None:
                await self.get_category(category_id)
            await self._check_skus_free([v.sku for v in variant_inputs])
            chosen = await self._insert_product(
                explicit,
                base,
                [
                    product_id,
                    vendor_id,
                    category_id,
                    title,
                    description,
                    state.value,
                    dumps_strict(attrs),
                    dumps_strict(tag_list),
                    now,
                    now,
                ],
            )
            await self._insert_variants(product_id, variant_inputs, start=0, now=now)
            await self._insert_images(product_id, image_inputs)
            await self._events.publish(
                ProductCreated(product_id=product_id, vendor_id=vendor_id, slug=chosen, title=title)
            )
            return await self.get(product_id)

    async def update(
        self,
        product_id: str,
        *,
        title: str | Unset = UNSET,
        slug: str | Unset = UNSET,
        description: str | Unset = UNSET,
        category_id: str | Unset | None = UNSET,
        attributes: Mapping[str, str] | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
    ) -> Product:
        """Change the given fields; publishes :class:`ProductUpdated` naming those that changed.

        The slug does not follow a new title (links stay valid); pass ``slug`` to change it.
        """
        new: dict[str, Any] = {}
        if not isinstance(title, Unset):
            new["title"] = check_text(title, "title", max_length=200)
        if not isinstance(slug, Unset):
            new["slug"] = check_slug(slug)
        if not isinstance(description, Unset):
            new["description"] = check_text(
                description, "description", max_length=50_000, required=False
            )
        if not isinstance(category_id, Unset):
            new["category_id"] = category_id
        if not isinstance(attributes, Unset):
            new["attributes"] = clean_attributes(attributes)
        if not isinstance(tags, Unset):
            new["tags"] = clean_tags(tags)

        async with self._db.transaction():
            row = await self._product_row(product_id)
            current = product_from_row(row)
            changed = {
                name: value
                for name, value in new.items()
                if (list(current.tags) if name == "tags" else getattr(current, name)) != value
            }
            if not changed:
                return await self.get(product_id)
            if changed.get("category_id") is not None:
                await self.get_category(changed["category_id"])
            if "slug" in changed and await self._db.fetchval(
                "SELECT id FROM commerce_products WHERE slug = {}", changed["slug"]
            ):
                raise ConflictError(f"slug {changed['slug']!r} is taken")
            columns = [f"{name} = {{}}" for name in changed]
            values = [
                dumps_strict(v) if name in ("attributes", "tags") else v
                for name, v in changed.items()
            ]
            try:
                await self._db.execute(
                    f"UPDATE commerce_products SET {', '.join(columns)}, updated_at = {{}}"
                    " WHERE id = {}",
                    *values,
                    self._clock(),
                    product_id,
                )
            except IntegrityError as exc:
                raise ConflictError(f"cannot update product {product_id}: {exc}") from exc
            await self._events.publish(
                ProductUpdated(
                    product_id=product_id, vendor_id=current.vendor_id, changed=sorted(changed)
                )
            )
            return await self.get(product_id)

    async def set_status(self, product_id: str, status: ProductStatus | str) -> Product:
        """Move a product to draft, active or archived (active needs a variant)."""
        state = product_status(status)
        async with self._db.transaction():
            row = await self._product_row(product_id)
            if row["status"] == state.value:
                return await self.get(product_id)
            if state is ProductStatus.ACTIVE and not await self._db.fetchval(
                "SELECT id FROM commerce_variants WHERE product_id = {} LIMIT 1", product_id
            ):
                raise ValidationError(f"product {product_id} has no variant: it cannot be active")
            await self._db.execute(
                "UPDATE commerce_products SET status = {}, updated_at = {} WHERE id = {}",
                state.value,
                self._clock(),
                product_id,
            )
            await self._events.publish(
                ProductUpdated(
                    product_id=product_id, vendor_id=row["vendor_id"], changed=["status"]
                )
            )
            return await self.get(product_id)

    # -- products: reads ----------------------------------------------------------------

    async def get(self, product_id: str) -> Product:
        """A product with its variants and images."""
        row = await self._product_row(product_id)
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
            clauses.append("(p.created_at > {} OR (p.created_at = {} AND p.id > {}))")
            args += [after, after, after_id]
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

    # -- variants -----------------------------------------------------------------------

    async def add_variant(
        self, product_id: str, variant: VariantInput | Mapping[str, Any]
    ) -> Variant:
        """Add a variant priced in the product's currency; publishes ProductUpdated."""
        data = VariantInput.coerce(variant)
        async with self._db.transaction():
            row = await self._product_row(product_id)
            existing = await self._db.fetchrow(
                "SELECT currency, MAX(position) AS last FROM commerce_variants"
                " WHERE product_id = {} GROUP BY currency",
                product_id,
            )
            if existing is not None and existing["currency"] != data.price.currency:
                raise CurrencyMismatchError(
                    f"product {product_id} is priced in {existing['currency']}, "
                    f"not {data.price.currency}"
                )
            await self._check_skus_free([data.sku])
            start = 0 if existing is None else int(existing["last"]) + 1
            (variant_id,) = await self._insert_variants(
                product_id, [data], start=start, now=self._clock()
            )
            await self._events.publish(
                ProductUpdated(
                    product_id=product_id, vendor_id=row["vendor_id"], changed=["variants"]
                )
            )
            return await self.get_variant(variant_id)

    async def get_variant(self, variant_id: str) -> Variant:
        row = await self._db.fetchrow("SELECT * FROM commerce_variants WHERE id = {}", variant_id)
        if row is None:
            raise NotFoundError(f"no variant {variant_id!r}")
        return variant_from_row(row)

    async def get_variant_by_sku(self, sku: str) -> Variant:
        row = await self._db.fetchrow("SELECT * FROM commerce_variants WHERE sku = {}", sku)
        if row is None:
            raise UnknownSkuError(f"no variant has SKU {sku!r}")
        return variant_from_row(row)

    async def update_price(
        self, variant_id: str, price: Money, compare_at: Money | None = None
    ) -> Variant:
        """Reprice a variant; the currency cannot change (all variants share one)."""
        checked = VariantInput(sku="x", price=price, compare_at=compare_at)
        async with self._db.transaction():
            current = await self.get_variant(variant_id)
            if current.price.currency != checked.price.currency:
                raise CurrencyMismatchError(
                    f"variant {current.sku} is priced in {current.price.currency}, "
                    f"not {checked.price.currency}"
                )
            await self._db.execute(
                "UPDATE commerce_variants SET price_amount = {}, compare_at_amount = {},"
                " updated_at = {} WHERE id = {}",
                to_db(checked.price),
                None if checked.compare_at is None else to_db(checked.compare_at),
                self._clock(),
                variant_id,
            )
            vendor_id = await self._db.fetchval(
                "SELECT vendor_id FROM commerce_products WHERE id = {}", current.product_id
            )
            await self._events.publish(
                ProductUpdated(
                    product_id=current.product_id, vendor_id=vendor_id, changed=["variants"]
                )
            )
            return await self.get_variant(variant_id)

    async def set_stock(self, variant_id: str, on_hand: int) -> Variant:
        """Set the units on hand (a stock count); never below the units already reserved."""
        check_quantity(on_hand, "stock on hand")
        row = await self._db.fetchrow(
            "UPDATE commerce_variants SET stock_on_hand = {}, updated_at = {}"
            " WHERE id = {} AND stock_reserved <= {} RETURNING *",
            on_hand,
            self._clock(),
            variant_id,
            on_hand,
        )
        if row is None:
            current = await self.get_variant(variant_id)
            raise OutOfStockError(
                current.sku, current.stock_on_hand - on_hand, current.own_available
            )
        return variant_from_row(row)

    async def adjust_stock(self, variant_id: str, delta: int) -> Variant:
        """Add (or, negative, remove) units; refuses to dip into reserved units or below zero.

        One guarded ``UPDATE``: concurrent adjustments and reservations cannot oversell.
        """
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise InvalidQuantityError(f"stock delta must be a non-zero integer, not {delta!r}")
        if abs(delta) > MAX_STOCK:
            raise InvalidQuantityError(f"stock delta {delta} is absurd (more than {MAX_STOCK})")
        row = await self._db.fetchrow(
            "UPDATE commerce_variants SET stock_on_hand = stock_on_hand + {}, updated_at = {}"
            " WHERE id = {} AND stock_on_hand + {} >= stock_reserved"
            " AND stock_on_hand + {} <= {} RETURNING *",
            delta,
            self._clock(),
            variant_id,
            delta,
            delta,
            MAX_STOCK,
        )
        if row is None:
            current = await self.get_variant(variant_id)
            if delta > 0:
                raise InvalidQuantityError(
                    f"{current.sku}: {current.stock_on_hand} + {delta} exceeds {MAX_STOCK}"
                )
            raise OutOfStockError(current.sku, -delta, current.own_available)
        return variant_from_row(row)

    # -- internals ----------------------------------------------------------------------

    async def product_vendor(self, product_id: str) -> str:
        """The id of the vendor that owns ``product_id`` (for vendor-scoped checks)."""
        owner = await self._db.fetchval(
            "SELECT vendor_id FROM commerce_products WHERE id = {}", product_id
        )
        if owner is None:
            raise NotFoundError(f"no product {product_id!r}")
        return str(owner)

    async def variant_vendor(self, variant_id: str) -> str:
        """The id of the vendor whose product has ``variant_id``."""
        owner = await self._db.fetchval(
            "SELECT p.vendor_id FROM commerce_variants v"
            " JOIN commerce_products p ON p.id = v.product_id WHERE v.id = {}",
            variant_id,
        )
        if owner is None:
            raise NotFoundError(f"no variant {variant_id!r}")
        return str(owner)

    async def _product_row(self, product_id: str) -> Row:
        row = await self._db.fetchrow("SELECT * FROM commerce_products WHERE id = {}", product_id)
        if row is None:
            raise NotFoundError(f"no product {product_id!r}")
        return row

    async def _with_details(self, row: Row) -> Product:
        variants = await self.variants_for_products([row["id"]])
        images = await self.images_for_products([row["id"]])
        return product_from_row(row, variants[row["id"]], images[row["id"]])

    async def _check_vendor(self, vendor_id: str) -> None:
        status = await self._db.fetchval(
            "SELECT status FROM commerce_vendors WHERE id = {}", vendor_id
        )
        if status is None:
            raise NotFoundError(f"no vendor {vendor_id!r}")
        if status != "active":
            raise ConflictError(f"vendor {vendor_id} is {status}: it cannot list products")

    async def _check_skus_free(self, skus: Sequence[str]) -> None:
        if not skus:
            return
        taken = await self._db.fetch(
            f"SELECT sku FROM commerce_variants WHERE sku IN ({param_list(len(skus))})", *skus
        )
        if taken:
            names = ", ".join(sorted(row["sku"] for row in taken))
            raise ConflictError(f"SKU already in use: {names}")

    async def _insert_product(self, explicit: str | None, base: str, values: Sequence[Any]) -> str:
        """Insert the product row under a free slug; returns the slug used.

        Each attempt runs in a savepoint: on PostgreSQL a concurrent transaction that took the
        same slug makes the insert wait for it, then fail; the next attempt sees its slug.
        """
        for _attempt in range(_SLUG_ATTEMPTS):
            candidate = explicit if explicit is not None else await self._free_slug(base)
            try:
                async with self._db.transaction():
                    await self._db.execute(
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
                if not await self._db.fetchval(
                    "SELECT id FROM commerce_products WHERE slug = {}", candidate
                ):
                    raise ConflictError(f"cannot create product: {exc}") from exc
                if explicit is not None:
                    raise ConflictError(f"slug {explicit!r} is taken") from exc
                continue
            return candidate
        raise ConflictError(f"no free slug for {base!r} after {_SLUG_ATTEMPTS} attempts")

    async def _free_slug(self, base: str) -> str:
        rows = await self._db.fetch(
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

    async def _insert_variants(
        self, product_id: str, variants: Sequence[VariantInput], *, start: int, now: float
    ) -> builtins.list[str]:
        if not variants:
            return []
        ids = [new_id("var") for _ in variants]
        values: builtins.list[Any] = []
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
            await self._db.execute(
                "INSERT INTO commerce_variants (id, product_id, sku, title, options, price_amount,"
                " currency, compare_at_amount, weight_grams, stock_on_hand, low_stock_threshold,"
                f" position, created_at, updated_at) VALUES {', '.join([row_sql] * len(ids))}",
                *values,
            )
        except IntegrityError as exc:  # a concurrent writer took a SKU after our check
            skus = ", ".join(v.sku for v in variants)
            raise ConflictError(f"SKU already in use (one of {skus})") from exc
        return ids

    async def _insert_images(self, product_id: str, images: Sequence[ImageInput]) -> None:
        if not images:
            return
        values: builtins.list[Any] = []
        for position, image in enumerate(images):
            values += [new_id("img"), product_id, image.url, image.alt, position]
        row_sql = f"({param_list(5)})"
        await self._db.execute(
            "INSERT INTO commerce_product_images (id, product_id, url, alt, position)"
            f" VALUES {', '.join([row_sql] * len(images))}",
            *values,
        )
