"""Vendor-scoped views: what one marketplace seller may see and change, and nothing else.

A :class:`VendorCatalog` wraps the store's :class:`~dropkit.commerce.catalog.Catalog` for one
vendor: creation is forced to that vendor, listings are filtered to it, and touching another
vendor's product or variant raises :class:`~dropkit.commerce.errors.VendorAccessError`. A
product's vendor never changes after creation, so checking ownership before delegating is not a
race. :class:`VendorOrders` does the same for orders and fulfilments, and :class:`VendorView`
bundles both (``kit.commerce.for_vendor(vendor_id)``).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
from dropkit.commerce.orders import Fulfilment, Order, OrderLine, Orders, OrderStatus
from dropkit.core.money import Money

__all__ = ["VendorCatalog", "VendorOrder", "VendorOrders", "VendorView"]


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


class VendorOrders:
    """Orders as seen by vendor ``vendor_id``: its own lines and fulfilments only.

    An order of a marketplace can mix vendors; each vendor sees the orders that contain its
    lines, with the other vendors' lines (and prices, customers' totals) left out, and may ship
    only its own fulfilments.
    """

    def __init__(self, orders: Orders, vendor_id: str) -> None:
        self.orders = orders
        self.vendor_id = vendor_id

    def _scoped(self, order: Order) -> VendorOrder:
        lines = tuple(line for line in order.lines if line.vendor_id == self.vendor_id)
        if not lines:
            raise VendorAccessError(
                f"order {order.number} has nothing from vendor {self.vendor_id}"
            )
        return VendorOrder(
            id=order.id,
            number=order.number,
            status=order.status,
            shipping_address=order.shipping_address,
            lines=lines,
            placed_at=order.placed_at,
        )

    async def list(self, *, limit: int = 50) -> builtins.list[VendorOrder]:
        return [
            self._scoped(o) for o in await self.orders.list(vendor_id=self.vendor_id, limit=limit)
        ]

    async def get(self, order_id: str) -> VendorOrder:
        return self._scoped(await self.orders.get(order_id))

    async def fulfilments(self, order_id: str) -> builtins.list[Fulfilment]:
        await self.get(order_id)  # refuses orders without this vendor's lines
        return [f for f in await self.orders.fulfilments(order_id) if f.vendor_id == self.vendor_id]

    async def _own_fulfilment(self, fulfilment_id: str) -> None:
        fulfilment = await self.orders.fulfilment(fulfilment_id)
        if fulfilment.vendor_id != self.vendor_id:
            raise VendorAccessError(
                f"fulfilment {fulfilment_id} does not belong to vendor {self.vendor_id}"
            )

    async def ship(
        self, fulfilment_id: str, *, carrier: str | None = None, tracking_number: str | None = None
    ) -> Fulfilment:
        await self._own_fulfilment(fulfilment_id)
        return await self.orders.ship(
            fulfilment_id, carrier=carrier, tracking_number=tracking_number
        )

    async def deliver(self, fulfilment_id: str) -> Fulfilment:
        await self._own_fulfilment(fulfilment_id)
        return await self.orders.deliver(fulfilment_id)


@dataclass(frozen=True)
class VendorOrder:
    """An order reduced to one vendor's share."""

    id: str
    number: int
    status: OrderStatus
    shipping_address: dict[str, Any]
    lines: tuple[OrderLine, ...]
    placed_at: datetime


@dataclass(frozen=True)
class VendorView:
    """Everything one vendor may see and change: its products, orders and fulfilments."""

    vendor_id: str
    catalog: VendorCatalog
    orders: VendorOrders
