"""The GraphQL storefront on SQLite and PostgreSQL: no N+1, paging, filters, checkout, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from dropkit.commerce.carts import Carts
from dropkit.commerce.catalog import Catalog, ProductPage
from dropkit.commerce.checkout import Checkout
from dropkit.commerce.graphql import Loaders, StorefrontSchema, build_schema, graphql_app
from dropkit.commerce.inventory import Inventory
from dropkit.commerce.orders import Orders
from dropkit.commerce.pricing import Pricing
from dropkit.commerce.schema import COMMERCE_MIGRATIONS
from dropkit.core.database import Database
from dropkit.core.events import EventBus
from dropkit.core.jobs import JobRegistry, Jobs, LedgerOnlyDispatcher
from dropkit.core.migrations import Migrator
from dropkit.core.money import Money
from dropkit.core.schema import CORE_MIGRATIONS

ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Lyon",
    "postalCode": "69001",
    "country": "FR",
}

LIST = """
query List($first: Int!, $after: String, $search: String, $category: String, $tag: String,
           $inStock: Boolean) {
  products(first: $first, after: $after, search: $search, category: $category, tag: $tag,
           inStock: $inStock) {
    edges {
      cursor
      node {
        id slug title tags available inStock
        category { slug name path { slug } }
        priceRange { min { amount currency } max { amount currency } }
        images { url alt }
        variants { sku title options { name value } price { amount currency }
                   compareAtPrice { amount } available inStock }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@dataclass
class Store:
    db: Database
    catalog: Catalog
    inventory: Inventory
    pricing: Pricing
    carts: Carts
    checkout: Checkout
    schema: StorefrontSchema
    vendor_id: str = ""

    async def product(
        self,
        title: str,
        *,
        skus: int = 1,
        images: int = 1,
        stock: int = 5,
        price: str = "10.00",
        status: str = "active",
        **extra: Any,
    ) -> str:
        stem = title.upper().replace(" ", "-")
        product = await self.catalog.create(
            self.vendor_id,
            title,
            status=status,
            variants=[
                {
                    "sku": f"{stem}-{n}",
                    "title": f"Size {n}",
                    "options": {"size": str(n)},
                    "price": Money(price, "EUR") * (n + 1),
                    "stock_on_hand": stock,
                }
                for n in range(skus)
            ],
            images=[
                {"url": f"https://img.test/{stem}/{n}.jpg", "alt": title} for n in range(images)
            ],
            **extra,
        )
        return product.id

    async def query(self, document: str, **variables: Any) -> dict[str, Any]:
        """Execute on the schema directly; errors come back as a client would see them."""
        result = await self.schema.execute(document, variable_values=variables)
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [error.formatted for error in result.errors]
        return out

    async def ok(self, document: str, **variables: Any) -> dict[str, Any]:
        result = await self.query(document, **variables)
        assert "errors" not in result, result["errors"]
        data: dict[str, Any] = result["data"]
        return data

    async def error(self, document: str, **variables: Any) -> dict[str, Any]:
        result = await self.query(document, **variables)
        assert len(result.get("errors", [])) == 1, result
        error: dict[str, Any] = result["errors"][0]
        return error


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async with Database(database_url, pool_size=4) as db:
        await Migrator(db, [*CORE_MIGRATIONS, *COMMERCE_MIGRATIONS]).migrate()
        registry = JobRegistry()
        events = EventBus(db, Jobs(db, registry, dispatcher=LedgerOnlyDispatcher()))
        events.register_jobs(registry)
        catalog = Catalog(db, events)
        inventory = Inventory(db, events)
        pricing = Pricing(db)
        carts = Carts(db, inventory)
        orders = Orders(db, events, inventory)
        checkout = Checkout(
            db, events, carts=carts, inventory=inventory, pricing=pricing, orders=orders
        )
        schema = build_schema(catalog=catalog, inventory=inventory, carts=carts, checkout=checkout)
        store = Store(db, catalog, inventory, pricing, carts, checkout, schema)
        await db.execute(
            "INSERT INTO commerce_vendors (id, name, slug, status, commission_rate, created_at,"
            " updated_at) VALUES ('ven_1', 'Acme', 'acme', 'active', '0.10', 0, 0)"
        )
        store.vendor_id = "ven_1"
        yield store


def nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in data["products"]["edges"]]


async def test_products_come_with_variants_images_stock_and_price_range(store: Store) -> None:
    shoes = await store.catalog.create_category("Shoes")
    await store.catalog.create_category("Boots", parent_id=shoes.id)
    boots = (await store.catalog.category_tree())[0].children[0].category
    await store.product(
        "Hiking Boot", skus=2, images=2, stock=3, category_id=boots.id, tags=["Hike"]
    )
    await store.product("Hidden Draft", status="draft")

    data = await store.ok(LIST, first=10)

    (boot,) = nodes(data)
    assert boot["slug"] == "hiking-boot"
    assert boot["tags"] == ["hike"]
    assert boot["available"] == 6 and boot["inStock"] is True
    assert boot["category"] == {
        "slug": "boots",
        "name": "Boots",
        "path": [{"slug": "shoes"}, {"slug": "boots"}],
    }
    assert boot["priceRange"] == {
        "min": {"amount": "10.00", "currency": "EUR"},
        "max": {"amount": "20.00", "currency": "EUR"},
    }
    assert [i["url"] for i in boot["images"]] == [
        "https://img.test/HIKING-BOOT/0.jpg",
        "https://img.test/HIKING-BOOT/1.jpg",
    ]
    assert boot["variants"][1] == {
        "sku": "HIKING-BOOT-1",
        "title": "Size 1",
        "options": [{"name": "size", "value": "1"}],
        "price": {"amount": "20.00", "currency": "EUR"},
        "compareAtPrice": None,
        "available": 3,
        "inStock": True,
    }
    assert data["products"]["pageInfo"]["hasNextPage"] is False

    single = await store.ok('{ product(slug: "hiking-boot") { title variants { sku } } }')
    assert single["product"]["variants"] == [{"sku": "HIKING-BOOT-0"}, {"sku": "HIKING-BOOT-1"}]
    assert (await store.ok('{ product(slug: "hidden-draft") { id } }'))["product"] is None
    assert (await store.ok('{ product(slug: "nope") { id } }'))["product"] is None
    tree = await store.ok("{ categories { slug children { slug children { slug } } } }")
    assert tree["categories"] == [
        {"slug": "shoes", "children": [{"slug": "boots", "children": []}]}
    ]


async def test_listing_costs_the_same_few_queries_for_5_or_50_products(store: Store) -> None:
    category = await store.catalog.create_category("Everything")
    for n in range(60):
        await store.product(f"Item {n}", skus=3, images=2, category_id=category.id)

    async def statements(first: int) -> int:
        before = store.db.statements
        data = await store.ok(LIST, first=first)
        spent = store.db.statements - before
        products = nodes(data)
        assert len(products) == first
        assert all(len(p["variants"]) == 3 and len(p["images"]) == 2 for p in products)
        assert all(p["available"] == 15 and p["category"]["slug"] == "everything" for p in products)
        return spent

    few, many = await statements(5), await statements(50)
    print(f"statements: first=5 -> {few}, first=50 -> {many}")
    assert few == many
    assert many <= 8


async def test_each_loader_fetches_a_whole_batch_in_one_call(store: Store) -> None:
    shelf = await store.catalog.create_category("Shelf")
    ids = [
        await store.product(f"Box {n}", skus=2, images=2, category_id=shelf.id) for n in range(4)
    ]
    variant_ids = [
        row["id"] for row in await store.db.fetch("SELECT id FROM commerce_variants ORDER BY id")
    ]
    loaders = Loaders(catalog=store.catalog, inventory=store.inventory)

    before = store.db.statements
    variants, images = await asyncio.gather(
        loaders.variants.load_many(ids), loaders.images.load_many(ids)
    )
    assert store.db.statements - before == 2
    assert [len(v) for v in variants] == [2, 2, 2, 2] and [len(i) for i in images] == [2] * 4

    before = store.db.statements
    levels = await loaders.stock.load_many([*variant_ids, "var_missing"])
    assert store.db.statements - before == 2  # Inventory.levels: own stock, supplier offers
    assert [level.available if level else None for level in levels] == [5] * 8 + [None]

    before = store.db.statements
    found = await loaders.categories.load_many([shelf.id, "cat_missing", shelf.id])
    assert [c.slug if c else None for c in found] == ["shelf", None, "shelf"]
    assert (await loaders.category_index.load(None)).path(shelf.id) == [found[0]]
    assert store.db.statements - before == 1

    before = store.db.statements
    await loaders.variants.load(ids[0])  # cached for the rest of the request
    assert store.db.statements == before


async def test_cursor_pagination_returns_every_product_exactly_once(store: Store) -> None:
    for n in range(23):
        await store.product(f"Thing {n}", stock=n % 2)  # even ones are sold out
    await store.product("Not Listed", status="draft")

    async def walk(page_size: int, **filters: Any) -> list[str]:
        seen: list[str] = []
        after = None
        for _ in range(50):
            data = await store.ok(LIST, first=page_size, after=after, **filters)
            seen += [p["slug"] for p in nodes(data)]
            info = data["products"]["pageInfo"]
            if not info["hasNextPage"]:
                return seen
            after = info["endCursor"]
        raise AssertionError("pagination never ended")

    everything = await walk(5)
    assert len(everything) == 23 == len(set(everything))
    assert everything == [f"thing-{n}" for n in range(23)]
    assert await walk(23) == everything
    assert await walk(7, inStock=True) == [f"thing-{n}" for n in range(1, 23, 2)]
    assert await walk(4, inStock=False) == [f"thing-{n}" for n in range(0, 23, 2)]

    # Any edge's cursor resumes right after that edge.
    data = await store.ok(LIST, first=6)
    third = data["products"]["edges"][2]["cursor"]
    resumed = await store.ok(LIST, first=2, after=third)
    assert [p["slug"] for p in nodes(resumed)] == ["thing-3", "thing-4"]


async def test_search_tag_and_category_filters(store: Store) -> None:
    home = await store.catalog.create_category("Home")
    lamps = await store.catalog.create_category("Lamps", parent_id=home.id)
    garden = await store.catalog.create_category("Garden")
    await store.product("Desk Lamp", category_id=lamps.id, tags=["light", "office"])
    await store.product(
        "Floor Lamp", category_id=lamps.id, tags=["light"], description="Tall and bright"
    )
    await store.product("Rug", category_id=home.id, tags=["textile"])
    await store.product("Hose", category_id=garden.id, tags=["water"])

    async def slugs(**filters: Any) -> list[str]:
        return [p["slug"] for p in nodes(await store.ok(LIST, first=20, **filters))]

    assert await slugs(search="lamp") == ["desk-lamp", "floor-lamp"]
    assert await slugs(search="BRIGHT") == ["floor-lamp"]
    assert await slugs(search="rug-0") == ["rug"]  # an exact SKU
    assert await slugs(tag="Light") == ["desk-lamp", "floor-lamp"]
    assert await slugs(tag="office") == ["desk-lamp"]
    assert await slugs(category="home") == ["desk-lamp", "floor-lamp", "rug"]
    assert await slugs(category="lamps", tag="office") == ["desk-lamp"]
    assert await slugs(category="garden", search="lamp") == []
    error = await store.error(LIST, first=5, category="nowhere")
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert "nowhere" in error["message"]


CART_CREATE = 'mutation { cartCreate(currency: "EUR") { id currency subtotal { amount } } }'
SET_QTY = """
mutation Set($cart: ID!, $sku: String!, $qty: Int!) {
  cartSetQuantity(cartId: $cart, sku: $sku, quantity: $qty) {
    id lines { sku title quantity unitPrice { amount } lineTotal { amount } }
    subtotal { amount currency } couponCode checkedOut
  }
}
"""
CHECKOUT = """
mutation Pay($cart: ID!, $email: String!, $address: AddressInput!, $method: ID, $key: String) {
  checkout(cartId: $cart, email: $email, shippingAddress: $address, shippingMethodId: $method,
           idempotencyKey: $key) {
    id number status currency
    subtotal { amount } discount { amount } tax { amount } shipping { amount } total { amount }
    lines { sku quantity unitPrice { amount } lineTotal { amount } }
  }
}
"""


async def test_cart_and_checkout_mutations_place_an_order(store: Store) -> None:
    await store.product("Lamp", skus=2, stock=10, price="20.00")
    await store.pricing.set_tax_rate("FR", "0.20")
    flat = await store.pricing.create_shipping_method("Post", "flat", Money("5.00", "EUR"))
    await store.pricing.create_discount("SAVE10", "percentage", 10)

    cart = (await store.ok(CART_CREATE))["cartCreate"]
    assert cart["currency"] == "EUR" and cart["subtotal"] == {"amount": "0.00"}
    await store.ok(SET_QTY, cart=cart["id"], sku="LAMP-0", qty=2)
    updated = (await store.ok(SET_QTY, cart=cart["id"], sku="LAMP-1", qty=1))["cartSetQuantity"]
    assert [(line["sku"], line["quantity"]) for line in updated["lines"]] == [
        ("LAMP-0", 2),
        ("LAMP-1", 1),
    ]
    assert updated["lines"][0]["title"] == "Lamp Size 0"
    assert updated["subtotal"] == {"amount": "80.00", "currency": "EUR"}
    coupon = await store.ok(
        'mutation($c: ID!) { cartApplyCoupon(cartId: $c, code: "save10") { couponCode } }',
        c=cart["id"],
    )
    assert coupon["cartApplyCoupon"]["couponCode"] == "SAVE10"

    variables = {
        "cart": cart["id"],
        "email": "Ada@Example.com",
        "address": ADDRESS,
        "method": flat.id,
        "key": "checkout-1",
    }
    order = (await store.ok(CHECKOUT, **variables))["checkout"]
    assert order["status"] == "PENDING_PAYMENT"
    assert order["number"] >= 1001
    assert order["subtotal"] == {"amount": "80.00"}
    assert order["discount"] == {"amount": "8.00"}
    assert order["tax"] == {"amount": "14.40"}
    assert order["shipping"] == {"amount": "5.00"}
    assert order["total"] == {"amount": "91.40"}
    assert {line["sku"]: line["quantity"] for line in order["lines"]} == {"LAMP-0": 2, "LAMP-1": 1}

    again = (await store.ok(CHECKOUT, **variables))["checkout"]
    assert again["id"] == order["id"]  # the same key never orders twice
    stock = await store.ok('{ product(slug: "lamp") { variants { sku available } } }')
    assert stock["product"]["variants"] == [
        {"sku": "LAMP-0", "available": 8},
        {"sku": "LAMP-1", "available": 9},
    ]
    closed = await store.ok("query($id: ID!) { cart(id: $id) { checkedOut } }", id=cart["id"])
    assert closed["cart"] == {"checkedOut": True}
    error = await store.error(SET_QTY, cart=cart["id"], sku="LAMP-0", qty=1)
    assert error["extensions"]["code"] == "CART_ERROR"


async def test_out_of_stock_checkout_is_a_typed_error(store: Store) -> None:
    await store.product("Rare", stock=1)
    cart = (await store.ok(CART_CREATE))["cartCreate"]
    await store.ok(SET_QTY, cart=cart["id"], sku="RARE-0", qty=3)

    result = await store.query(CHECKOUT, cart=cart["id"], email="a@b.io", address=ADDRESS)

    assert result["data"] is None
    (error,) = result["errors"]
    assert error["extensions"] == {
        "code": "OUT_OF_STOCK",
        "sku": "RARE-0",
        "requested": 3,
        "available": 1,
    }
    assert error["message"] == "RARE-0: 3 requested, 1 available"
    assert error["path"] == ["checkout"]
    assert await store.db.fetchval("SELECT COUNT(*) FROM commerce_orders") == 0


async def test_bad_input_gets_a_typed_error_with_a_clear_message(store: Store) -> None:
    await store.product("Cup")
    cart = (await store.ok(CART_CREATE))["cartCreate"]
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (LIST, {"first": 0}, "BAD_INPUT", "first must be between 1 and 100"),
        (LIST, {"first": 101}, "BAD_INPUT", "first must be between 1 and 100"),
        (LIST, {"first": 5, "after": "garbage!"}, "BAD_INPUT", "malformed cursor"),
        (SET_QTY, {"cart": cart["id"], "sku": "CUP-0", "qty": -1}, "BAD_INPUT", "quantity"),
        (SET_QTY, {"cart": cart["id"], "sku": "NOPE", "qty": 1}, "UNKNOWN_SKU", "NOPE"),
        (SET_QTY, {"cart": "cart_missing", "sku": "CUP-0", "qty": 1}, "NOT_FOUND", "no cart"),
        ('mutation { cartCreate(currency: "XYZ") { id } }', {}, "BAD_INPUT", "XYZ"),
        (
            'mutation($c: ID!) { cartApplyCoupon(cartId: $c, code: "NOPE") { id } }',
            {"c": cart["id"]},
            "INVALID_COUPON",
            "unknown discount code",
        ),
        (
            CHECKOUT,
            {"cart": cart["id"], "email": "a@b.io", "address": ADDRESS},
            "CART_ERROR",
            "empty",
        ),
        (
            CHECKOUT,
            {"cart": cart["id"], "email": "a@b.io", "address": {**ADDRESS, "country": "France"}},
            "BAD_INPUT",
            "country",
        ),
        (
            CHECKOUT,
            {"cart": cart["id"], "email": "not-an-email", "address": ADDRESS},
            "BAD_INPUT",
            "email",
        ),
        (
            "{ products(first: 1) { edges { node { nope } } } }",
            {},
            "GRAPHQL_VALIDATION_FAILED",
            "nope",
        ),
        (LIST, {"first": "five"}, "GRAPHQL_VALIDATION_FAILED", "Int"),
    ]
    for document, variables, code, words in cases:
        error = await store.error(document, **variables)
        assert error["extensions"]["code"] == code, (variables, error)
        assert words in error["message"], error


async def test_unexpected_failures_are_masked(store: Store) -> None:
    class BrokenCatalog(Catalog):
        async def list(self, **kwargs: Any) -> ProductPage:
            raise RuntimeError("password=hunter2 at db.internal")

    broken = build_schema(
        catalog=BrokenCatalog(store.db, EventBus(store.db, Jobs(store.db, JobRegistry()))),
        inventory=store.inventory,
        carts=store.carts,
        checkout=store.checkout,
    )
    result = await broken.execute("{ products { edges { cursor } } }")
    assert result.errors is not None
    (error,) = [e.formatted for e in result.errors]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "hunter2" not in json.dumps(error)


async def test_too_deep_or_too_costly_queries_are_refused_before_running(store: Store) -> None:
    nested = "{ categories { children { children { children { children { children {"
    nested += " children { children { children { slug } } } } } } } } } }"
    before = store.db.statements
    error = await store.error(nested)
    assert "exceeds maximum operation depth of 8" in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

    aliases = " ".join(
        f"p{n}: products(first: 100) {{ edges {{ node {{ variants {{ sku }} }} }} }}"
        for n in range(30)
    )
    error = await store.error(f"{{ {aliases} }}")
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert "exceeds the limit of 10000" in error["message"]
    assert store.db.statements == before  # refused at validation: nothing ran

    # A page size from a variable is costed at the maximum (validation cannot see variables).
    small = build_schema(
        catalog=store.catalog,
        inventory=store.inventory,
        carts=store.carts,
        checkout=store.checkout,
        max_cost=150,
    )
    literal = "{ products(first: 10) { edges { node { id variants { sku } } } } }"
    assert (await small.execute(literal)).errors is None
    variable = "query($n: Int!) { products(first: $n) { edges { node { id } } } }"
    refused = await small.execute(variable, variable_values={"n": 10})
    assert refused.errors is not None
    assert refused.errors[0].extensions == {"code": "QUERY_TOO_COSTLY", "cost": 301}
    tiny = build_schema(
        catalog=store.catalog,
        inventory=store.inventory,
        carts=store.carts,
        checkout=store.checkout,
        max_cost=60,
    )
    defaulted = await tiny.execute("{ products { edges { node { id } } } }")  # first: 20
    assert defaulted.errors is not None
    assert defaulted.errors[0].extensions == {"code": "QUERY_TOO_COSTLY", "cost": 61}
    introspection = await store.schema.execute(
        "{ __schema { types { name fields { name type { name ofType { name ofType { name"
        " ofType { name } } } } } } } }"
    )
    assert introspection.errors is None


async def test_the_asgi_app_mounts_in_starlette_and_answers_over_http(store: Store) -> None:
    await store.product("Mug", skus=2, stock=4)
    app = Starlette(routes=[Mount("/graphql", graphql_app(store.schema))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:

        async def post(query: str, **variables: Any) -> httpx.Response:
            return await client.post("/graphql/", json={"query": query, "variables": variables})

        ok = await post("{ products(first: 5) { edges { node { slug available } } } }")
        assert ok.status_code == 200
        assert ok.json() == {
            "data": {"products": {"edges": [{"node": {"slug": "mug", "available": 8}}]}}
        }

        bad = await post(LIST, first=1000)
        assert bad.status_code == 200
        assert bad.json()["data"] is None
        assert bad.json()["errors"][0]["extensions"] == {"code": "BAD_INPUT"}

        cart = await post(CART_CREATE)
        cart_id = cart.json()["data"]["cartCreate"]["id"]
        missing = await post(SET_QTY, cart=cart_id, sku="MUG-0", qty=99)
        assert missing.status_code == 200
        lines = missing.json()["data"]["cartSetQuantity"]["lines"]
        assert lines[0]["quantity"] == 99  # a cart only records intent
        refused = await post(CHECKOUT, cart=cart_id, email="m@x.io", address=ADDRESS)
        assert refused.status_code == 200
        assert refused.json()["errors"][0]["extensions"]["code"] == "OUT_OF_STOCK"

        syntax = await post("{ products(first: 5) { edges ")
        assert syntax.status_code == 200
        assert syntax.headers["content-type"].startswith("application/json")
        assert syntax.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "Syntax Error" in syntax.json()["errors"][0]["message"]

        # Two requests never share loaders: stock read in the second one is fresh.
        await store.catalog.adjust_stock(
            await store.db.fetchval("SELECT id FROM commerce_variants WHERE sku = 'MUG-0'"), 6
        )
        fresh = await post("{ products(first: 5) { edges { node { available } } } }")
        assert fresh.json()["data"]["products"]["edges"][0]["node"]["available"] == 14


def test_public_names_are_exactly_all() -> None:
    import types

    import dropkit.commerce.graphql as package

    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.discard("annotations")
    assert public == set(package.__all__)
