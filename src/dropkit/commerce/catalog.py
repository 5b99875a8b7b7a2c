"""The catalog: nested categories, products, their variants (SKU, price, stock) and images.

Every write runs in one transaction and publishes its event (``product.created``,
``product.updated``) in that same transaction, so a product exists exactly when its event does.
Inputs are pydantic models whose refusals surface as dropkit's own typed errors
(:class:`~dropkit.core.errors.InvalidAmountError` for a price finer than its currency,
:class:`~dropkit.commerce.errors.InvalidQuantityError` for a bad stock count,
:class:`~dropkit.core.errors.ValidationError` for the rest), raised before anything is written.

Stock counters change only through one guarded ``UPDATE`` (never below the reserved units, never
below zero), so a stock edit cannot race a checkout into overselling.

:class:`Catalog` is assembled from one mixin per concern (``_catalog_categories``,
``_catalog_products``, ``_catalog_reads``, ``_catalog_variants``); this module is where it and
its records are imported from.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dropkit.commerce._catalog_categories import Categories
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
)
from dropkit.commerce._catalog_products import ProductWrites
from dropkit.commerce._catalog_reads import ProductReads
from dropkit.commerce._catalog_variants import Variants
from dropkit.commerce._records import MAX_STOCK, InputModel, check_slug, slugify
from dropkit.core.database import Database
from dropkit.core.errors import NotFoundError
from dropkit.core.events import EventBus

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


class Catalog(ProductWrites, Variants, Categories, ProductReads):
    """Categories, products, variants and images over one :class:`Database`."""

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

    # -- ownership: which vendor a product or variant belongs to --------------------------

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
