"""The catalog on SQLite and PostgreSQL: atomic creation, typed refusals, slugs, pages, stock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from dropkit.commerce.catalog import (
    MAX_STOCK,
    Catalog,
    ImageInput,
    ProductStatus,
    VariantInput,
    slugify,
)
from dropkit.commerce.errors import (
    InvalidQuantityError,
    OutOfStockError,
    UnknownSkuError,
    VendorAccessError,
)
from dropkit.commerce.vendor_view import VendorCatalog
from dropkit.commerce.vendors import Vendors
from dropkit.core.database import Database
from dropkit.core.errors import (
    CommerceError,
    ConflictError,
    CurrencyMismatchError,
    DropkitError,
    InvalidAmountError,
    NotFoundError,
    ValidationError,
)
from dropkit.core.events import EventBus, StoredEvent
from dropkit.core.money import Money

Snapshot = Callable[[], Awaitable[dict[str, int]]]


def variant(sku: str, price: Any = "19.90 EUR", **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "price": price, **extra}


@pytest.fixture
async def vendor_id(vendors: Vendors) -> str:
    return (await vendors.create("Acme Goods", commission_rate="0.15")).id


async def test_create_writes_product_variants_images_and_event_together(
    catalog: Catalog, bus: EventBus, vendor_id: str, store_db: Database
) -> None:
    product = await catalog.create(
        vendor_id,
        "Blue Tee",
        description="Soft cotton.",
        attributes={"material": "cotton"},
        tags=["Summer", "summer", "tees"],
        status="active",
        variants=[
            VariantInput(
                sku="TEE-BLUE-S",
                options={"size": "S"},
                price=Money("19.90", "EUR"),
                compare_at=Money("24.90", "EUR"),
                weight_grams=180,
                stock_on_hand=5,
            ),
            variant("TEE-BLUE-M", options={"size": "M"}, stock_on_hand=3),
        ],
        images=[
            ImageInput(url="https://cdn.example.com/tee.jpg", alt="Tee"),
            {"url": "http://x.io/b"},
        ],
    )
    assert product.id.startswith("prd_") and product.slug == "blue-tee"
    assert product.status is ProductStatus.ACTIVE
    assert product.tags == ("summer", "tees")
    assert [v.sku for v in product.variants] == ["TEE-BLUE-S", "TEE-BLUE-M"]
    assert all(v.id.startswith("var_") for v in product.variants)
    assert product.variants[0].compare_at == Money("24.90", "EUR")
    assert product.variants[1].price == Money("19.90", "EUR")
    assert product.currency == "EUR"
    assert [i.position for i in product.images] == [0, 1]
    assert product.images[0].id.startswith("img_")
    assert product.created_at.tzinfo is not None

    (event,) = await bus.list(type="product.created")
    assert event.subject == product.id
    assert event.payload == {
        "product_id": product.id,
        "vendor_id": vendor_id,
        "slug": "blue-tee",
        "title": "Blue Tee",
    }
    assert (
        await store_db.fetchval(
            "SELECT COUNT(*) FROM dropkit_jobs WHERE function = 'dropkit.events.dispatch'"
        )
        == 1
    )
    assert (await catalog.get(product.id)) == product
    assert (await catalog.get_by_slug("blue-tee")).id == product.id
    assert (await catalog.get_variant_by_sku("TEE-BLUE-M")).stock_on_hand == 3


async def test_a_failure_late_in_create_rolls_everything_back(
    store_db: Database, bus: EventBus, vendor_id: str, snapshot: Snapshot
) -> None:
    class BrokenBus(EventBus):
        async def publish(self, event: Any) -> StoredEvent:
            raise RuntimeError("outbox down")

    broken = Catalog(store_db, BrokenBus(store_db, bus._jobs))
    before = await snapshot()
    with pytest.raises(RuntimeError, match="outbox down"):
        await broken.create(
            vendor_id, "Doomed", variants=[variant("DOOM-1")], images=[{"url": "https://a.b/c"}]
        )
    assert await snapshot() == before


BAD_INPUT: list[tuple[str, dict[str, Any], type[DropkitError], str]] = [
    (
        "negative stock",
        {"variants": [variant("A-1", stock_on_hand=-1)]},
        InvalidQuantityError,
        "at least 0",
    ),
    (
        "absurd stock",
        {"variants": [variant("A-1", stock_on_hand=MAX_STOCK + 1)]},
        InvalidQuantityError,
        "absurd",
    ),
    (
        "too many decimals",
        {"variants": [variant("A-1", price="1.234 EUR")]},
        InvalidAmountError,
        "more decimals",
    ),
    (
        "float price",
        {"variants": [variant("A-1", price={"amount": 1.5, "currency": "EUR"})]},
        InvalidAmountError,
        "floats",
    ),
    (
        "unknown currency",
        {"variants": [variant("A-1", price="1.00 XYZ")]},
        InvalidAmountError,
        "unknown currency",
    ),
    (
        "mixed currencies",
        {"variants": [variant("A-1"), variant("A-2", price="5.00 USD")]},
        CurrencyMismatchError,
        "one currency",
    ),
    (
        "compare_at currency",
        {"variants": [variant("A-1", compare_at="30.00 USD")]},
        CurrencyMismatchError,
        "compare_at",
    ),
    (
        "compare_at not higher",
        {"variants": [variant("A-1", compare_at="10.00 EUR")]},
        ValidationError,
        "greater than price",
    ),
    (
        "negative price",
        {"variants": [variant("A-1", price="-1.00 EUR")]},
        ValidationError,
        "negative",
    ),
    ("bad sku", {"variants": [variant("bad sku!")]}, ValidationError, "SKU must be"),
    ("long sku", {"variants": [variant("A" * 65)]}, ValidationError, "SKU must be"),
    ("sku twice", {"variants": [variant("A-1"), variant("A-1")]}, ValidationError, "twice"),
    ("missing price", {"variants": [{"sku": "A-1"}]}, ValidationError, "price"),
    ("unknown field", {"variants": [variant("A-1", colour="red")]}, ValidationError, "colour"),
    ("bad image url", {"images": [{"url": "javascript:alert(1)"}]}, ValidationError, "http"),
    ("empty title", {"title": "   "}, ValidationError, "title must not be empty"),
    ("bad slug", {"slug": "Not A Slug"}, ValidationError, "slug"),
    ("bad status", {"status": "published"}, ValidationError, "status"),
    ("active without variant", {"status": "active"}, ValidationError, "at least one variant"),
    ("unknown vendor", {"vendor_id": "ven_missing"}, NotFoundError, "no vendor"),
    ("unknown category", {"category_id": "cat_missing"}, NotFoundError, "no category"),
    ("tags as a string", {"tags": "summer"}, ValidationError, "list"),
]


@pytest.mark.parametrize(
    ("kind", "overrides", "error", "message"), BAD_INPUT, ids=[case[0] for case in BAD_INPUT]
)
async def test_bad_input_raises_a_typed_error_and_writes_nothing(
    catalog: Catalog,
    vendor_id: str,
    snapshot: Snapshot,
    kind: str,
    overrides: dict[str, Any],
    error: type[DropkitError],
    message: str,
) -> None:
    arguments: dict[str, Any] = {"vendor_id": vendor_id, "title": "Thing", **overrides}
    before = await snapshot()
    with pytest.raises(error, match=message):
        await catalog.create(**arguments)
    assert await snapshot() == before


async def test_input_models_raise_dropkit_errors_not_pydantic_ones() -> None:
    with pytest.raises(InvalidAmountError, match=r"VariantInput\.price"):
        VariantInput(sku="A-1", price="9.999 USD")
    with pytest.raises(InvalidQuantityError):
        VariantInput(sku="A-1", price=Money("1", "USD"), stock_on_hand=-5)
    with pytest.raises(ValidationError, match="sku"):
        VariantInput(price=Money("1", "USD"))  # type: ignore[call-arg]
    with pytest.raises(InvalidAmountError):
        Money("1.234", "EUR")  # refused at construction: never reaches the store


async def test_taken_sku_is_a_conflict_and_writes_nothing(
    catalog: Catalog, vendor_id: str, snapshot: Snapshot
) -> None:
    await catalog.create(vendor_id, "First", variants=[variant("SKU-1")])
    before = await snapshot()
    with pytest.raises(ConflictError, match="SKU-1"):
        await catalog.create(vendor_id, "Second", variants=[variant("SKU-2"), variant("SKU-1")])
    assert await snapshot() == before


async def test_suspended_vendor_cannot_list_products(
    catalog: Catalog, vendors: Vendors, vendor_id: str, snapshot: Snapshot
) -> None:
    await vendors.suspend(vendor_id)
    before = await snapshot()
    with pytest.raises(ConflictError, match="suspended"):
        await catalog.create(vendor_id, "Nope")
    assert await snapshot() == before


async def test_slugs_are_generated_unique_and_explicit_ones_checked(
    catalog: Catalog, vendor_id: str
) -> None:
    first = await catalog.create(vendor_id, "Blue Tee!")
    second = await catalog.create(vendor_id, "blue tee")
    third = await catalog.create(vendor_id, "BLUE  TEE")
    assert [first.slug, second.slug, third.slug] == ["blue-tee", "blue-tee-2", "blue-tee-3"]
    assert (await catalog.create(vendor_id, "Café Crème ☕")).slug == "cafe-creme"
    assert (await catalog.create(vendor_id, "☕☕")).slug == "product"
    assert (await catalog.create(vendor_id, "Anything", slug="my-pick")).slug == "my-pick"
    with pytest.raises(ConflictError, match="my-pick"):
        await catalog.create(vendor_id, "Other", slug="my-pick")
    assert slugify("  Hello -- World  ") == "hello-world"
    assert len(slugify("x" * 500)) == 80


async def test_concurrent_creations_with_one_title_get_distinct_slugs(
    catalog: Catalog, vendor_id: str, bus: EventBus
) -> None:
    slugs: list[str] = []

    async def create(n: int) -> None:
        product = await catalog.create(vendor_id, "Hot Item", variants=[variant(f"HOT-{n}")])
        slugs.append(product.slug)

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(create, n)
    assert len(set(slugs)) == 20
    assert set(slugs) == {"hot-item", *(f"hot-item-{n}" for n in range(2, 21))}
    assert len(await bus.list(type="product.created", limit=100)) == 20


async def test_cursor_pagination_is_stable_across_pages_and_inserts(
    store_db: Database, bus: EventBus, vendor_id: str
) -> None:
    # A frozen clock: every product has the same created_at, so only the id orders them.
    frozen = Catalog(store_db, bus, clock=lambda: 1_700_000_000.5)
    created = [await frozen.create(vendor_id, f"Item {n}") for n in range(7)]
    expected = sorted(p.id for p in created)

    seen: list[str] = []
    page = await frozen.list(limit=3)
    seen += [p.id for p in page.items]
    await frozen.create(vendor_id, "Inserted meanwhile")
    while page.next_cursor is not None:
        page = await frozen.list(limit=3, cursor=page.next_cursor)
        seen += [p.id for p in page.items]
    assert len(seen) == len(set(seen))  # no product twice
    assert [i for i in seen if i in expected] == expected  # none skipped, in order
    assert len(seen) in (7, 8)

    every = await frozen.list(limit=200)
    assert every.next_cursor is None and len(every.items) == 8


async def test_pagination_orders_by_creation_time(catalog: Catalog, vendor_id: str) -> None:
    created = [await catalog.create(vendor_id, f"P{n}") for n in range(5)]
    first = await catalog.list(limit=2)
    second = await catalog.list(limit=2, cursor=first.next_cursor)
    third = await catalog.list(limit=2, cursor=second.next_cursor)
    assert [p.id for p in (*first.items, *second.items, *third.items)] == [p.id for p in created]
    assert third.next_cursor is None


@pytest.mark.parametrize("cursor", ["not base64!", "bm9wZQ", "WzEsIDJd"])
async def test_malformed_cursor_and_limit_are_refused(catalog: Catalog, cursor: str) -> None:
    with pytest.raises(ValidationError, match="cursor"):
        await catalog.list(cursor=cursor)
    with pytest.raises(ValidationError, match="limit"):
        await catalog.list(limit=0)
    with pytest.raises(ValidationError, match="limit"):
        await catalog.list(limit=10_000)


async def test_list_filters(catalog: Catalog, vendors: Vendors, vendor_id: str) -> None:
    other = (await vendors.create("Other Shop")).id
    apparel = await catalog.create_category("Apparel")
    shirts = await catalog.create_category("Shirts", parent_id=apparel.id)
    tee = await catalog.create(
        vendor_id,
        "Striped Shirt",
        category_id=shirts.id,
        tags=["Summer"],
        status="active",
        variants=[variant("SHIRT-1")],
    )
    mug = await catalog.create(other, "Mug 100% ceramic", description="For coffee")
    hat = await catalog.create(vendor_id, "Hat", category_id=apparel.id, tags=["winter"])

    async def ids(**filters: Any) -> set[str]:
        return {p.id for p in (await catalog.list(**filters)).items}

    assert await ids(status="active") == {tee.id}
    assert await ids(vendor_id=other) == {mug.id}
    assert await ids(category_id=apparel.id) == {tee.id, hat.id}  # includes sub-categories
    assert await ids(category_id=shirts.id) == {tee.id}
    assert await ids(search="SHIRT") == {tee.id}
    assert await ids(search="shirt-1") == {tee.id}  # exact SKU
    assert await ids(search="100%") == {mug.id}  # % is literal
    assert await ids(search="_") == set()
    assert await ids(search="coffee") == {mug.id}
    assert await ids(tag="summer") == {tee.id}
    assert await ids(tag="WINTER", vendor_id=vendor_id) == {hat.id}
    assert await ids(tag="none") == set()
    listed = (await catalog.list(status="active")).items[0]
    assert [v.sku for v in listed.variants] == ["SHIRT-1"]


async def test_categories_nest_into_a_tree_and_a_path(catalog: Catalog) -> None:
    root = await catalog.create_category("Home")
    kitchen = await catalog.create_category("Kitchen", parent_id=root.id, position=1)
    bath = await catalog.create_category("Bath", parent_id=root.id, position=0)
    mugs = await catalog.create_category("Mugs", parent_id=kitchen.id)
    other = await catalog.create_category("Garden")
    assert root.id.startswith("cat_") and kitchen.slug == "kitchen"
    tree = await catalog.category_tree()
    assert [n.category.id for n in tree] == [other.id, root.id]  # same position: by name
    home = tree[1]
    assert [n.category.id for n in home.children] == [bath.id, kitchen.id]
    assert [n.category.id for n in home.children[1].children] == [mugs.id]
    assert [c.name for c in await catalog.category_path(mugs.id)] == ["Home", "Kitchen", "Mugs"]
    with pytest.raises(ConflictError):
        await catalog.create_category("Kitchen")
    with pytest.raises(NotFoundError):
        await catalog.create_category("Orphan", parent_id="cat_missing")


async def test_update_publishes_changed_fields_only(
    catalog: Catalog, bus: EventBus, vendor_id: str
) -> None:
    product = await catalog.create(vendor_id, "Lamp", tags=["home"])
    taken = await catalog.create(vendor_id, "Desk")
    updated = await catalog.update(
        product.id, title="Desk Lamp", tags=["home"], attributes={"watts": "40"}
    )
    assert updated.title == "Desk Lamp" and updated.slug == "lamp"  # slug stays
    assert updated.attributes == {"watts": "40"}
    (event,) = await bus.list(type="product.updated")
    assert event.payload["changed"] == ["attributes", "title"]

    assert await catalog.update(product.id, title="Desk Lamp") == updated  # no change, no event
    assert len(await bus.list(type="product.updated")) == 1

    with pytest.raises(ConflictError, match="desk"):
        await catalog.update(product.id, slug=taken.slug)
    with pytest.raises(ValidationError):
        await catalog.update(product.id, title="")
    with pytest.raises(NotFoundError):
        await catalog.update(product.id, category_id="cat_missing")
    with pytest.raises(NotFoundError):
        await catalog.update("prd_missing", title="x")
    moved = await catalog.update(product.id, slug="desk-lamp")
    assert (await catalog.get_by_slug("desk-lamp")).id == moved.id


async def test_set_status_needs_a_variant_to_go_active(
    catalog: Catalog, bus: EventBus, vendor_id: str
) -> None:
    product = await catalog.create(vendor_id, "Chair")
    with pytest.raises(ValidationError, match="no variant"):
        await catalog.set_status(product.id, "active")
    await catalog.add_variant(product.id, variant("CHAIR-1"))
    assert (await catalog.set_status(product.id, ProductStatus.ACTIVE)).status == "active"
    assert (await catalog.set_status(product.id, "archived")).status == "archived"
    changes = [e.payload["changed"] for e in await bus.list(type="product.updated")]
    assert changes.count(["status"]) == 2
    with pytest.raises(ValidationError):
        await catalog.set_status(product.id, "deleted")


async def test_variants_share_a_currency_and_prices_change_safely(
    catalog: Catalog, vendor_id: str, snapshot: Snapshot
) -> None:
    product = await catalog.create(vendor_id, "Bag", variants=[variant("BAG-1")])
    added = await catalog.add_variant(product.id, variant("BAG-2", price="29.00 EUR"))
    assert added.position == 1
    before = await snapshot()
    with pytest.raises(CurrencyMismatchError):
        await catalog.add_variant(product.id, variant("BAG-3", price="29.00 USD"))
    with pytest.raises(ConflictError):
        await catalog.add_variant(product.id, variant("BAG-1"))
    assert await snapshot() == before

    repriced = await catalog.update_price(added.id, Money("25.00", "EUR"), Money("29.00", "EUR"))
    assert repriced.price == Money("25.00", "EUR") and repriced.compare_at == Money("29", "EUR")
    with pytest.raises(CurrencyMismatchError):
        await catalog.update_price(added.id, Money("25.00", "USD"))
    with pytest.raises(ValidationError, match="greater"):
        await catalog.update_price(added.id, Money("25.00", "EUR"), Money("20.00", "EUR"))
    assert (await catalog.get_variant(added.id)).price == Money("25.00", "EUR")
    with pytest.raises(UnknownSkuError):
        await catalog.get_variant_by_sku("NOPE")
    assert isinstance(UnknownSkuError("x"), CommerceError)


async def test_stock_changes_never_dip_below_reserved_or_zero(
    catalog: Catalog, vendor_id: str, store_db: Database
) -> None:
    product = await catalog.create(vendor_id, "Cup", variants=[variant("CUP-1", stock_on_hand=10)])
    variant_id = product.variants[0].id
    await store_db.execute(
        "UPDATE commerce_variants SET stock_reserved = 4 WHERE id = {}", variant_id
    )
    assert (await catalog.adjust_stock(variant_id, -6)).stock_on_hand == 4
    with pytest.raises(OutOfStockError, match="CUP-1: 1 requested, 0 available"):
        await catalog.adjust_stock(variant_id, -1)
    with pytest.raises(OutOfStockError):
        await catalog.set_stock(variant_id, 3)
    assert (await catalog.set_stock(variant_id, 4)).stock_on_hand == 4
    assert (await catalog.adjust_stock(variant_id, 5)).own_available == 5
    for bad in (0, True, MAX_STOCK + 1):
        with pytest.raises(InvalidQuantityError):
            await catalog.adjust_stock(variant_id, bad)
    with pytest.raises(InvalidQuantityError):
        await catalog.set_stock(variant_id, -1)
    with pytest.raises(InvalidQuantityError):
        await catalog.set_stock(variant_id, MAX_STOCK + 1)
    await catalog.set_stock(variant_id, MAX_STOCK)
    with pytest.raises(InvalidQuantityError, match="exceeds"):
        await catalog.adjust_stock(variant_id, 1)
    with pytest.raises(NotFoundError):
        await catalog.adjust_stock("var_missing", 1)
    assert (await catalog.get_variant(variant_id)).stock_on_hand == MAX_STOCK


async def test_concurrent_stock_removals_never_oversell(catalog: Catalog, vendor_id: str) -> None:
    product = await catalog.create(
        vendor_id, "Rare", variants=[variant("RARE-1", stock_on_hand=10)]
    )
    variant_id = product.variants[0].id
    outcomes: list[bool] = []

    async def take() -> None:
        try:
            await catalog.adjust_stock(variant_id, -1)
            outcomes.append(True)
        except OutOfStockError:
            outcomes.append(False)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(take)
    assert outcomes.count(True) == 10
    assert (await catalog.get_variant(variant_id)).stock_on_hand == 0


async def test_batch_loaders_use_one_query_each(
    catalog: Catalog, vendor_id: str, store_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await catalog.create(
        vendor_id, "A", variants=[variant("A-1"), variant("A-2")], images=[{"url": "https://i/a"}]
    )
    b = await catalog.create(vendor_id, "B", variants=[variant("B-1")])
    c = await catalog.create(vendor_id, "C")
    queries: list[str] = []
    real_fetch = store_db.fetch

    async def counting(sql: str, *args: Any) -> Any:
        queries.append(sql)
        return await real_fetch(sql, *args)

    monkeypatch.setattr(store_db, "fetch", counting)
    ids = [a.id, b.id, c.id, "prd_missing"]
    variants = await catalog.variants_for_products(ids)
    images = await catalog.images_for_products(ids)
    assert len(queries) == 2
    assert [v.sku for v in variants[a.id]] == ["A-1", "A-2"]
    assert [v.sku for v in variants[b.id]] == ["B-1"]
    assert variants[c.id] == [] and variants["prd_missing"] == []
    assert len(images[a.id]) == 1 and images[b.id] == []
    assert await catalog.variants_for_products([]) == {}


async def test_vendor_view_sees_and_changes_only_its_own_products(
    catalog: Catalog, vendors: Vendors, vendor_id: str, snapshot: Snapshot
) -> None:
    rival_id = (await vendors.create("Rival")).id
    mine = VendorCatalog(catalog, vendor_id)
    theirs = VendorCatalog(catalog, rival_id)
    own = await mine.create("Mine", variants=[variant("MINE-1")])
    foreign = await theirs.create("Theirs", variants=[variant("THEIRS-1")])
    assert own.vendor_id == vendor_id and foreign.vendor_id == rival_id

    assert [p.id for p in (await mine.list()).items] == [own.id]
    assert [p.id for p in (await theirs.list()).items] == [foreign.id]
    assert (await mine.get(own.id)).id == own.id
    assert (await mine.get_by_slug(own.slug)).id == own.id

    before = await snapshot()
    foreign_variant = foreign.variants[0].id
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: mine.get(foreign.id),
        lambda: mine.get_by_slug(foreign.slug),
        lambda: mine.update(foreign.id, title="Hijacked"),
        lambda: mine.set_status(foreign.id, "archived"),
        lambda: mine.add_variant(foreign.id, variant("EVIL-1")),
        lambda: mine.update_price(foreign_variant, Money("0.01", "EUR")),
        lambda: mine.set_stock(foreign_variant, 0),
        lambda: mine.adjust_stock(foreign_variant, -1),
        lambda: theirs.update(own.id, title="Hijacked"),
        lambda: theirs.adjust_stock(own.variants[0].id, 5),
    ]
    for attempt in attempts:
        with pytest.raises(VendorAccessError):
            await attempt()
    assert await snapshot() == before
    assert (await catalog.get(foreign.id)).title == "Theirs"

    assert (await mine.update(own.id, title="Mine v2")).title == "Mine v2"
    assert (await mine.set_status(own.id, "active")).status == "active"
    assert (await mine.adjust_stock(own.variants[0].id, 2)).stock_on_hand == 2
    with pytest.raises(NotFoundError):
        await mine.update("prd_missing", title="x")
