"""Product writes: create a product with its variants and images, edit it, change its status.

Each write is one transaction that also publishes its event (``product.created``,
``product.updated``), so a product exists exactly when its event does. Writes check categories
and answer with a fresh read, hence they build on :class:`Categories` and :class:`ProductReads`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dropkit.commerce._catalog_categories import Categories
from dropkit.commerce._catalog_models import (
    UNSET,
    ImageInput,
    Product,
    ProductStatus,
    Unset,
    VariantInput,
    check_variants,
    clean_attributes,
    clean_tags,
    product_from_row,
    product_status,
)
from dropkit.commerce._catalog_reads import ProductReads
from dropkit.commerce._catalog_rows import (
    check_skus_free,
    check_vendor,
    insert_images,
    insert_product,
    insert_variants,
    product_row,
)
from dropkit.commerce._records import check_slug, check_text, new_id, slugify
from dropkit.commerce.events import ProductCreated, ProductUpdated
from dropkit.core.errors import ConflictError, IntegrityError, ValidationError
from dropkit.core.jsontext import dumps_strict

__all__ = ["ProductWrites"]


class ProductWrites(Categories, ProductReads):
    """The catalog's product writes."""

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
            await check_vendor(self._db, vendor_id)
            if category_id is not None:
                await self.get_category(category_id)
            await check_skus_free(self._db, [v.sku for v in variant_inputs])
            chosen = await insert_product(
                self._db,
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
            await insert_variants(self._db, product_id, variant_inputs, start=0, now=now)
            await insert_images(self._db, product_id, image_inputs)
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
            row = await product_row(self._db, product_id)
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
            row = await product_row(self._db, product_id)
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
