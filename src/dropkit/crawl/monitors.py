"""Monitors: competitor pages watched for one of our variants, observed as a time series.

:meth:`Monitors.run` scrapes every competitor, stores one observation each, and compares it with
that competitor's previous good observation: a price move of at least the monitor's threshold
publishes ``competitor.price_changed``, a move in or out of stock ``competitor.stock_changed``,
and offer fields that matched last time but not now ``competitor.selector_drifted`` (judged
only on a page that was actually read: a failed fetch, an error status or a block page says
nothing about the selectors). Competitors are fetched concurrently (``concurrency`` at a time;
the per-site throttle keeps each shop's pace). Each observation and its events are written in
one transaction, so no event is lost or invented.
"""

from __future__ import annotations

import builtins
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from dropkit.core.database import Database, Row
from dropkit.core.errors import NotFoundError
from dropkit.core.events import Event, EventBus
from dropkit.crawl.cleaners import Availability
from dropkit.crawl.crawler import Crawler
from dropkit.crawl.errors import CrawlError, TaskError
from dropkit.crawl.events import (
    CompetitorPriceChanged,
    CompetitorSelectorDrifted,
    CompetitorStockChanged,
)
from dropkit.crawl.results import ScrapeResult
from dropkit.crawl.tasks import FieldSpec, RenderMode, ScrapeTask

__all__ = ["Competitor", "CompetitorInput", "Monitor", "MonitorRun", "Monitors", "Observation"]


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


class Monitors:
    """Create, list and run competitor monitors."""

    def __init__(
        self,
        database: Database,
        events: EventBus,
        crawler: Crawler,
        *,
        clock: Callable[[], float] = time.time,
        concurrency: int = 8,
    ) -> None:
        if concurrency < 1:
            raise TaskError("monitor concurrency must be positive")
        self._concurrency = concurrency
        self._db = database
        self._events = events
        self._crawler = crawler
        self._clock = clock

    async def create(
        self,
        variant_id: str,
        competitors: Sequence[str | CompetitorInput | Mapping[str, Any]],
        *,
        name: str = "",
        price_threshold: Decimal | str = Decimal("0.01"),
        render: RenderMode | str = RenderMode.HTTP,
    ) -> Monitor:
        """Watch ``competitors`` for ``variant_id``; a price move of ``price_threshold``
        (a fraction: 0.01 is 1 %) or more is reported."""
        try:
            inputs = [
                CompetitorInput(url=c) if isinstance(c, str) else CompetitorInput.model_validate(c)
                for c in competitors
            ]
            threshold = Decimal(str(price_threshold))
            mode = RenderMode(render)
        except (PydanticValidationError, ArithmeticError, ValueError) as exc:
            raise TaskError(f"invalid monitor: {exc}") from None
        if not variant_id.strip():
            raise TaskError("a monitor needs the variant it watches prices for")
        if not inputs:
            raise TaskError("a monitor needs at least one competitor URL")
        if len({c.url for c in inputs}) != len(inputs):
            raise TaskError("competitor URLs of a monitor must be distinct")
        if not threshold.is_finite() or not 0 <= threshold < 1:
            raise TaskError("price_threshold is a fraction in [0, 1)")
        monitor_id = f"mon_{uuid.uuid4().hex}"
        now = self._clock()
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO crawl_monitors (id, variant_id, name, price_threshold, render,"
                " active, created_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
                monitor_id,
                variant_id,
                name,
                format(threshold, "f"),
                mode.value,
                True,
                now,
            )
            for position, item in enumerate(inputs):
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
        return await self.get(monitor_id)

    async def get(self, monitor_id: str) -> Monitor:
        row = await self._db.fetchrow("SELECT * FROM crawl_monitors WHERE id = {}", monitor_id)
        if row is None:
            raise NotFoundError(f"no monitor {monitor_id!r}")
        return await self._with_competitors(row)

    async def list(
        self, *, variant_id: str | None = None, active_only: bool = False
    ) -> builtins.list[Monitor]:
        rows = await self._db.fetch("SELECT * FROM crawl_monitors ORDER BY created_at, id")
        return [
            await self._with_competitors(row)
            for row in rows
            if (variant_id is None or row["variant_id"] == variant_id)
            and (not active_only or row["active"])
        ]

    async def set_active(self, monitor_id: str, active: bool) -> Monitor:
        await self.get(monitor_id)
        await self._db.execute(
            "UPDATE crawl_monitors SET active = {} WHERE id = {}", active, monitor_id
        )
        return await self.get(monitor_id)

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

    async def _previous(self, competitor_id: str) -> Observation | None:
        row = await self._db.fetchrow(
            "SELECT * FROM crawl_observations WHERE competitor_id = {} AND ok = {}"
            " ORDER BY observed_at DESC, id DESC LIMIT 1",
            competitor_id,
            True,
        )
        return None if row is None else Observation.from_row(row)

    # -- running -----------------------------------------------------------------------------

    async def run(self, monitor_id: str) -> MonitorRun:
        """Observe every competitor once; store observations, publish change events."""
        monitor = await self.get(monitor_id)
        run = MonitorRun(monitor)
        results: dict[str, ScrapeResult | str] = {}
        limit = anyio.Semaphore(self._concurrency)

        async def observe(competitor: Competitor) -> None:
            task = ScrapeTask(
                urls=(competitor.url,), fields=competitor.fields, render=monitor.render
            )
            async with limit:
                try:
                    results[competitor.id] = await self._crawler.scrape_url(task, competitor.url)
                except CrawlError as exc:
                    results[competitor.id] = str(exc)

        async with anyio.create_task_group() as tg:
            for competitor in monitor.competitors:
                tg.start_soon(observe, competitor)
        for competitor in monitor.competitors:  # stored in the monitor's order
            result = results[competitor.id]
            observation, events = await self._record(monitor, competitor, result)
            run.observations.append(observation)
            run.events.extend(events)
        await self._db.execute(
            "UPDATE crawl_monitors SET last_run_at = {} WHERE id = {}", self._clock(), monitor.id
        )
        return run

    async def _record(
        self, monitor: Monitor, competitor: Competitor, result: ScrapeResult | str
    ) -> tuple[Observation, builtins.list[Event]]:
        previous = await self._previous(competitor.id)
        offer = None if isinstance(result, str) else result.offer
        blocked = not isinstance(result, str) and result.blocked
        ok = offer is not None and not blocked
        matched = sorted(offer.sources) if offer is not None else []
        if not isinstance(result, str):
            matched += sorted({f for r in result.records for f in r.fields} - set(matched))
        read = (
            not isinstance(result, str)
            and not result.blocked
            and result.error is None
            and result.status is not None
            and result.status < 400
        )
        drift = sorted(set(previous.matched) - set(matched)) if previous and read else []
        error = result if isinstance(result, str) else result.error
        if not isinstance(result, str) and result.blocked:
            error = "; ".join(w.message for w in result.warnings if w.code == "blocked")
        observation = Observation(
            competitor_id=competitor.id,
            observed_at=datetime.fromtimestamp(self._clock(), UTC),
            ok=ok,
            price=None if offer is None else offer.price,
            currency=None if offer is None else offer.currency,
            availability=Availability.UNKNOWN if offer is None else offer.availability,
            matched=matched,
            drift=drift,
            blocked=blocked,
            error=error,
        )
        events = self._changes(monitor, competitor, previous, observation)
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO crawl_observations (competitor_id, observed_at, ok, price, currency,"
                " availability, matched, drift, blocked, error)"
                " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                competitor.id,
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
            for event in events:
                await self._events.publish(event)
        return observation, events

    def _changes(
        self,
        monitor: Monitor,
        competitor: Competitor,
        previous: Observation | None,
        now: Observation,
    ) -> builtins.list[Event]:
        events: builtins.list[Event] = []
        if previous is None:
            return events
        if now.drift and not now.blocked:
            events.append(
                CompetitorSelectorDrifted(
                    monitor_id=monitor.id,
                    competitor_id=competitor.id,
                    url=competitor.url,
                    fields=now.drift,
                )
            )
        if not now.ok:
            return events
        old, new = previous.price, now.price
        if old is not None and new is not None and old > 0 and previous.currency == now.currency:
            change = (new - old) / old
            if new != old and abs(change) >= monitor.price_threshold:
                events.append(
                    CompetitorPriceChanged(
                        monitor_id=monitor.id,
                        competitor_id=competitor.id,
                        variant_id=monitor.variant_id,
                        url=competitor.url,
                        old_price=old,
                        new_price=new,
                        currency=now.currency or "",
                        change=change.quantize(Decimal("0.0001")),
                    )
                )
        before, after = previous.availability, now.availability
        known = Availability.UNKNOWN not in (before, after)
        if known and before.buyable != after.buyable:
            events.append(
                CompetitorStockChanged(
                    monitor_id=monitor.id,
                    competitor_id=competitor.id,
                    variant_id=monitor.variant_id,
                    url=competitor.url,
                    old_availability=before.value,
                    new_availability=after.value,
                    in_stock=after.buyable,
                )
            )
        return events
