"""Structured data embedded in a page: JSON-LD, microdata and OpenGraph.

JSON-LD is read script by script with :mod:`json`: a shop with one malformed block (a trailing
comma, an unescaped quote in a review) keeps the product data of its other blocks, where
extracting all syntaxes at once can lose everything. Microdata and OpenGraph go through extruct,
and only when the page has any (a cheap substring test), since extruct parses the page again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dropkit.crawl.document import Document

__all__ = ["StructuredData", "find_typed", "read_structured"]


@dataclass
class StructuredData:
    json_ld: list[dict[str, Any]] = field(default_factory=list)
    microdata: list[dict[str, Any]] = field(default_factory=list)
    opengraph: dict[str, str] = field(default_factory=dict)
    malformed_json_ld: int = 0


def _flatten(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    elif isinstance(value, dict):
        yield value
        if "@graph" in value:
            yield from _flatten(value["@graph"])


def _json_ld(document: Document) -> tuple[list[dict[str, Any]], int]:
    blocks: list[dict[str, Any]] = []
    malformed = 0
    for script in document.tree.css('script[type="application/ld+json"]'):
        text = (script.text(deep=True) or "").strip()
        if not text:
            continue
        try:
            # strict=False: raw newlines in strings; Decimal: prices stay exact
            parsed = json.loads(text, strict=False, parse_float=Decimal)
        except ValueError:
            malformed += 1
            continue
        blocks.extend(_flatten(parsed))
    return blocks, malformed


def read_structured(document: Document) -> StructuredData:
    """Every JSON-LD object, microdata item and OpenGraph property of ``document``."""
    json_ld, malformed = _json_ld(document)
    data = StructuredData(json_ld=json_ld, malformed_json_ld=malformed)
    html = document.html
    if "itemscope" in html or 'property="og:' in html or 'property="product:' in html:
        import extruct  # type: ignore[import-untyped]

        try:
            extracted = extruct.extract(
                html, base_url=document.url, syntaxes=["microdata", "opengraph"], uniform=True
            )
        except Exception:  # extruct's parsers raise assorted errors on broken markup
            extracted = {}
        data.microdata = list(_flatten(extracted.get("microdata", [])))
        for block in extracted.get("opengraph", []):
            for key, value in block.items():
                if not key.startswith("@") and isinstance(value, str):
                    data.opengraph.setdefault(key, value)
    return data


def _types(item: dict[str, Any]) -> set[str]:
    raw = item.get("@type", ())
    names = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    return {str(n).rsplit("/", 1)[-1].lower() for n in names}


def find_typed(items: list[dict[str, Any]], type_name: str) -> list[dict[str, Any]]:
    """Items (and nested items) whose ``@type`` is ``type_name`` (schema.org, any prefix)."""
    wanted = type_name.lower()
    found: list[dict[str, Any]] = []

    def visit(value: Any) -> None:
        if isinstance(value, list):
            for v in value:
                visit(v)
        elif isinstance(value, dict):
            if wanted in _types(value):
                found.append(value)
            for key, v in value.items():
                if not key.startswith("@"):
                    visit(v)

    visit(items)
    return found
