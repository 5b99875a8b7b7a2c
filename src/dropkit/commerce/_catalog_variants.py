"""Variants and their stock: add and look up variants, reprice them, count stock.

Stock counters change only through one guarded ``UPDATE`` (never below the reserved units,
never below zero), so a stock edit cannot race a checkout into overselling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dropkit.commerce._catalog_base import CatalogBase
from dropkit.commerce._catalog_models import Variant, VariantInput, variant_from_row
from dropkit.commerce._catalog_rows import check_skus_free, insert_variants, product_row
from dropkit.commerce._records import MAX_STOCK, check_quantity
from dropkit.commerce.amounts import to_db
from dropkit.commerce.errors import InvalidQuantityError, OutOfStockError, UnknownSkuError
from dropkit.commerce.events import ProductUpdated
from dropkit.core.errors import CurrencyMismatchError, NotFoundError
from dropkit.core.money import Money

__all__ = ["Variants"]


class Variants(CatalogBase):
    """The catalog's variant and stock methods."""

    async def add_variant(
        self, product_id: str, variant: VariantInput | Mapping[str, Any]
    ) -> Variant:
        """Add a variant priced in the product's currency; publishes ProductUpdated."""
        data = VariantInput.coerce(variant)
        async with self._db.transaction():
            row = await product_row(self._db, product_id)
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
            await check_skus_free(self._db, [data.sku])
            start = 0 if existing is None else int(existing["last"]) + 1
            (variant_id,) = await insert_variants(
                self._db, product_id, [data], start=start, now=self._clock()
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
