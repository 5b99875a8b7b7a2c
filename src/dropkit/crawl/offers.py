"""The offer cascade: one normalised :class:`Offer` per product page.

Each offer field is taken from the first source that has it, in order of trust: JSON-LD,
microdata, OpenGraph (the shop's own machine-readable statements), then the task's selectors,
then text fallbacks (common price/stock markup, the ``<h1>``). Each field records its source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from dropkit.core.currencies import CURRENCY_EXPONENTS
from dropkit.crawl.cleaners import Availability, clean_availability, clean_number, clean_rating
from dropkit.crawl.document import Document, select_values
from dropkit.crawl.prices import parse_price
from dropkit.crawl.results import Offer, Provenance
from dropkit.crawl.structured import StructuredData, find_typed
from dropkit.crawl.tasks import FieldSpec

__all__ = ["OFFER_FIELDS", "build_offer"]

OFFER_FIELDS: Final = (
    "name",
    "sku",
    "brand",
    "price",
    "currency",
    "availability",
    "rating",
    "review_count",
)
Candidates = dict[str, Any]
_ALL: Final = frozenset(OFFER_FIELDS)
_FALLBACK_GIVES: Final = frozenset({"name", "price", "currency", "availability"})

_PRICE_FALLBACKS: Final = (
    ('[itemprop="price"]', "content"),
    ("[data-price]", "data-price"),
    (".price", None),
    ('[class*="price"]', None),
)
_STOCK_FALLBACKS: Final = (
    ('[itemprop="availability"]', "href"),
    ('[itemprop="availability"]', "content"),
    (".availability", None),
    (".stock", None),
    ('[class*="stock"]', None),
    ('[class*="availability"]', None),
)


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _from_product(product: Mapping[str, Any]) -> Candidates:
    """Offer fields from a schema.org Product (JSON-LD or extruct's uniform microdata)."""
    found: Candidates = {
        "name": _text(product.get("name")),
        "sku": _text(product.get("sku") or product.get("mpn") or product.get("gtin13")),
        "brand": _text(product.get("brand")),
    }
    offer = _first(product.get("offers"))
    if isinstance(offer, dict):
        spec = _first(offer.get("priceSpecification"))
        spec = spec if isinstance(spec, dict) else {}
        price = offer.get("price", offer.get("lowPrice", spec.get("price")))
        currency = offer.get("priceCurrency") or spec.get("priceCurrency")
        parsed = parse_price(
            price if isinstance(price, Decimal | int) else _text(price), currency=_text(currency)
        )
        if parsed is not None:
            found["price"] = parsed.amount
            found["currency"] = parsed.currency
        availability = _text(offer.get("availability"))
        if availability:
            found["availability"] = clean_availability(availability)
    rating = product.get("aggregateRating")
    if isinstance(rating, dict):
        best = _decimal(rating.get("bestRating")) or Decimal(5)
        value = _decimal(rating.get("ratingValue"))
        if value is not None and best > 0:
            found["rating"] = (value / best * 5).quantize(Decimal("0.01")).normalize()
        count = rating.get("reviewCount", rating.get("ratingCount"))
        found["review_count"] = clean_number(str(count)) if count is not None else None
    return {k: v for k, v in found.items() if v is not None}


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        return None


def _from_opengraph(og: Mapping[str, str]) -> Candidates:
    found: Candidates = {}
    if og.get("og:title"):
        found["name"] = og["og:title"].strip()
    amount = og.get("product:price:amount") or og.get("og:price:amount")
    currency = og.get("product:price:currency") or og.get("og:price:currency")
    parsed = parse_price(amount, currency=currency)
    if parsed is not None:
        found["price"], found["currency"] = parsed.amount, parsed.currency
    stock = og.get("product:availability") or og.get("og:availability")
    if stock and (availability := clean_availability(stock)):
        found["availability"] = availability
    return found


def _known_code(raw: str) -> str | None:
    code = raw.strip().upper()
    return code if code in CURRENCY_EXPONENTS else None


_SELECTOR_CLEAN: Final[dict[str, Callable[[str], Any]]] = {
    "rating": clean_rating,
    "review_count": clean_number,
    "availability": clean_availability,
    "currency": _known_code,
}


def _from_selectors(document: Document, fields: Mapping[str, FieldSpec]) -> Candidates:
    found: Candidates = {}
    for name in OFFER_FIELDS:
        spec = fields.get(name)
        if spec is None:
            continue
        values = select_values(document, spec)
        if not values:
            continue
        raw = values[0]
        if name == "price":
            currency = fields.get("currency")
            hint = select_values(document, currency)[:1] if currency else []
            parsed = parse_price(raw, currency=hint[0].strip() if hint else None)
            if parsed is not None:
                found["price"] = parsed.amount
                if parsed.currency:
                    found["currency"] = parsed.currency
        else:
            cleaner = _SELECTOR_CLEAN.get(name)
            value = cleaner(raw) if cleaner is not None else _text(raw)
            if value is not None:
                found[name] = value
    return found


def _from_fallbacks(document: Document) -> Candidates:
    found: Candidates = {}
    tree = document.tree
    heading = document.text_of("h1") or document.text_of("title")
    if heading:
        found["name"] = heading
    currency_node = tree.css_first('[itemprop="priceCurrency"]')
    hint = None if currency_node is None else currency_node.attributes.get("content")
    for selector, attribute in _PRICE_FALLBACKS:
        node = tree.css_first(selector)
        if node is None:
            continue
        raw = node.attributes.get(attribute) if attribute else node.text(separator=" ")
        parsed = parse_price(raw, currency=hint) if raw else None
        if parsed is not None:
            found["price"], found["currency"] = parsed.amount, parsed.currency
            break
    for selector, attribute in _STOCK_FALLBACKS:
        node = tree.css_first(selector)
        if node is None:
            continue
        raw = node.attributes.get(attribute) if attribute else node.text(separator=" ")
        if raw and (availability := clean_availability(raw)):
            found["availability"] = availability
            break
    return {k: v for k, v in found.items() if v is not None}


def build_offer(
    document: Document, structured: StructuredData, fields: Mapping[str, FieldSpec]
) -> Offer:
    """Run the cascade over one page; every field's winner is recorded in ``sources``."""
    # (source, the fields it can give, how to collect them): a source is skipped when it could
    # only give fields already found, which keeps the fallback scans off most pages.
    cascade: list[tuple[Provenance, frozenset[str], Callable[[], Candidates]]] = [
        (
            Provenance.JSON_LD,
            _ALL,
            lambda: _merge(find_typed(structured.json_ld, "Product")),
        ),
        (
            Provenance.MICRODATA,
            _ALL,
            lambda: _merge(find_typed(structured.microdata, "Product")),
        ),
        (Provenance.OPENGRAPH, _ALL, lambda: _from_opengraph(structured.opengraph)),
        (Provenance.SELECTOR, _ALL & set(fields), lambda: _from_selectors(document, fields)),
        (Provenance.FALLBACK, _FALLBACK_GIVES, lambda: _from_fallbacks(document)),
    ]
    values: Candidates = {}
    sources: dict[str, Provenance] = {}
    for provenance, gives, collect in cascade:
        missing = [f for f in OFFER_FIELDS if f not in values]
        if not missing:
            break
        if gives.isdisjoint(missing):
            continue
        for name, value in collect().items():
            if name in missing and value is not None:
                values[name], sources[name] = value, provenance
    availability = values.get("availability")
    return Offer(
        url=document.url,
        name=values.get("name"),
        sku=values.get("sku"),
        brand=values.get("brand"),
        price=values.get("price"),
        currency=values.get("currency"),
        availability=Availability(availability) if availability else Availability.UNKNOWN,
        rating=values.get("rating"),
        review_count=values.get("review_count"),
        sources=sources,
    )


def _merge(products: list[dict[str, Any]]) -> Candidates:
    merged: Candidates = {}
    for product in products:
        for key, value in _from_product(product).items():
            merged.setdefault(key, value)
    return merged
