"""Static lists of subscribers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dropkit.core.database import Database
from dropkit.core.errors import IntegrityError
from dropkit.outreach.errors import OutreachNotFoundError
from dropkit.outreach.models import new_id

__all__ = ["Lists", "SubscriberList"]


@dataclass(frozen=True)
class SubscriberList:
    id: str
    name: str
    size: int


class Lists:
    """Named lists; a subscriber can be on many."""

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = database
        self._clock = clock

    async def create(self, name: str) -> SubscriberList:
        """Create a list, or return the existing one with that name."""
        row = await self._db.fetchrow("SELECT id FROM outreach_lists WHERE name = {}", name)
        if row is None:
            with contextlib.suppress(IntegrityError):  # created concurrently, same name
                await self._db.execute(
                    "INSERT INTO outreach_lists (id, name, created_at) VALUES ({}, {}, {})",
                    new_id("lst"),
                    name,
                    self._clock(),
                )
        return await self.by_name(name)

    async def by_name(self, name: str) -> SubscriberList:
        row = await self._db.fetchrow(
            "SELECT l.id, l.name, (SELECT COUNT(*) FROM outreach_memberships m"
            " WHERE m.list_id = l.id) AS size FROM outreach_lists l WHERE l.name = {}",
            name,
        )
        if row is None:
            raise OutreachNotFoundError(f"no list named {name!r}")
        return SubscriberList(row["id"], row["name"], int(row["size"]))

    async def add(self, list_id: str, subscriber_ids: Iterable[str]) -> int:
        """Add subscribers to a list (already members are skipped); returns how many were new."""
        added = 0
        now = self._clock()
        async with self._db.transaction():
            if (
                await self._db.fetchval("SELECT id FROM outreach_lists WHERE id = {}", list_id)
                is None
            ):
                raise OutreachNotFoundError(f"no list {list_id!r}")
            for subscriber_id in subscriber_ids:
                row = await self._db.fetchrow(
                    "INSERT INTO outreach_memberships (list_id, subscriber_id, added_at)"
                    " VALUES ({}, {}, {}) ON CONFLICT DO NOTHING RETURNING list_id",
                    list_id,
                    subscriber_id,
                    now,
                )
                added += row is not None
        return added

    async def remove(self, list_id: str, subscriber_id: str) -> None:
        await self._db.execute(
            "DELETE FROM outreach_memberships WHERE list_id = {} AND subscriber_id = {}",
            list_id,
            subscriber_id,
        )

    async def members(self, list_id: str) -> list[str]:
        rows = await self._db.fetch(
            "SELECT s.email FROM outreach_memberships m JOIN outreach_subscribers s"
            " ON s.id = m.subscriber_id WHERE m.list_id = {} ORDER BY s.email",
            list_id,
        )
        return [row["email"] for row in rows]
