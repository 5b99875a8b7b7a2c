"""The storefront schema: catalog browsing, carts and checkout over the commerce services.

``build_schema(...)`` returns a :class:`StorefrontSchema` (a ``strawberry.Schema``) that runs on
its own (``await schema.execute(query)``) or behind any ASGI server (:func:`graphql_app`). Only
active products are visible. Queries are bounded before they run: depth, a static cost (page
sizes multiply) and a token count; every error leaves with an ``extensions.code``.

Pagination is keyset-based through :meth:`Catalog.list`. An edge's cursor is the catalog cursor
of the page it came from plus its position in that page, so any edge can resume the listing and
a product inserted meanwhile never shifts one already seen.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext
from strawberry.types.field import StrawberryField

from dropkit.commerce.carts import Carts
from dropkit.commerce.catalog import Catalog, ProductStatus
from dropkit.commerce.catalog import Product as CatalogProduct
from dropkit.commerce.checkout import Address, Checkout
from dropkit.commerce.graphql.context import Services, StorefrontContext
from dropkit.commerce.graphql.errors import StorefrontErrors, is_unexpected
from dropkit.commerce.graphql.limits import cost_limit_rule
from dropkit.commerce.graphql.loaders import Loaders
from dropkit.commerce.graphql.types import (
    AddressInput,
    Cart,
    Category,
    Info,
    Order,
    PageInfo,
    Product,
    ProductConnection,
    ProductEdge,
    described,
)
from dropkit.commerce.inventory import Inventory
from dropkit.core.errors import NotFoundError, ValidationError

__all__ = ["MAX_PAGE_SIZE", "Mutation", "Query", "StorefrontSchema", "build_schema"]

logger = logging.getLogger("dropkit.commerce.graphql")

MAX_PAGE_SIZE = 100
"""Largest ``first`` a client may ask for."""

_MAX_SCAN_PAGES = 5
"""Catalog pages one ``inStock`` query reads at most before returning what it found so far."""


# -- cursors --------------------------------------------------------------------------------------


def _encode_cursor(base: str | None, position: int) -> str:
    raw = json.dumps([base, position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        base, position = json.loads(raw)
        if base is not None and not isinstance(base, str):
            raise TypeError
        if isinstance(position, bool) or not isinstance(position, int):
            raise TypeError
        if not 0 <= position <= Catalog.MAX_PAGE:
            raise ValueError
    except (binascii.Error, ValueError, TypeError):
        raise ValidationError(f"malformed cursor {cursor!r}") from None
    return base, position


def mutation(text: str) -> Callable[[Callable[..., Any]], StrawberryField]:
    """``@strawberry.mutation(description=...)``, typed (strawberry's overload returns Any)."""

    def decorate(resolver: Callable[..., Any]) -> StrawberryField:
        return strawberry.mutation(resolver, description=text)

    return decorate


# -- resolvers ------------------------------------------------------------------------------------


async def _list_products(
    info: Info,
    *,
    first: int,
    after: str | None,
    search: str | None,
    category: str | None,
    tag: str | None,
    in_stock: bool | None,
) -> ProductConnection:
    if isinstance(first, bool) or not 1 <= first <= MAX_PAGE_SIZE:
        raise ValidationError(f"first must be between 1 and {MAX_PAGE_SIZE}, not {first}")
    services, loaders = info.context.services, info.context.loaders
    category_id = None
    if category is not None:
        index = await loaders.category_index.load(None)
        found = index.by_slug.get(category)
        if found is None:
            raise NotFoundError(f"no category with slug {category!r}")
        category_id = found.id
    base, skip = _decode_cursor(after) if after else (None, 0)
    edges: list[ProductEdge] = []
    has_next = True
    for _page in range(_MAX_SCAN_PAGES):
        page = await services.catalog.list(
            status=ProductStatus.ACTIVE,
            category_id=category_id,
            search=search,
            tag=tag,
            limit=min(Catalog.MAX_PAGE, skip + first - len(edges)),
            cursor=base,
        )
        loaders.prime_products(page.items)
        wanted = {p.id for p in page.items}
        if in_stock is not None:
            stocked = await _in_stock(loaders, page.items)
            wanted = stocked if in_stock else wanted - stocked
        for position, product in enumerate(page.items, start=1):
            if position <= skip or product.id not in wanted:
                continue
            edges.append(
                ProductEdge(cursor=_encode_cursor(base, position), node=Product.of(product))
            )
            if len(edges) == first:
                has_next = position < len(page.items) or page.next_cursor is not None
                break
        if len(edges) == first:
            break
        if page.next_cursor is None:
            has_next = False
            break
        base, skip = page.next_cursor, 0
    else:
        # Scan budget spent: resume from where the scan stopped, even without an edge there.
        return ProductConnection(
            edges=edges, page_info=PageInfo(has_next_page=True, end_cursor=_encode_cursor(base, 0))
        )
    end = edges[-1].cursor if edges else None
    return ProductConnection(
        edges=edges, page_info=PageInfo(has_next_page=has_next, end_cursor=end)
    )


async def _in_stock(loaders: Loaders, products: Sequence[CatalogProduct]) -> set[str]:
    """Ids of the products with a unit to sell (two batched queries for the whole page)."""
    variants = await loaders.variants.load_many([p.id for p in products])
    ids = [v.id for vs in variants for v in vs]
    levels = await loaders.stock.load_many(ids)
    free = {vid for vid, level in zip(ids, levels, strict=True) if level and level.available > 0}
    return {
        product.id
        for product, vs in zip(products, variants, strict=True)
        if any(v.id in free for v in vs)
    }


@strawberry.type
class Query:
    @described("Active products in creation order, filtered, a page at a time.")
    async def products(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 20,
        after: str | None = None,
        search: str | None = None,
        category: Annotated[
            str | None,
            strawberry.argument(description="A category slug; sub-categories are included."),
        ] = None,
        tag: str | None = None,
        in_stock: bool | None = None,
    ) -> ProductConnection:
        return await _list_products(
            info,
            first=first,
            after=after,
            search=search,
            category=category,
            tag=tag,
            in_stock=in_stock,
        )

    @described("An active product by slug, or null.")
    async def product(self, info: Info, slug: str) -> Product | None:
        try:
            product = await info.context.services.catalog.get_by_slug(slug)
        except NotFoundError:
            return None
        if product.status is not ProductStatus.ACTIVE:
            return None  # drafts and archived products do not exist for shoppers
        info.context.loaders.prime_products([product])
        return Product.of(product)

    @described("Top-level categories; walk down with `children`.")
    async def categories(self, info: Info) -> list[Category]:
        index = await info.context.loaders.category_index.load(None)
        return [Category.of(root) for root in index.children.get(None, [])]

    @described("A cart by id, or null.")
    async def cart(self, info: Info, id: strawberry.ID) -> Cart | None:
        try:
            return Cart.of(await info.context.services.carts.get(id))
        except NotFoundError:
            return None


@strawberry.type
class Mutation:
    @mutation("An empty cart priced in `currency` (ISO 4217).")
    async def cart_create(self, info: Info, currency: str) -> Cart:
        return Cart.of(await info.context.services.carts.create(currency))

    @mutation("Set a line's quantity; 0 removes the line.")
    async def cart_set_quantity(
        self, info: Info, cart_id: strawberry.ID, sku: str, quantity: int
    ) -> Cart:
        return Cart.of(await info.context.services.carts.set_quantity(cart_id, sku, quantity))

    @mutation("Attach a discount code, or remove it with null.")
    async def cart_apply_coupon(self, info: Info, cart_id: strawberry.ID, code: str | None) -> Cart:
        return Cart.of(await info.context.services.carts.apply_coupon(cart_id, code))

    @mutation("Turn the cart into an order; the same idempotency key never orders twice.")
    async def checkout(
        self,
        info: Info,
        cart_id: strawberry.ID,
        email: str,
        shipping_address: AddressInput,
        shipping_method_id: strawberry.ID | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        services = info.context.services
        address = Address(
            name=shipping_address.name,
            line1=shipping_address.line1,
            line2=shipping_address.line2,
            city=shipping_address.city,
            region=shipping_address.region,
            postal_code=shipping_address.postal_code,
            country=shipping_address.country,
        )
        order = await services.checkout(
            cart_id,
            email=email,
            shipping_address=address,
            shipping_method_id=shipping_method_id,
            payment_gateway=services.payment_gateway,
            idempotency_key=idempotency_key,
        )
        return Order.of(order)


# -- the schema -----------------------------------------------------------------------------------


class _StorefrontContextExtension(SchemaExtension):
    """Give an operation run without a storefront context (``schema.execute``) a fresh one."""

    def on_operation(self) -> Iterator[None]:
        execution = self.execution_context
        schema = execution.schema
        if not isinstance(execution.context, StorefrontContext) and isinstance(
            schema, StorefrontSchema
        ):
            given = execution.context if isinstance(execution.context, dict) else {}
            execution.context = schema.services.context(
                request=given.get("request"), response=given.get("response")
            )
        yield


class StorefrontSchema(strawberry.Schema):
    """A ``strawberry.Schema`` that carries the services its resolvers run against."""

    def __init__(
        self,
        *,
        services: Services,
        extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]],
    ) -> None:
        super().__init__(query=Query, mutation=Mutation, extensions=extensions)
        self.services = services

    def context(self, *, request: Any = None, response: Any = None) -> StorefrontContext:
        """A fresh per-request context (new loaders) for ``execute(..., context_value=...)``."""
        return self.services.context(request=request, response=response)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log bugs with their traceback; a customer's bad input is not a server error."""
        for error in errors:
            if is_unexpected(error):
                logger.error(
                    "storefront GraphQL error at %s", error.path, exc_info=error.original_error
                )
            else:
                logger.debug("storefront GraphQL error: %s", error.message)


def build_schema(
    *,
    catalog: Catalog,
    inventory: Inventory,
    carts: Carts,
    checkout: Checkout,
    payment_gateway: str = "manual",
    max_depth: int = 8,
    max_cost: int = 10_000,
    max_tokens: int = 2_000,
) -> StorefrontSchema:
    """The storefront schema over these services.

    ``payment_gateway`` is the gateway checkout authorizes with (the shop decides, not the
    client). ``max_depth`` bounds nesting, ``max_cost`` the number of field resolutions (see
    :mod:`~dropkit.commerce.graphql.limits`), ``max_tokens`` the size of the document.
    """
    services = Services(
        catalog=catalog,
        inventory=inventory,
        carts=carts,
        checkout=checkout,
        payment_gateway=payment_gateway,
    )
    cost_rule = cost_limit_rule(max_cost, max_page=MAX_PAGE_SIZE)
    return StorefrontSchema(
        services=services,
        # Factories, not instances: every operation gets extensions of its own (they keep state).
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=max_tokens),
            lambda: QueryDepthLimiter(max_depth=max_depth),
            lambda: AddValidationRules([cost_rule]),
            _StorefrontContextExtension,
            StorefrontErrors,
        ],
    )
