"""The catalog's records and inputs, and the row mapping and input cleaning behind them."""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dropkit.commerce._records import (
    InputModel,
    check_quantity,
    check_text,
    from_json,
    from_ts,
)
from dropkit.commerce.amounts import money_from_db
from dropkit.core.database import Row
from dropkit.core.errors import CurrencyMismatchError, ValidationError
from dropkit.core.money import Money

__all__ = [
    "UNSET",
    "Category",
    "CategoryNode",
    "Image",
    "ImageInput",
    "Product",
    "ProductPage",
    "ProductStatus",
    "Unset",
    "Variant",
    "VariantInput",
    "category_from_row",
    "check_variants",
    "clean_attributes",
    "clean_tags",
    "decode_cursor",
    "encode_cursor",
    "image_from_row",
    "product_from_row",
    "product_status",
    "variant_from_row",
]

_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class ImageInput(InputModel):
    """An image to attach: an absolute http(s) URL and its alt text."""

    url: str = Field(min_length=1, max_length=2048)
    alt: str = Field(default="", max_length=500)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value):
            raise ValueError("must be an absolute http(s) URL without spaces")
        return value


class VariantInput(InputModel):
    """A variant to create: SKU, options, price (and optional higher compare-at), stock."""

    sku: str
    title: str = Field(default="", max_length=200)
    options: dict[str, str] = Field(default_factory=dict)
    price: Money
    compare_at: Money | None = None
    weight_grams: int = Field(default=0, ge=0, le=10**7)
    stock_on_hand: int = 0
    low_stock_threshold: int = 0

    @field_validator("sku")
    @classmethod
    def _sku(cls, value: str) -> str:
        if not _SKU.match(value):
            raise ValueError(
                "SKU must be 1-64 characters of letters, digits, '.', '_', '/' and '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 20:
            raise ValueError("at most 20 options")
        for name, choice in value.items():
            if not name.strip() or len(name) > 64 or len(choice) > 200:
                raise ValueError("option names must be 1-64 characters, values at most 200")
        return value

    @field_validator("stock_on_hand", "low_stock_threshold")
    @classmethod
    def _stock(cls, value: int) -> int:
        return check_quantity(value, "stock")

    @field_validator("price")
    @classmethod
    def _price(cls, value: Money) -> Money:
        if value.amount < 0:
            raise ValidationError(f"price must not be negative, got {value}")
        return value

    @model_validator(mode="after")
    def _compare_at(self) -> Self:
        if self.compare_at is not None:
            if self.compare_at.currency != self.price.currency:
                raise CurrencyMismatchError(
                    f"compare_at is in {self.compare_at.currency} but price is in "
                    f"{self.price.currency}"
                )
            if self.compare_at <= self.price:
                raise ValidationError(
                    f"compare_at {self.compare_at} must be greater than price {self.price}"
                )
        return self


class Category(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    parent_id: str | None
    name: str
    slug: str
    position: int


class CategoryNode(BaseModel):
    """A category with its sub-categories, for navigation menus."""

    model_config = ConfigDict(frozen=True)

    category: Category
    children: tuple[CategoryNode, ...] = ()


class Image(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    product_id: str
    url: str
    alt: str
    position: int


class Variant(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    product_id: str
    sku: str
    title: str
    options: dict[str, str]
    price: Money
    compare_at: Money | None
    weight_grams: int
    stock_on_hand: int
    stock_reserved: int
    low_stock_threshold: int
    position: int
    created_at: datetime
    updated_at: datetime

    @property
    def own_available(self) -> int:
        """Own stock not held by a reservation (supplier stock is counted by inventory)."""
        return max(self.stock_on_hand - self.stock_reserved, 0)


class Product(BaseModel):
    """A product; ``variants`` and ``images`` are filled by reads that load them."""

    model_config = ConfigDict(frozen=True)

    id: str
    vendor_id: str
    category_id: str | None
    slug: str
    title: str
    description: str
    status: ProductStatus
    attributes: dict[str, str]
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    variants: tuple[Variant, ...] = ()
    images: tuple[Image, ...] = ()

    @property
    def currency(self) -> str | None:
        """The one currency all variants are priced in (None without variants)."""
        return self.variants[0].price.currency if self.variants else None


class ProductPage(BaseModel):
    """One page of :meth:`Catalog.list`; pass ``next_cursor`` back for the next one."""

    model_config = ConfigDict(frozen=True)

    items: tuple[Product, ...]
    next_cursor: str | None


def category_from_row(row: Row) -> Category:
    return Category(
        id=row["id"],
        parent_id=row["parent_id"],
        name=row["name"],
        slug=row["slug"],
        position=int(row["position"]),
    )


def image_from_row(row: Row) -> Image:
    return Image(
        id=row["id"],
        product_id=row["product_id"],
        url=row["url"],
        alt=row["alt"],
        position=int(row["position"]),
    )


def variant_from_row(row: Row) -> Variant:
    currency = row["currency"]
    compare = row["compare_at_amount"]
    return Variant(
        id=row["id"],
        product_id=row["product_id"],
        sku=row["sku"],
        title=row["title"],
        options=from_json(row["options"]),
        price=money_from_db(row["price_amount"], currency),
        compare_at=None if compare is None else money_from_db(compare, currency),
        weight_grams=int(row["weight_grams"]),
        stock_on_hand=int(row["stock_on_hand"]),
        stock_reserved=int(row["stock_reserved"]),
        low_stock_threshold=int(row["low_stock_threshold"]),
        position=int(row["position"]),
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
    )


def product_from_row(
    row: Row, variants: Sequence[Variant] = (), images: Sequence[Image] = ()
) -> Product:
    return Product(
        id=row["id"],
        vendor_id=row["vendor_id"],
        category_id=row["category_id"],
        slug=row["slug"],
        title=row["title"],
        description=row["description"],
        status=ProductStatus(row["status"]),
        attributes=from_json(row["attributes"]),
        tags=tuple(from_json(row["tags"])),
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
        variants=tuple(variants),
        images=tuple(images),
    )


def clean_attributes(value: Mapping[str, str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("attributes must be a mapping of strings to strings")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ValidationError(f"attribute {key!r} must map a string to a string")
        name = check_text(key, "attribute name", max_length=64)
        result[name] = check_text(item, f"attribute {name!r}", max_length=1000, required=False)
    if len(result) > 100:
        raise ValidationError("at most 100 attributes")
    return result


def clean_tags(value: Iterable[str] | None) -> list[str]:
    """Tags are compared case-insensitively, so they are stored lowercase and deduplicated."""
    if value is None:
        return []
    if isinstance(value, str):
        raise ValidationError("tags must be a list of strings, not one string")
    tags: list[str] = []
    for tag in value:
        text = check_text(tag, "tag", max_length=64).lower()
        if text not in tags:
            tags.append(text)
    if len(tags) > 50:
        raise ValidationError("at most 50 tags")
    return tags


def product_status(value: ProductStatus | str) -> ProductStatus:
    try:
        return ProductStatus(value)
    except ValueError:
        choices = ", ".join(s.value for s in ProductStatus)
        raise ValidationError(f"status {value!r} is not one of {choices}") from None


def encode_cursor(created_at: float, product_id: str) -> str:
    raw = json.dumps([created_at, product_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, product_id = json.loads(raw)
        if isinstance(created_at, bool) or not isinstance(created_at, int | float):
            raise TypeError
        if not isinstance(product_id, str):
            raise TypeError
    except (binascii.Error, ValueError, TypeError):
        raise ValidationError(f"malformed cursor {cursor!r}") from None
    return float(created_at), product_id


class Unset(enum.Enum):
    """Marks an :meth:`Catalog.update` argument that was not given (None may be a value)."""

    UNSET = enum.auto()


UNSET: Literal[Unset.UNSET] = Unset.UNSET


def check_variants(variants: Sequence[VariantInput]) -> None:
    """One currency per product and no SKU twice, checked before anything is written."""
    seen: set[str] = set()
    for variant in variants:
        if variant.sku in seen:
            raise ValidationError(f"SKU {variant.sku!r} appears twice in one product")
        seen.add(variant.sku)
    currencies = {variant.price.currency for variant in variants}
    if len(currencies) > 1:
        raise CurrencyMismatchError(
            f"all variants of a product share one currency, got {', '.join(sorted(currencies))}"
        )
