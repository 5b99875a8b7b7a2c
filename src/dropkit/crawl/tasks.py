"""What to scrape: a :class:`ScrapeTask` is validated at the boundary, selectors included.

A bad selector is refused when the task is built (a :class:`TaskError`), not discovered on the
thousandth page. Fields are CSS (selectolax) by default or XPath (lxml); each names a cleaner.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, Self

from lxml import etree  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from dropkit.crawl.cleaners import CleanerName
from dropkit.crawl.errors import TaskError

__all__ = ["FieldSpec", "Pagination", "RenderMode", "ScrapeTask", "check_css", "check_xpath"]

_PROBE = LexborHTMLParser("<html><body></body></html>")


class RenderMode(StrEnum):
    """``http``: static HTML only; ``browser``: Chromium renders; ``auto``: browser if needed."""

    HTTP = "http"
    BROWSER = "browser"
    AUTO = "auto"


def check_css(selector: str) -> str:
    """Refuse a CSS selector selectolax cannot parse."""
    try:
        _PROBE.css(selector)
    except SelectolaxError as exc:
        raise ValueError(f"bad CSS selector {selector!r}: {exc}") from None
    return selector


def check_xpath(selector: str) -> str:
    """Refuse an XPath expression lxml cannot compile."""
    try:
        etree.XPath(selector)
    except etree.XPathSyntaxError as exc:
        raise ValueError(f"bad XPath {selector!r}: {exc}") from None
    return selector


class FieldSpec(BaseModel):
    """One field: where it is (selector), what to read (text or an attribute), how to clean it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    selector: str = Field(min_length=1)
    kind: Literal["css", "xpath"] = "css"
    attribute: str | None = None
    many: bool = False
    cleaner: CleanerName = "text"

    @model_validator(mode="after")
    def _valid_selector(self) -> Self:
        (check_css if self.kind == "css" else check_xpath)(self.selector)
        return self


class Pagination(BaseModel):
    """Follow the link matched by ``next_selector`` (CSS, its ``href``) up to ``max_pages``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    next_selector: str = Field(min_length=1)
    max_pages: int = Field(default=5, ge=1, le=200)

    @field_validator("next_selector")
    @classmethod
    def _css(cls, value: str) -> str:
        return check_css(value)


class ScrapeTask(BaseModel):
    """A scraping job: the URLs, the fields to extract and how to fetch the pages.

    ``offer`` builds the normalised product :class:`~dropkit.crawl.Offer` through the cascade
    (structured data, then these fields, then text fallbacks); ``reviews`` collects reviews;
    ``item_selector`` makes one record per matched element (fields are then relative to it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    urls: tuple[str, ...] = Field(min_length=1, max_length=10_000)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    item_selector: str | None = None
    render: RenderMode = RenderMode.HTTP
    wait_for: str | None = None
    pagination: Pagination | None = None
    offer: bool = True
    reviews: bool = False
    required: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _single_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and "url" in data:
            data = dict(data)
            url = data.pop("url")
            data["urls"] = (url, *data.get("urls", ()))
        return data

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"URL must be http(s): {url!r}")
        return urls

    @field_validator("item_selector", "wait_for")
    @classmethod
    def _optional_css(cls, value: str | None) -> str | None:
        return None if value is None else check_css(value)

    @model_validator(mode="after")
    def _required_fields_exist(self) -> Self:
        unknown = set(self.required) - set(self.fields) - {"price"}
        if unknown:
            raise ValueError(f"required fields are not defined: {sorted(unknown)}")
        return self

    @classmethod
    def build(cls, **values: Any) -> ScrapeTask:
        """Validate like the constructor, raising :class:`TaskError` instead of pydantic's."""
        from pydantic import ValidationError as PydanticValidationError

        try:
            return cls.model_validate(values)
        except PydanticValidationError as exc:
            raise TaskError(f"invalid scrape task: {exc}") from None
