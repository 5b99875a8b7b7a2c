"""The storefront's GraphQL types, built from the commerce domain objects.

Fields that need more rows than their parent carries (variants, images, stock, category) resolve
through the request's loaders, so a list of N products never costs N queries. Money is a decimal
string beside its currency (never a float: a GraphQL ``Float`` would round prices).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeAlias

import strawberry
from strawberry.types.field import StrawberryField

from dropkit.commerce import carts as cart_domain
from dropkit.commerce import catalog as catalog_domain
from dropkit.commerce import orders as order_domain
from dropkit.commerce.graphql.context import StorefrontContext
from dropkit.core.money import Money as CoreMoney

__all__ = [
    "AddressInput",
    "Attribute",
    "Cart",
    "CartLine",
    "Category",
    "Image",
    "Info",
    "Money",
    "Order",
    "OrderLine",
    "OrderStatus",
    "PageInfo",
    "PriceRange",
    "Product",
    "ProductConnection",
    "ProductEdge",
    "ProductStatus",
    "SelectedOption",
    "Variant",
    "described",
]

Info: TypeAlias = strawberry.Info[StorefrontContext, None]


def described(text: str) -> Callable[[Callable[..., Any]], StrawberryField]:
    """``@strawberry.field(description=...)``, typed (strawberry's own overload returns Any)."""

    def decorate(resolver: Callable[..., Any]) -> StrawberryField:
        return strawberry.field(resolver, description=text)

    return decorate


@strawberry.type(description="An exact amount (decimal string) in an ISO 4217 currency.")
class Money:
    amount: str
    currency: str

    @classmethod
    def of(cls, value: CoreMoney) -> Money:
        return cls(amount=format(value.amount, "f"), currency=value.currency)


@strawberry.type(description="Cheapest and dearest variant price of a product.")
class PriceRange:
    min: Money
    max: Money


@strawberry.enum
class ProductStatus(enum.Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


@strawberry.enum
class OrderStatus(enum.Enum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLING = "fulfilling"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


@strawberry.type(description="One option a variant is chosen by, e.g. size = M.")
class SelectedOption:
    name: str
    value: str


@strawberry.type(description="A free-form product attribute, e.g. material = cotton.")
class Attribute:
    name: str
    value: str


@strawberry.type
class Image:
    id: strawberry.ID
    url: str
    alt: str
    position: int

    @classmethod
    def of(cls, image: catalog_domain.Image) -> Image:
        return cls(
            id=strawberry.ID(image.id), url=image.url, alt=image.alt, position=image.position
        )


async def _available(info: Info, variant_id: str) -> int:
    level = await info.context.loaders.stock.load(variant_id)
    return 0 if level is None else level.available


async def _product_available(info: Info, product_id: str) -> int:
    loaders = info.context.loaders
    variants = await loaders.variants.load(product_id)
    levels = await loaders.stock.load_many([v.id for v in variants])
    return sum(level.available for level in levels if level is not None)


@strawberry.type
class Variant:
    id: strawberry.ID
    sku: str
    title: str
    options: list[SelectedOption]
    price: Money
    compare_at_price: Money | None

    @classmethod
    def of(cls, variant: catalog_domain.Variant) -> Variant:
        return cls(
            id=strawberry.ID(variant.id),
            sku=variant.sku,
            title=variant.title,
            options=[SelectedOption(name=k, value=v) for k, v in variant.options.items()],
            price=Money.of(variant.price),
            compare_at_price=None if variant.compare_at is None else Money.of(variant.compare_at),
        )

    @described("Units that can be sold now: own stock plus fresh supplier stock.")
    async def available(self, info: Info) -> int:
        return await _available(info, self.id)

    @strawberry.field
    async def in_stock(self, info: Info) -> bool:
        return await _available(info, self.id) > 0


@strawberry.type
class Category:
    id: strawberry.ID
    slug: str
    name: str
    parent_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, category: catalog_domain.Category) -> Category:
        return cls(
            id=strawberry.ID(category.id),
            slug=category.slug,
            name=category.name,
            parent_id=category.parent_id,
        )

    @described("Sub-categories in menu order.")
    async def children(self, info: Info) -> list[Category]:
        index = await info.context.loaders.category_index.load(None)
        return [Category.of(child) for child in index.children.get(self.id, [])]

    @described("Root first, this category last (breadcrumbs).")
    async def path(self, info: Info) -> list[Category]:
        index = await info.context.loaders.category_index.load(None)
        return [Category.of(item) for item in index.path(self.id)]


@strawberry.type
class Product:
    id: strawberry.ID
    slug: str
    title: str
    description: str
    tags: list[str]
    attributes: list[Attribute]
    status: ProductStatus
    vendor_id: strawberry.ID
    category_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, product: catalog_domain.Product) -> Product:
        return cls(
            id=strawberry.ID(product.id),
            slug=product.slug,
            title=product.title,
            description=product.description,
            tags=list(product.tags),
            attributes=[Attribute(name=k, value=v) for k, v in product.attributes.items()],
            status=ProductStatus(product.status.value),
            vendor_id=strawberry.ID(product.vendor_id),
            category_id=product.category_id,
        )

    @strawberry.field
    async def category(self, info: Info) -> Category | None:
        if self.category_id is None:
            return None
        found = await info.context.loaders.categories.load(self.category_id)
        return None if found is None else Category.of(found)

    @strawberry.field
    async def images(self, info: Info) -> list[Image]:
        return [Image.of(image) for image in await info.context.loaders.images.load(self.id)]

    @strawberry.field
    async def variants(self, info: Info) -> list[Variant]:
        return [Variant.of(v) for v in await info.context.loaders.variants.load(self.id)]

    @described("Cheapest and dearest variant; null for a product without any.")
    async def price_range(self, info: Info) -> PriceRange | None:
        prices = [v.price for v in await info.context.loaders.variants.load(self.id)]
        if not prices:
            return None
        return PriceRange(min=Money.of(min(prices)), max=Money.of(max(prices)))

    @described("Units of all variants that can be sold now.")
    async def available(self, info: Info) -> int:
        return await _product_available(info, self.id)

    @strawberry.field
    async def in_stock(self, info: Info) -> bool:
        return await _product_available(info, self.id) > 0


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of products; pass pageInfo.endCursor as `after` for more.")
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo


@strawberry.type
class CartLine:
    sku: str
    title: str
    quantity: int
    unit_price: Money
    line_total: Money


@strawberry.type
class Cart:
    id: strawberry.ID
    currency: str
    lines: list[CartLine]
    subtotal: Money
    coupon_code: str | None
    checked_out: bool

    @classmethod
    def of(cls, cart: cart_domain.Cart) -> Cart:
        return cls(
            id=strawberry.ID(cart.id),
            currency=cart.currency,
            lines=[
                CartLine(
                    sku=line.sku,
                    title=line.title,
                    quantity=line.quantity,
                    unit_price=Money.of(line.unit_price),
                    line_total=Money.of(line.line_total),
                )
                for line in cart.lines
            ],
            subtotal=Money.of(cart.subtotal),
            coupon_code=cart.coupon_code,
            checked_out=cart.state is cart_domain.CartState.CHECKED_OUT,
        )


@strawberry.type
class OrderLine:
    sku: str
    title: str
    quantity: int
    unit_price: Money
    line_total: Money


@strawberry.type
class Order:
    id: strawberry.ID
    number: int
    status: OrderStatus
    currency: str
    subtotal: Money
    discount: Money
    tax: Money
    shipping: Money
    total: Money
    lines: list[OrderLine]

    @classmethod
    def of(cls, order: order_domain.Order) -> Order:
        return cls(
            id=strawberry.ID(order.id),
            number=order.number,
            status=OrderStatus(order.status.value),
            currency=order.currency,
            subtotal=Money.of(order.subtotal),
            discount=Money.of(order.discount),
            tax=Money.of(order.tax),
            shipping=Money.of(order.shipping),
            total=Money.of(order.total),
            lines=[
                OrderLine(
                    sku=line.sku,
                    title=line.title,
                    quantity=line.quantity,
                    unit_price=Money.of(line.unit_price),
                    line_total=Money.of(line.line_total),
                )
                for line in order.lines
            ],
        )


@strawberry.input(description="Where the parcel goes; country is an ISO 3166 alpha-2 code.")
class AddressInput:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str = ""
    region: str = ""
