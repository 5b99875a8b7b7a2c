"""Building blocks shared by the store's services: ids, timestamps, JSON, slugs, input models.

Input models derive from :class:`InputModel`, whose refusals raise dropkit's typed errors (the
:class:`~dropkit.core.errors.DropkitError` a validator raised, such as
:class:`~dropkit.core.errors.InvalidAmountError`, or :class:`~dropkit.core.errors.ValidationError`)
instead of pydantic's, so callers catch one exception family.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from dropkit.commerce.errors import InvalidQuantityError
from dropkit.core.database import Database, Row, param_list
from dropkit.core.errors import DropkitError, ValidationError

__all__ = [
    "IN_CHUNK",
    "MAX_STOCK",
    "InputModel",
    "check_quantity",
    "check_slug",
    "check_text",
    "chunks",
    "fetch_grouped",
    "from_json",
    "from_ts",
    "new_id",
    "param_list",
    "slugify",
]

MAX_STOCK = 10**9
"""Largest stock count accepted anywhere: a bigger number is a typo, not a warehouse."""

IN_CHUNK = 500
"""Ids per ``IN (...)`` list: far below SQLite's bound-parameter limit."""

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SLUG_MAX = 100


def slugify(text: str, *, fallback: str = "item", max_length: int = 80) -> str:
    """``"Blue Tee (XL)!"`` -> ``"blue-tee-xl"``: ASCII, lowercase, hyphens; never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rstrip("-")
    return slug or fallback


def check_slug(slug: str) -> str:
    """Return ``slug`` if it is lowercase a-z, 0-9 and single hyphens (1-100 chars)."""
    if not isinstance(slug, str) or not (0 < len(slug) <= _SLUG_MAX) or not _SLUG.match(slug):
        raise ValidationError(
            f"slug {slug!r} must be 1-{_SLUG_MAX} characters of a-z, 0-9 and single hyphens"
        )
    return slug


def new_id(prefix: str) -> str:
    """``prd_3f2a...``: the prefix says what kind of record an id names."""
    return f"{prefix}_{uuid.uuid4().hex}"


def from_ts(value: Any) -> datetime:
    """An epoch column as an aware UTC datetime."""
    return datetime.fromtimestamp(float(value), UTC)


def from_json(value: Any) -> Any:
    """A JSON column: text on SQLite (and asyncpg without codecs), decoded values otherwise."""
    return json.loads(value) if isinstance(value, str) else value


def _typed(exc: PydanticValidationError, model: str) -> DropkitError:
    """The dropkit error behind a pydantic refusal (so callers catch one family)."""
    errors = exc.errors()
    for error in errors:
        original = (error.get("ctx") or {}).get("error")
        if isinstance(original, DropkitError):
            where = ".".join(str(part) for part in error["loc"])
            try:
                return type(original)(f"{model}.{where}: {original}" if where else str(original))
            except TypeError:  # an error class with a richer constructor: keep it as is
                return original
    details = "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or model}: {error['msg']}" for error in errors
    )
    return ValidationError(f"invalid {model}: {details}")


class InputModel(BaseModel):
    """Base of the store's input models: a refusal raises a dropkit error, not pydantic's."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as exc:
            raise _typed(exc, type(self).__name__) from None

    @classmethod
    def coerce(cls, value: Self | Mapping[str, Any]) -> Self:
        """``value`` itself, or the model built from a mapping (typed errors either way)."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected {cls.__name__} or a mapping, not {value!r}")
        return cls(**value)


def check_quantity(value: int, what: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuantityError(f"{what} must be an integer, not {value!r}")
    if value < minimum:
        raise InvalidQuantityError(f"{what} must be at least {minimum}, got {value}")
    if value > MAX_STOCK:
        raise InvalidQuantityError(f"{what} {value} is absurd (more than {MAX_STOCK})")
    return value


def check_text(value: str, what: str, *, max_length: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, not {type(value).__name__}")
    text = value.strip()
    if required and not text:
        raise ValidationError(f"{what} must not be empty")
    if len(text) > max_length:
        raise ValidationError(f"{what} is longer than {max_length} characters")
    if "\x00" in text:
        raise ValidationError(f"{what} contains a NUL character")
    return text


def chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    """``items`` in slices of :data:`IN_CHUNK` (one query each)."""
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


T = TypeVar("T")


async def fetch_grouped(
    db: Database, sql: str, keys: Sequence[str], column: str, convert: Callable[[Row], T]
) -> dict[str, list[T]]:
    """The rows of many keys at once, grouped by ``column``: one query per :data:`IN_CHUNK`
    keys instead of one per key (no N+1 in listings and GraphQL).

    ``sql`` writes its IN list as ``IN ({ids})``; every key gets an entry, empty if no row.
    """
    result: dict[str, list[T]] = {key: [] for key in keys}
    for chunk in chunks(list(dict.fromkeys(keys))):
        rows = await db.fetch(sql.replace("{ids}", param_list(len(chunk))), *chunk)
        for row in rows:
            result[row[column]].append(convert(row))
    return result
