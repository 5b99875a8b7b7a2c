"""Field cleaners: raw strings from a page turned into typed, JSON-friendly values.

A task names a cleaner per field (``text``, ``price``, ``number``, ``rating``,
``availability``, ``date``); each takes the raw text and returns ``None`` when the text holds
no such value, so "matched but meaningless" is reported like "matched nothing".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final, Literal

from dropkit.crawl.prices import parse_price

__all__ = [
    "CLEANERS",
    "Availability",
    "CleanerName",
    "clean_availability",
    "clean_date",
    "clean_number",
    "clean_price",
    "clean_rating",
    "clean_text",
]

CleanerName = Literal["text", "price", "number", "rating", "availability", "date"]


class Availability(StrEnum):
    """Stock state, normalised from schema.org URLs and shop wording."""

    IN_STOCK = "in_stock"
    LIMITED = "limited"
    OUT_OF_STOCK = "out_of_stock"
    PREORDER = "preorder"
    BACKORDER = "backorder"
    DISCONTINUED = "discontinued"
    UNKNOWN = "unknown"

    @property
    def buyable(self) -> bool:
        """Can a customer order it now (in stock, limited, pre-order, back-order)?"""
        return self in (
            Availability.IN_STOCK,
            Availability.LIMITED,
            Availability.PREORDER,
            Availability.BACKORDER,
        )


_WS: Final = re.compile(r"\s+")
_NUMBER: Final = re.compile(r"-?\d[\d.,\s\u00a0\u202f']*")
_RATING_OF: Final = re.compile(
    r"(\d+(?:[.,]\d+)?)\s*(?:/|out of|von|sur|de)\s*(\d+(?:[.,]\d+)?)", re.I
)
_SCHEMA_AVAILABILITY: Final = {
    "instock": Availability.IN_STOCK,
    "instoreonly": Availability.IN_STOCK,
    "onlineonly": Availability.IN_STOCK,
    "limitedavailability": Availability.LIMITED,
    "outofstock": Availability.OUT_OF_STOCK,
    "soldout": Availability.OUT_OF_STOCK,
    "preorder": Availability.PREORDER,
    "presale": Availability.PREORDER,
    "backorder": Availability.BACKORDER,
    "discontinued": Availability.DISCONTINUED,
}
# Checked in order: "not in stock" must be read as out of stock before "in stock" matches.
_AVAILABILITY_WORDS: Final[tuple[tuple[str, Availability], ...]] = (
    (
        r"out of stock|sold out|not in stock|unavailable|no longer available|ausverkauft|"
        r"épuisé|rupture de stock|agotado|esaurito|niet op voorraad",
        Availability.OUT_OF_STOCK,
    ),
    (r"discontinued", Availability.DISCONTINUED),
    (r"pre-?order|coming soon|vorbestell", Availability.PREORDER),
    (r"back-?order", Availability.BACKORDER),
    (r"only \d+ left|few left|low stock|limited", Availability.LIMITED),
    (
        r"in stock|available|add to cart|add to basket|buy now|auf lager|en stock|disponible|"
        r"op voorraad|lieferbar|in den warenkorb",
        Availability.IN_STOCK,
    ),
)
_DATE_FORMATS: Final = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%b %d %Y",
)


def clean_text(raw: str) -> str | None:
    """Whitespace collapsed; ``None`` for blank text."""
    text = _WS.sub(" ", raw).strip()
    return text or None


def clean_price(raw: str) -> dict[str, Any] | None:
    """``{"amount": "1299.00", "currency": "EUR"}`` (amount as a string: exact)."""
    price = parse_price(raw)
    if price is None:
        return None
    return {"amount": str(price.amount), "currency": price.currency}


def _decimal(raw: str) -> Decimal | None:
    match = _NUMBER.search(raw)
    if match is None:
        return None
    digits = re.sub(r"[\s\u00a0\u202f']", "", match.group(0)).rstrip(".,")
    if "," in digits and "." in digits:
        decimal_mark = "," if digits.rfind(",") > digits.rfind(".") else "."
    elif digits.count(",") == 1 and len(digits.split(",")[1]) != 3:
        decimal_mark = ","
    elif digits.count(".") == 1 and len(digits.split(".")[1]) != 3:
        decimal_mark = "."
    else:
        decimal_mark = ""
    thousands = {",", "."} - {decimal_mark}
    for mark in thousands:
        digits = digits.replace(mark, "")
    digits = digits.replace(",", ".")
    try:
        return Decimal(digits)
    except InvalidOperation:
        return None


def clean_number(raw: str) -> int | str | None:
    """The first number in the text: an int when whole ("1,234 reviews" is 1234), else a
    decimal string."""
    value = _decimal(raw)
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else str(value)


def clean_rating(raw: str, *, best: Decimal = Decimal(5)) -> str | None:
    """A rating on a 0-``best`` scale as a decimal string: "4.5 out of 5", "9/10", "★★★★☆"."""
    stars = raw.count("★")
    if stars and not re.search(r"\d", raw):
        return str(Decimal(stars))
    match = _RATING_OF.search(raw)
    if match is not None:
        value = _decimal(match.group(1))
        scale = _decimal(match.group(2))
        if value is None or not scale:
            return None
        return str((value / scale * best).quantize(Decimal("0.01")).normalize())
    value = _decimal(raw)
    if value is None or value < 0 or value > best:
        return None
    return str(value.normalize())


def clean_availability(raw: str) -> str | None:
    """An :class:`Availability` value from a schema.org URL or shop wording."""
    text = raw.strip().lower()
    if not text:
        return None
    tail = text.rstrip("/").rsplit("/", 1)[-1].replace(" ", "").replace("_", "")
    if tail in _SCHEMA_AVAILABILITY:
        return _SCHEMA_AVAILABILITY[tail].value
    for pattern, availability in _AVAILABILITY_WORDS:
        if re.search(pattern, text):
            return availability.value
    return None


def clean_date(raw: str) -> str | None:
    """An ISO date (``2024-05-01``) from ISO timestamps and common written forms."""
    text = clean_text(raw)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    match = re.search(r"\d{4}-\d{2}-\d{2}", text)
    if match is not None:
        try:
            return date.fromisoformat(match.group(0)).isoformat()
        except ValueError:
            return None
    return None


CLEANERS: Final[dict[str, Callable[[str], Any]]] = {
    "text": clean_text,
    "price": clean_price,
    "number": clean_number,
    "rating": clean_rating,
    "availability": clean_availability,
    "date": clean_date,
}
"""Cleaner name → function; every one returns ``None`` for text without a value."""
