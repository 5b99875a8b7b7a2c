"""Monitors: competitor pages watched for one of our variants, observed as a time series.

:meth:`Monitors.run` scrapes every competitor, stores one observation each, and compares it with
that competitor's previous good observation (:mod:`dropkit.crawl.monitor_changes`): a price move
of at least the monitor's threshold publishes ``competitor.price_changed``, a move in or out of
stock ``competitor.stock_changed``, and offer fields that matched last time but not now
``competitor.selector_drifted``. Competitors are fetched concurrently (``concurrency`` at a
time; the per-site throttle keeps each shop's pace). Each observation and its events are
written in one transaction, so no event is lost or invented.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anyio
from pydantic import ValidationError as PydanticValidationError

from dropkit.core.database import Database
from dropkit.core.errors import NotFoundError
from dropkit.core.events import Event, EventBus
from dropkit.crawl.crawler import Crawler
from dropkit.crawl.errors import CrawlError, TaskError
from dropkit.crawl.monitor_changes import changes, observe
from dropkit.crawl.monitor_models import (
    Competitor,
    CompetitorInput,
    Monitor,
    MonitorRun,
    Observation,
)
from dropkit.crawl.monitor_store import MonitorStore
from dropkit.crawl.results import ScrapeResult
from dropkit.crawl.tasks import RenderMode, ScrapeTask

__all__ = ["Competitor", "CompetitorInput", "Monitor", "MonitorRun", "Monitors", "Observation"]


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
        self._store = MonitorStore(database)
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
        await self._store.add(
            monitor_id,
            variant_id,
            inputs,
            name=name,
            price_threshold=threshold,
            render=mode,
            now=self._clock(),
        )
        return await self.get(monitor_id)

    async def get(self, monitor_id: str) -> Monitor:
        monitor = await self._store.monitor(monitor_id)
        if monitor is None:
            raise NotFoundError(f"no monitor {monitor_id!r}")
        return monitor

    async def list(
        self, *, variant_id: str | None = None, active_only: bool = False
    ) -> builtins.list[Monitor]:
        return await self._store.monitors(variant_id=variant_id, active_only=active_only)

    async def set_active(self, monitor_id: str, active: bool) -> Monitor:
        await self.get(monitor_id)
        await self._store.set_active(monitor_id, active)
        return await self.get(monitor_id)

    # -- running -----------------------------------------------------------------------------

    async def run(self, monitor_id: str) -> MonitorRun:
        """Observe every competitor once; store observations, publish change events."""
        monitor = await self.get(monitor_id)
        run = MonitorRun(monitor)
        results: dict[str, ScrapeResult | str] = {}
        limit = anyio.Semaphore(self._concurrency)

        async def scrape(competitor: Competitor) -> None:
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
                tg.start_soon(scrape, competitor)
        for competitor in monitor.competitors:  # stored in the monitor's order
            result = results[competitor.id]
            observation, events = await self._record(monitor, competitor, result)
            run.observations.append(observation)
            run.events.extend(events)
        await self._store.mark_run(monitor.id, self._clock())
        return run

    async def _record(
        self, monitor: Monitor, competitor: Competitor, result: ScrapeResult | str
    ) -> tuple[Observation, builtins.list[Event]]:
        """Store one observation and publish its events, together or not at all."""
        previous = await self._store.previous(competitor.id)
        observed_at = datetime.fromtimestamp(self._clock(), UTC)
        observation = observe(competitor, result, previous, observed_at)
        events = changes(monitor, competitor, previous, observation)
        async with self._db.transaction():
            await self._store.add_observation(observation)
            for event in events:
                await self._events.publish(event)
        return observation, events
