"""What a scrape returns: records whose every field says where it came from, plus warnings.

Provenance matters for trust: a price from the page's JSON-LD is the shop's own statement, a
price found by the text fallback is a guess. Warnings make silent failure visible: a selector
that matched nothing, a blocked page, a malformed JSON-LD block that was skipped.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dropkit.crawl.cleaners import Availability

__all__ = [
    "FieldValue",
    "Offer",
    "Provenance",
    "Record",
    "Review",
    "ScrapeResult",
    "ScrapeWarning",
    "Timings",
    "WarningCode",
]


class Provenance(StrEnum):
    JSON_LD = "json-ld"
    MICRODATA = "microdata"
    OPENGRAPH = "opengraph"
    SELECTOR = "selector"
    FALLBACK = "fallback"


WarningCode = Literal[
    "selector_empty",
    "blocked",
    "malformed_json_ld",
    "missing_required",
    "rendered",
    "http_error",
]


class FieldValue(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: Any
    source: Provenance


class Record(BaseModel):
    """One extracted record (a page, or one element matched by the item selector)."""

    model_config = ConfigDict(frozen=True)

    url: str
    fields: dict[str, FieldValue]

    def get(self, name: str) -> Any:
        field = self.fields.get(name)
        return None if field is None else field.value


class ScrapeWarning(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: WarningCode
    message: str
    field: str | None = None


class Offer(BaseModel):
    """A competitor's product offer, normalised: exact price with an ISO 4217 code."""

    model_config = ConfigDict(frozen=True)

    url: str
    name: str | None = None
    sku: str | None = None
    brand: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    availability: Availability = Availability.UNKNOWN
    rating: Decimal | None = None
    review_count: int | None = None
    sources: dict[str, Provenance] = Field(default_factory=dict)


class Review(BaseModel):
    model_config = ConfigDict(frozen=True)

    rating: Decimal | None = None
    title: str | None = None
    body: str | None = None
    author: str | None = None
    date: dt.date | None = None
    verified: bool = False
    source: Provenance = Provenance.SELECTOR


class Timings(BaseModel):
    model_config = ConfigDict(frozen=True)

    fetch_ms: float = 0.0
    extract_ms: float = 0.0
    total_ms: float = 0.0


class ScrapeResult(BaseModel):
    """Everything one URL of a task yielded (following its pagination)."""

    model_config = ConfigDict(frozen=True)

    url: str
    final_url: str
    status: int | None
    render: Literal["http", "browser"]
    pages: int = 1
    records: list[Record] = Field(default_factory=list)
    offer: Offer | None = None
    reviews: list[Review] = Field(default_factory=list)
    warnings: list[ScrapeWarning] = Field(default_factory=list)
    blocked: bool = False
    error: str | None = None
    timings: Timings = Field(default_factory=Timings)

    def warning_codes(self) -> set[str]:
        return {w.code for w in self.warnings}
