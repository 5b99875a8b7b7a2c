"""A store product as a :class:`ProductBrief`: what the script writer needs to know about it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from dropkit.commerce import Product
from dropkit.core.money import Money
from dropkit.media.errors import MediaInputError
from dropkit.media.spec import ProductBrief

__all__ = ["format_price", "product_brief"]

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_price(price: Money) -> str:
    """``$31.00`` for known currencies, ``31.00 CHF`` otherwise (what the voice reads out)."""
    amount = str(price).split(" ", 1)[0]
    symbol = _SYMBOLS.get(price.currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {price.currency}"


def product_brief(
    product: Product, sku: str | None = None, *, image_dirs: Sequence[Path] = ()
) -> ProductBrief:
    """The brief of ``product`` priced as its variant ``sku`` (default: its first variant).

    Image URLs are matched by file name against ``image_dirs``, so images a store serves from
    a local media folder become Ken Burns shots; images not found locally are skipped.
    """
    variants = {v.sku: v for v in product.variants}
    if sku is not None and sku not in variants:
        raise MediaInputError("script", f"product {product.title!r} has no variant {sku!r}")
    variant = (
        variants[sku] if sku is not None else (product.variants[0] if product.variants else None)
    )
    images: list[str] = []
    for image in product.images:
        name = Path(urlsplit(image.url).path).name
        for folder in image_dirs:
            if name and (folder / name).is_file():
                images.append(str(folder / name))
                break
    features = tuple(
        f"{key.capitalize()}: {value}"
        for key, value in (variant.options if variant else {}).items()
    )
    return ProductBrief(
        title=product.title,
        description=product.description,
        features=features,
        price=format_price(variant.price) if variant else None,
        compare_at=format_price(variant.compare_at) if variant and variant.compare_at else None,
        images=tuple(images),
        sku=variant.sku if variant else None,
    )
