"""Extraction of one page against a task: records, the offer, reviews, warnings, next page."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

from selectolax.lexbor import LexborNode

from dropkit.crawl.cleaners import CLEANERS
from dropkit.crawl.document import Document, select_values
from dropkit.crawl.offers import build_offer
from dropkit.crawl.results import FieldValue, Offer, Provenance, Record, Review, ScrapeWarning
from dropkit.crawl.reviews import reviews_from_records, reviews_from_structured
from dropkit.crawl.structured import read_structured
from dropkit.crawl.tasks import FieldSpec, ScrapeTask

__all__ = ["PageExtraction", "extract_page", "missing_fields"]


@dataclass
class PageExtraction:
    records: list[Record] = field(default_factory=list)
    offer: Offer | None = None
    reviews: list[Review] = field(default_factory=list)
    warnings: list[ScrapeWarning] = field(default_factory=list)
    next_url: str | None = None


def _record(scope: Document | LexborNode, url: str, fields: dict[str, FieldSpec]) -> Record:
    values: dict[str, FieldValue] = {}
    for name, spec in fields.items():
        raw = select_values(scope, spec)
        clean = CLEANERS[spec.cleaner]
        cleaned = [c for c in (clean(r) for r in raw) if c is not None]
        if cleaned:
            value = cleaned if spec.many else cleaned[0]
            values[name] = FieldValue(value=value, source=Provenance.SELECTOR)
    return Record(url=url, fields=values)


def extract_page(document: Document, task: ScrapeTask) -> PageExtraction:
    """Everything ``task`` asks of ``document``; structured data is read only if needed."""
    result = PageExtraction()
    fields = dict(task.fields)
    if task.item_selector is not None:
        items = document.tree.css(task.item_selector)
        result.records = [_record(item, document.url, fields) for item in items]
        if not items:
            result.warnings.append(
                ScrapeWarning(
                    code="selector_empty",
                    message=f"item selector {task.item_selector!r} matched nothing",
                    field=None,
                )
            )
    elif fields:
        result.records = [_record(document, document.url, fields)]
    if fields and result.records:
        for name in fields:
            if all(name not in r.fields for r in result.records):
                result.warnings.append(
                    ScrapeWarning(
                        code="selector_empty",
                        message=f"field {name!r} matched nothing",
                        field=name,
                    )
                )
    if task.offer or task.reviews:
        structured = read_structured(document)
        if structured.malformed_json_ld:
            result.warnings.append(
                ScrapeWarning(
                    code="malformed_json_ld",
                    message=f"{structured.malformed_json_ld} JSON-LD block(s) could not be "
                    "parsed and were skipped",
                )
            )
        if task.offer:
            result.offer = build_offer(document, structured, fields)
        if task.reviews:
            result.reviews = reviews_from_structured(structured)
            if task.item_selector is not None:
                result.reviews.extend(reviews_from_records(result.records))
    if task.pagination is not None:
        link = document.tree.css_first(task.pagination.next_selector)
        href = None if link is None else link.attributes.get("href")
        if href:
            result.next_url = urljoin(document.url, href)
    return result


def missing_fields(extraction: PageExtraction, task: ScrapeTask) -> list[str]:
    """Fields the task needs that this page did not yield (decides ``auto`` rendering)."""
    wanted = list(task.required) or list(task.fields)
    missing: list[str] = []
    for name in wanted:
        if name == "price" and extraction.offer is not None and extraction.offer.price is not None:
            continue
        if not any(name in r.fields for r in extraction.records):
            missing.append(name)
    if (
        task.offer
        and not task.required
        and (extraction.offer is None or extraction.offer.price is None)
    ):
        missing.append("price")
    return sorted(set(missing))
