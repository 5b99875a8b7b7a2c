"""The state every section of :class:`~dropkit.commerce.catalog.Catalog` works on.

The catalog is assembled from one mixin per concern; they all derive from :class:`CatalogBase`
so each sees the same typed attributes, which ``Catalog.__init__`` sets.
"""

from __future__ import annotations

from collections.abc import Callable

from dropkit.core.database import Database
from dropkit.core.events import EventBus

__all__ = ["CatalogBase"]


class CatalogBase:
    """The database, event bus and clock shared by the catalog's sections."""

    _db: Database
    _events: EventBus
    _clock: Callable[[], float]
