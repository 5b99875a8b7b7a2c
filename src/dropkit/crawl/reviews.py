"""Reviews from a page: schema.org ``Review`` items, or records of the task's item selector.

Selector-based reviews use the task's fields named ``rating``, ``title``, ``body``, ``author``,
``date`` and ``verified`` (any non-empty match counts as verified).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from dropkit.crawl.cleaners import clean_date, clean_rating
from dropkit.crawl.results import Provenance, Record, Review
from dropkit.crawl.structured import StructuredData, find_typed

__all__ = ["reviews_from_records", "reviews_from_structured"]


def _name(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else (" ".join(str(value).split()) or None)


def _date(value: Any) -> date | None:
    cleaned = clean_date(str(value)) if value is not None else None
    return None if cleaned is None else date.fromisoformat(cleaned)


def _rating(value: Any) -> Decimal | None:
    if isinstance(value, dict):
        best = value.get("bestRating", 5)
        value = value.get("ratingValue")
        if value is None:
            return None
        cleaned = clean_rating(f"{value}/{best}")
    else:
        cleaned = None if value is None else clean_rating(str(value))
    return None if cleaned is None else Decimal(cleaned)


def reviews_from_structured(structured: StructuredData) -> list[Review]:
    """Every schema.org Review in the page's JSON-LD and microdata."""
    reviews: list[Review] = []
    for items, source in (
        (structured.json_ld, Provenance.JSON_LD),
        (structured.microdata, Provenance.MICRODATA),
    ):
        for item in find_typed(items, "Review"):
            reviews.append(
                Review(
                    rating=_rating(item.get("reviewRating")),
                    title=_name(item.get("name") or item.get("headline")),
                    body=_name(item.get("reviewBody") or item.get("description")),
                    author=_name(item.get("author")),
                    date=_date(item.get("datePublished")),
                    verified=bool(item.get("verified") or item.get("isVerified")),
                    source=source,
                )
            )
    return reviews


def reviews_from_records(records: list[Record]) -> list[Review]:
    """Reviews from item-selector records (one record per review element)."""
    reviews: list[Review] = []
    for record in records:
        if not any(record.get(k) for k in ("rating", "body", "title")):
            continue
        verified = record.get("verified")
        reviews.append(
            Review(
                rating=_rating(record.get("rating")),
                title=_name(record.get("title")),
                body=_name(record.get("body")),
                author=_name(record.get("author")),
                date=_date(record.get("date")),
                verified=bool(verified) and str(verified).strip().lower() not in ("false", "no"),
                source=Provenance.SELECTOR,
            )
        )
    return reviews
