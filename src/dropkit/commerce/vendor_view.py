"""Vendor-scoped views: what one marketplace seller may see and change, and nothing else.

A :class:`VendorCatalog` wraps the store's :class:`~dropkit.commerce.catalog.Catalog` for one
vendor: creation is forced to that vendor, listings are filtered to it, and touching another
vendor's product or variant raises :class:`~dropkit.commerce.errors.VendorAccessError`. A
product's vendor never changes after creation, so checking ownership before delegating is not a
race. (Vendor-scoped orders and fulfilments will live beside this class.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dropkit.commerce.catalog import (
    UNSET,
    Catalog,
    ImageInput,
    Product,
    ProductPage,
    ProductStatus,
    Unset,
    Variant,
    VariantInput,
)
from dropkit.commerce.errors import VendorAccessError
from dropkit.core.money import Money

__all__ = ["VendorCatalog"]


class VendorCatalog:
    """The catalog as seen by vendor ``vendor_id``: only its own products."""

    def __init__(self, catalog: Catalog, vendor_id: str) -> None:
        self.catalog = catalog
        self.vendor_id = vendor_id

    # -- ownership ----------------------------------------------------------------------

    async def _own_product(self, product_id: str) -> None:
        self._check(await self.catalog.product_vendor(product_id), f"product {product_id}")

    async def _own_variant(self, variant_id: str) -> None:
        self._check(await self.catalog.variant_vendor(variant_id), f"variant {variant_id}")

    def _check(self, owner: str, what: str) -> None:
        if owner != self.vendor_id:
            raise VendorAccessError(f"{what} does not belong to vendor {self.vendor_id}")

    # -- products -----------------------------------------------------------------------

    async def create(
        self,
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
        """Create a product owned by this vendor (there is no way to name another)."""
        return await self.catalog.create(
            self.vendor_id,
            title,
            slug=slug,
            description=description,
            category_id=category_id,
            attributes=attributes,
            tags=tags,
            status=status,
            variants=variants,
            images=images,
        )

    async def get(self, product_id: str) -> Product:
        product = await self.catalog.get(product_id)
        self._check(product.vendor_id, f"product {product_id}")
        return product

    async def get_by_slug(self, slug: str) -> Product:
        product = await self.catalog.get_by_slug(slug)
        self._check(product.vendor_id, f"product {product.id}")
        return product

    async def list(
        self,
        *,
        status: ProductStatus | str | None = None,
        category_id: str | None = None,
        search: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ProductPage:
        return await self.catalog.list(
            status=status,
            vendor_id=self.vendor_id,
            category_id=category_id,
            search=search,
            tag=tag,
            limit=limit,
            cursor=cursor,
        )

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
        await self._own_product(product_id)
        return await self.catalog.update(
            product_id,
            title=title,
            slug=slug,
            description=description,
            category_id=category_id,
            attributes=attributes,
            tags=tags,
        )

    async def set_status(self, product_id: str, status: ProductStatus | str) -> Product:
        await self._own_product(product_id)
        return await self.catalog.set_status(product_id, status)

    # -- variants -----------------------------------------------------------------------

    async def add_variant(
        self, product_id: str, variant: VariantInput | Mapping[str, Any]
    ) -> Variant:
        await self._own_product(product_id)
        return await self.catalog.add_variant(product_id, variant)

    async def update_price(
        self, variant_id: str, price: Money, compare_at: Money | None = None
    ) -> Variant:
        await self._own_variant(variant_id)
        return await self.catalog.update_price(variant_id, price, compare_at)

    async def set_stock(self, variant_id: str, on_hand: int) -> Variant:
        await self._own_variant(variant_id)
        return await self.catalog.set_stock(variant_id, on_hand)

    async def adjust_stock(self, variant_id: str, delta: int) -> Variant:
        await self._own_variant(variant_id)
        return await self.catalog.adjust_stock(variant_id, delta)
