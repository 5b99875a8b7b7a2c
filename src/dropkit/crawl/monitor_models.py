"""What a monitor is made of: its competitors, their observations, and what a run saw.

Kept apart from the service so the trends (which read observations) and the change detection
can use these without the service's database and crawler.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dropkit.core.database import Row
from dropkit.core.events import Event
from dropkit.crawl.cleaners import Availability
from dropkit.crawl.tasks import FieldSpec, RenderMode

__all__ = ["Competitor", "CompetitorInput", "Monitor", "MonitorRun", "Observation"]


class CompetitorInput(BaseModel):
    """A competitor page to watch; ``fields`` are selectors for shops without structured data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    label: str = ""
    fields: dict[str, FieldSpec] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")) or len(url) > 2048:
            raise ValueError(f"competitor URL must be http(s), at most 2048 characters: {url!r}")
        return url


class Competitor(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    monitor_id: str
    url: str
    label: str
    fields: dict[str, FieldSpec]


class Monitor(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    variant_id: str
    name: str
    price_threshold: Decimal
    render: RenderMode
    active: bool
    created_at: datetime
    last_run_at: datetime | None
    competitors: list[Competitor]


class Observation(BaseModel):
    model_config = ConfigDict(frozen=True)

    competitor_id: str
    observed_at: datetime
    ok: bool  # the page was read (not blocked, no error); price may still be missing
    price: Decimal | None
    currency: str | None
    availability: Availability
    matched: list[str]
    drift: list[str]
    blocked: bool
    error: str | None

    @classmethod
    def from_row(cls, row: Row) -> Observation:
        def listed(value: Any) -> list[str]:
            return list(json.loads(value) if isinstance(value, str) else value)

        return cls(
            competitor_id=row["competitor_id"],
            observed_at=datetime.fromtimestamp(float(row["observed_at"]), UTC),
            ok=bool(row["ok"]),
            price=None if row["price"] is None else Decimal(str(row["price"])),
            currency=row["currency"],
            availability=Availability(row["availability"]),
            matched=listed(row["matched"]),
            drift=listed(row["drift"]),
            blocked=bool(row["blocked"]),
            error=row["error"],
        )


@dataclass
class MonitorRun:
    """What one run saw: an observation per competitor and the events it published."""

    monitor: Monitor
    observations: list[Observation] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
