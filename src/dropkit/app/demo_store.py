"""The demo store: a small catalog seeded through ``kit.commerce``, and orders placed on it.

:func:`seed_store` creates two vendors, a supplier whose offers cover the variants with little
stock of their own, a category tree, products with variants and generated product images, a tax
rate, shipping methods and a discount code. :func:`place_orders` then checks out a few carts
through the manual gateway (one with the code, one with a line the supplier ships because own
stock is short), marks one order paid, splits it into fulfilments and ships one of them.

``dropkit demo`` uses both; they are plain library calls, so they also seed a store to try the
GraphQL storefront or the reference app against. Images need Pillow (``dropkit[media]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from dropkit import Dropkit
from dropkit.commerce import (
    Address,
    Category,
    Fulfilment,
    ImageInput,
    Offer,
    Order,
    Product,
    StockLevel,
    Supplier,
    Variant,
    VariantInput,
    Vendor,
)
from dropkit.commerce.pricing import Discount, DiscountKind, ShippingKind, ShippingMethod, TaxRate
from dropkit.core.errors import MissingDependencyError
from dropkit.core.money import Money

__all__ = [
    "DISCOUNT_CODE",
    "PlacedOrders",
    "SeededStore",
    "StoreProduct",
    "draw_product_image",
    "place_orders",
    "seed_store",
]

DISCOUNT_CODE = "LAUNCH10"

Shape = Literal["lamp", "pendant", "desk", "stand"]


@dataclass(frozen=True)
class _VariantSpec:
    sku: str
    title: str
    options: dict[str, str]
    price: str
    stock: int
    compare_at: str | None = None
    supplier_cost: str | None = None  # the supplier also offers this variant
    supplier_stock: int = 0


@dataclass(frozen=True)
class _ProductSpec:
    vendor: str
    category: str
    title: str
    description: str
    shape: Shape
    palettes: tuple[tuple[str, str], ...]  # one image per (top, bottom) gradient
    variants: tuple[_VariantSpec, ...]


_VENDORS = (("Aurora Lighting", "0.12"), ("Nordic Desk", "0.10"))

_PRODUCTS = (
    _ProductSpec(
        vendor="Aurora Lighting",
        category="Lighting",
        title="Aurora Desk Lamp",
        description="A dimmable LED desk lamp with a brushed aluminium arm.",
        shape="lamp",
        palettes=(("#fde68a", "#f59e0b"), ("#bae6fd", "#0284c7")),
        variants=(
            _VariantSpec(
                "LAMP-AURORA-01-WW", "Warm white", {"light": "warm white"}, "31.00", 25, "39.00"
            ),
            _VariantSpec("LAMP-AURORA-01-CW", "Cool white", {"light": "cool white"}, "31.00", 18),
        ),
    ),
    _ProductSpec(
        vendor="Aurora Lighting",
        category="Lighting",
        title="Halo Pendant Light",
        description="A ring pendant light for dining tables, in three diameters.",
        shape="pendant",
        palettes=(("#e9d5ff", "#7c3aed"),),
        variants=(
            _VariantSpec("PEND-HALO-S", "Small", {"size": "S"}, "59.00", 6),
            _VariantSpec("PEND-HALO-M", "Medium", {"size": "M"}, "79.00", 4),
            _VariantSpec(
                "PEND-HALO-L",
                "Large",
                {"size": "L"},
                "99.00",
                1,
                supplier_cost="41.50",
                supplier_stock=40,
            ),
        ),
    ),
    _ProductSpec(
        vendor="Nordic Desk",
        category="Desks",
        title="Fjord Standing Desk",
        description="An electric sit-stand desk with a solid oak top.",
        shape="desk",
        palettes=(("#d9f99d", "#65a30d"), ("#fed7aa", "#c2410c")),
        variants=(
            _VariantSpec(
                "DESK-FJORD-120", "120 cm, oak", {"width": "120 cm", "top": "oak"}, "449.00", 3
            ),
            _VariantSpec(
                "DESK-FJORD-140",
                "140 cm, oak",
                {"width": "140 cm", "top": "oak"},
                "499.00",
                0,
                supplier_cost="265.00",
                supplier_stock=12,
            ),
        ),
    ),
    _ProductSpec(
        vendor="Nordic Desk",
        category="Desks",
        title="Birch Monitor Stand",
        description="A birch plywood monitor riser with a cable slot.",
        shape="stand",
        palettes=(("#fecdd3", "#be123c"),),
        variants=(
            _VariantSpec("STAND-BIRCH-NAT", "Natural", {"colour": "natural"}, "45.00", 30),
            _VariantSpec("STAND-BIRCH-BLK", "Black", {"colour": "black"}, "45.00", 2),
        ),
    ),
)


@dataclass(frozen=True)
class StoreProduct:
    """A seeded product with its vendor, its stock per variant and its image files."""

    product: Product
    vendor: Vendor
    stock: dict[str, StockLevel]  # by variant id
    image_files: tuple[Path, ...]

    @property
    def variants(self) -> tuple[Variant, ...]:
        return self.product.variants


@dataclass(frozen=True)
class SeededStore:
    """What :func:`seed_store` created."""

    vendors: tuple[Vendor, ...]
    supplier: Supplier
    offers: tuple[Offer, ...]
    categories: tuple[Category, ...]
    products: tuple[StoreProduct, ...]
    tax_rate: TaxRate
    flat_shipping: ShippingMethod
    free_over_shipping: ShippingMethod
    discount: Discount

    def variant_sku(self, variant_id: str) -> str:
        for item in self.products:
            for variant in item.variants:
                if variant.id == variant_id:
                    return variant.sku
        raise KeyError(variant_id)

    def variant(self, sku: str) -> Variant:
        for item in self.products:
            for variant in item.variants:
                if variant.sku == sku:
                    return variant
        raise KeyError(sku)


def _font_size(text: str, width: int) -> int:
    return max(18, min(44, int(width / max(len(text), 1) * 1.7)))


def draw_product_image(title: str, shape: Shape, palette: tuple[str, str], path: Path) -> Path:
    """Draw a 512x512 PNG: a vertical gradient, a simple silhouette and the product name."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as exc:  # pragma: no cover - only without the media extra
        raise MissingDependencyError("pillow", "media") from exc

    size = 512
    top = Image.new("RGB", (size, size), palette[0])
    bottom = Image.new("RGB", (size, size), palette[1])
    mask = Image.linear_gradient("L").resize((size, size))
    image = Image.composite(bottom, top, mask)
    draw = ImageDraw.Draw(image)
    ink, light = "#1f2937", "#fffbeb"
    if shape == "lamp":
        draw.rectangle((176, 372, 336, 392), fill=ink)  # base
        draw.line((256, 372, 196, 232), fill=ink, width=12)  # lower arm
        draw.line((196, 232, 300, 150), fill=ink, width=12)  # upper arm
        draw.polygon([(270, 120), (360, 150), (330, 210)], fill=ink)  # shade
        draw.ellipse((318, 186, 350, 218), fill=light)  # bulb
    elif shape == "pendant":
        draw.line((256, 40, 256, 190), fill=ink, width=6)
        draw.ellipse((136, 190, 376, 290), outline=ink, width=18)
        draw.ellipse((196, 300, 316, 330), fill=light)  # glow
    elif shape == "desk":
        draw.rectangle((96, 200, 416, 226), fill=ink)  # top
        draw.rectangle((140, 226, 160, 380), fill=ink)
        draw.rectangle((352, 226, 372, 380), fill=ink)
        draw.rectangle((110, 380, 190, 392), fill=ink)
        draw.rectangle((322, 380, 402, 392), fill=ink)
    else:  # stand
        draw.rectangle((196, 130, 316, 250), fill=ink)  # monitor
        draw.rectangle((132, 300, 380, 322), fill=ink)  # riser
        draw.rectangle((148, 322, 168, 372), fill=ink)
        draw.rectangle((344, 322, 364, 372), fill=ink)
        draw.rectangle((248, 250, 264, 300), fill=ink)
    font = ImageFont.load_default(size=_font_size(title, size - 64))
    draw.text((size // 2, 448), title, fill=ink, font=font, anchor="mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", optimize=True)
    return path


async def seed_store(kit: Dropkit, media_dir: Path, *, media_url: str) -> SeededStore:
    """Create the demo catalog in ``kit``; images go to ``media_dir``, served at ``media_url``.

    ``media_url`` is where a web server (or CDN) serves ``media_dir``: product images are
    stored as absolute http(s) URLs.
    """
    commerce = kit.commerce
    base_url = media_url.rstrip("/")
    vendors = {
        name: await commerce.vendors.create(name, commission_rate=rate, email=None)
        for name, rate in _VENDORS
    }
    supplier = await commerce.suppliers.create("Lumen Supply Co.", preferred=True)
    home = await commerce.catalog.create_category("Home")
    categories = {
        name: await commerce.catalog.create_category(name, parent_id=home.id, position=i)
        for i, name in enumerate(("Lighting", "Desks"))
    }

    products: list[StoreProduct] = []
    offers: list[Offer] = []
    for spec in _PRODUCTS:
        files = [
            draw_product_image(
                spec.title,
                spec.shape,
                palette,
                media_dir / f"{spec.variants[0].sku.rsplit('-', 1)[0].lower()}-{n}.png",
            )
            for n, palette in enumerate(spec.palettes, start=1)
        ]
        product = await commerce.catalog.create(
            vendors[spec.vendor].id,
            spec.title,
            description=spec.description,
            category_id=categories[spec.category].id,
            tags=[spec.category.lower(), "demo"],
            status="active",
            variants=[
                VariantInput(
                    sku=v.sku,
                    title=v.title,
                    options=v.options,
                    price=Money(v.price, "USD"),
                    compare_at=None if v.compare_at is None else Money(v.compare_at, "USD"),
                    stock_on_hand=v.stock,
                    low_stock_threshold=1,
                )
                for v in spec.variants
            ],
            images=[
                ImageInput(url=f"{base_url}/{path.name}", alt=f"{spec.title}, view {n}")
                for n, path in enumerate(files, start=1)
            ],
        )
        by_sku = {v.sku: v for v in product.variants}
        for v in spec.variants:
            if v.supplier_cost is not None:
                offers.append(
                    await commerce.suppliers.upsert_offer(
                        supplier.id,
                        by_sku[v.sku].id,
                        f"LSC-{v.sku}",
                        Money(v.supplier_cost, "USD"),
                        v.supplier_stock,
                        lead_time_days=5,
                    )
                )
        products.append(
            StoreProduct(
                product=product,
                vendor=vendors[spec.vendor],
                stock={},
                image_files=tuple(files),
            )
        )

    tax_rate = await commerce.pricing.set_tax_rate(
        "US", "0.0725", region="CA", name="California sales tax"
    )
    flat = await commerce.pricing.create_shipping_method(
        "Standard", ShippingKind.FLAT, Money("6.90", "USD"), countries=["US"]
    )
    free_over = await commerce.pricing.create_shipping_method(
        "Free over $100",
        ShippingKind.FREE_OVER,
        Money("6.90", "USD"),
        free_over=Money("100.00", "USD"),
        countries=["US"],
    )
    discount = await commerce.pricing.create_discount(
        DISCOUNT_CODE, DiscountKind.PERCENTAGE, 10, usage_limit=100, usage_limit_per_customer=1
    )
    return SeededStore(
        vendors=tuple(vendors.values()),
        supplier=supplier,
        offers=tuple(offers),
        categories=(home, *categories.values()),
        products=tuple(await _with_stock(kit, products)),
        tax_rate=tax_rate,
        flat_shipping=flat,
        free_over_shipping=free_over,
        discount=discount,
    )


async def _with_stock(kit: Dropkit, products: Sequence[StoreProduct]) -> list[StoreProduct]:
    """The products re-read with their current stock levels (own + fresh supplier - held)."""
    ids = [v.id for item in products for v in item.variants]
    levels = await kit.commerce.inventory.levels(ids)
    refreshed = []
    for item in products:
        product = await kit.commerce.catalog.get(item.product.id)
        stock = {v.id: levels[v.id] for v in product.variants}
        refreshed.append(
            StoreProduct(
                product=product, vendor=item.vendor, stock=stock, image_files=item.image_files
            )
        )
    return refreshed


@dataclass(frozen=True)
class PlacedOrders:
    """The orders :func:`place_orders` placed and what happened to them afterwards."""

    orders: tuple[Order, ...]  # as they stand at the end
    fulfilments: dict[str, tuple[Fulfilment, ...]]  # by order id
    shipped: Fulfilment
    retried: Order  # a second checkout of the first cart: the same order, not a new one
    store: SeededStore  # stock levels re-read after the orders


_CUSTOMERS = (
    (
        "ada@example.com",
        Address("Ada Lovelace", "12 Analytical Way", "San Jose", "95112", "US", region="CA"),
    ),
    (
        "linus@example.com",
        Address("Linus Berg", "4 Harbour St", "Oakland", "94607", "US", region="CA"),
    ),
    (
        "grace@example.com",
        Address("Grace Hopper", "88 Cobol Ave", "Sacramento", "95814", "US", region="CA"),
    ),
)


async def place_orders(kit: Dropkit, store: SeededStore) -> PlacedOrders:
    """Check out three carts, pay and fulfil the first order, and ship one of its parcels.

    * order 1: a lamp, two large pendants (one unit of own stock: the supplier ships them) and a
      monitor stand from the other vendor, with the discount code and flat shipping;
    * order 2: a standing desk, free shipping over $100;
    * order 3: two lamps of the other colour, waiting for the bank transfer.
    """
    commerce = kit.commerce
    carts = [
        (
            [("LAMP-AURORA-01-WW", 1), ("PEND-HALO-L", 2), ("STAND-BIRCH-NAT", 1)],
            DISCOUNT_CODE,
            store.flat_shipping,
        ),
        ([("DESK-FJORD-120", 1)], None, store.free_over_shipping),
        ([("LAMP-AURORA-01-CW", 2)], None, store.flat_shipping),
    ]
    placed: list[Order] = []
    first_cart = ""
    for (lines, code, shipping), (email, address) in zip(carts, _CUSTOMERS, strict=True):
        cart = await commerce.carts.create("USD", email=email)
        for sku, quantity in lines:
            await commerce.carts.add(cart.id, sku, quantity)
        if code is not None:
            await commerce.carts.apply_coupon(cart.id, code)
        first_cart = first_cart or cart.id
        placed.append(
            await commerce.checkout(
                cart.id,
                email=email,
                shipping_address=address,
                shipping_method_id=shipping.id,
                payment_gateway="manual",
            )
        )
    # A client that timed out and submitted again gets the same order back.
    retried = await commerce.checkout(
        first_cart,
        email=_CUSTOMERS[0][0],
        shipping_address=_CUSTOMERS[0][1],
        shipping_method_id=store.flat_shipping.id,
    )

    first = placed[0]
    await commerce.orders.mark_paid(first.id)  # the operator saw the bank transfer arrive
    fulfilments = await commerce.orders.create_fulfilments(first.id)
    lamp_vendor = next(line.vendor_id for line in first.lines if line.sku.startswith("LAMP"))
    own = next(f for f in fulfilments if f.supplier_id is None and f.vendor_id == lamp_vendor)
    shipped = await commerce.orders.ship(
        own.id, carrier="UPS", tracking_number="1Z999AA10123456784"
    )

    final = tuple([await commerce.orders.get(order.id) for order in placed])
    return PlacedOrders(
        orders=final,
        fulfilments={
            order.id: tuple(await commerce.orders.fulfilments(order.id)) for order in final
        },
        shipped=shipped,
        retried=retried,
        store=replace(store, products=tuple(await _with_stock(kit, store.products))),
    )
