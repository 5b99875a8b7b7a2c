"""A fetched HTML page, parsed lazily: selectolax (lexbor) for CSS, lxml only for XPath.

Parsing dominates the cost of a static crawl, so a page is parsed by the fast parser once and
the slower lxml tree is built only when a task actually uses XPath.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import lxml.html  # type: ignore[import-untyped]
from selectolax.lexbor import LexborHTMLParser, LexborNode

from dropkit.crawl.tasks import FieldSpec

__all__ = ["Document", "select_values"]


class Document:
    """The HTML of one page at ``url`` (the final URL, after redirects)."""

    def __init__(self, html: str, url: str) -> None:
        self.html = html
        self.url = url

    @cached_property
    def tree(self) -> LexborHTMLParser:
        return LexborHTMLParser(self.html)

    @cached_property
    def lxml_tree(self) -> Any:
        return lxml.html.fromstring(self.html or "<html></html>", base_url=self.url)

    def text_of(self, selector: str) -> str | None:
        node = self.tree.css_first(selector)
        return None if node is None else node.text(separator=" ", strip=True)


def _node_value(node: LexborNode, attribute: str | None) -> str | None:
    if attribute is None:
        return node.text(separator=" ", strip=True)
    value = node.attributes.get(attribute)
    return None if value is None else str(value)


def _xpath_values(root: Any, spec: FieldSpec) -> list[str]:
    found = root.xpath(spec.selector)
    if not isinstance(found, list):  # string(), count(): a single value
        return [str(found)]
    values: list[str] = []
    for item in found:
        if isinstance(item, str):
            values.append(str(item))
        elif spec.attribute is not None:
            attr = item.get(spec.attribute)
            if attr is not None:
                values.append(str(attr))
        else:
            values.append(" ".join(item.text_content().split()))
    return values


def select_values(scope: Document | LexborNode, spec: FieldSpec) -> list[str]:
    """Raw strings the field's selector yields in ``scope`` (a page, or one item of a list)."""
    if spec.kind == "xpath":
        root = (
            scope.lxml_tree
            if isinstance(scope, Document)
            else lxml.html.fragment_fromstring(scope.html or "<div></div>", create_parent="div")
        )
        values = _xpath_values(root, spec)
    else:
        node_scope = scope.tree if isinstance(scope, Document) else scope
        nodes = (
            node_scope.css(spec.selector) if spec.many else [node_scope.css_first(spec.selector)]
        )
        values = [
            v for n in nodes if n is not None and (v := _node_value(n, spec.attribute)) is not None
        ]
    return values if spec.many else values[:1]
