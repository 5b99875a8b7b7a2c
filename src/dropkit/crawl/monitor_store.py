"""The monitors' tables: monitors, their competitors, and the observations of each run.

All the SQL of monitoring lives here, so the service reads as validation, fetching and change
detection. Writes that must land together (an observation and its events) are grouped by the
caller in one transaction on the same database.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from dropkit.core.database import Database, Row
from dropkit.crawl.monitor_models import Competitor, CompetitorInput, Monitor, Observation
from dropkit.crawl.tasks import FieldSpec, RenderMode

__all__ = ["MonitorStore"]


class MonitorStore:
    """Reads and writes ``crawl_monitors``, ``crawl_competitors`` and ``crawl_observations``."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(
        self,
        monitor_id: str,
        variant_id: str,
        competitors: Sequence[CompetitorInput],
        *,
        name: str,
        price_threshold: Decimal,
        render: RenderMode,
        now: float,
    ) -> None:
        """Insert a monitor and its competitors (in their given order) in one transaction."""
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO crawl_monitors (id, variant_id, name, price_threshold, render,"
                " active, created_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
                monitor_id,
                variant_id,
                name,
                format(price_threshold, "f"),
                render.value,
                True,
                now,
            )
            for position, item in enumerate(competitors):
                await self._db.execute(
                    "INSERT INTO crawl_competitors (id, monitor_id, url, label, fields,"
                    " position, created_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
                    f"cmp_{uuid.uuid4().hex}",
                    monitor_id,
                    item.url,
                    item.label,
                    json.dumps({k: v.model_dump() for k, v in item.fields.items()}),
                    position,
                    now,
                )

    async def monitor(self, monitor_id: str) -> Monitor | None:
        row = await self._db.fetchrow("SELECT * FROM crawl_monitors WHERE id = {}", monitor_id)
        return None if row is None else await self._with_competitors(row)

    async def monitors(self, *, variant_id: str | None, active_only: bool) -> list[Monitor]:
        rows = await self._db.fetch("SELECT * FROM crawl_monitors ORDER BY created_at, id")
        return [
            await self._with_competitors(row)
            for row in rows
            if (variant_id is None or row["variant_id"] == variant_id)
            and (not active_only or row["active"])
        ]

    async def set_active(self, monitor_id: str, active: bool) -> None:
        await self._db.execute(
            "UPDATE crawl_monitors SET active = {} WHERE id = {}", active, monitor_id
        )

    async def mark_run(self, monitor_id: str, at: float) -> None:
        await self._db.execute(
            "UPDATE crawl_monitors SET last_run_at = {} WHERE id = {}", at, monitor_id
        )

    async def previous(self, competitor_id: str) -> Observation | None:
        """The competitor's latest observation of a page that was read."""
        row = await self._db.fetchrow(
            "SELECT * FROM crawl_observations WHERE competitor_id = {} AND ok = {}"
            " ORDER BY observed_at DESC, id DESC LIMIT 1",
            competitor_id,
            True,
        )
        return None if row is None else Observation.from_row(row)

    async def add_observation(self, observation: Observation) -> None:
        await self._db.execute(
            "INSERT INTO crawl_observations (competitor_id, observed_at, ok, price, currency,"
            " availability, matched, drift, blocked, error)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            observation.competitor_id,
            observation.observed_at.timestamp(),
            observation.ok,
            None if observation.price is None else format(observation.price, "f"),
            observation.currency,
            observation.availability.value,
            json.dumps(observation.matched),
            json.dumps(observation.drift),
            observation.blocked,
            observation.error,
        )

    async def _with_competitors(self, row: Row) -> Monitor:
        competitors = await self._db.fetch(
            "SELECT * FROM crawl_competitors WHERE monitor_id = {} ORDER BY position, id",
            row["id"],
        )
        last = row["last_run_at"]
        return Monitor(
            id=row["id"],
            variant_id=row["variant_id"],
            name=row["name"],
            price_threshold=Decimal(str(row["price_threshold"])),
            render=RenderMode(row["render"]),
            active=bool(row["active"]),
            created_at=datetime.fromtimestamp(float(row["created_at"]), UTC),
            last_run_at=None if last is None else datetime.fromtimestamp(float(last), UTC),
            competitors=[_competitor(c) for c in competitors],
        )


def _competitor(row: Row) -> Competitor:
    fields = row["fields"]
    raw = json.loads(fields) if isinstance(fields, str) else fields
    return Competitor(
        id=row["id"],
        monitor_id=row["monitor_id"],
        url=row["url"],
        label=row["label"],
        fields={k: FieldSpec.model_validate(v) for k, v in raw.items()},
    )
