"""``Crawl``: the research bot wired to storage, events and jobs (``kit.crawl``).

Monitors run as durable jobs: a cron schedule enqueues one ``run_monitor`` job per active
monitor (keyed by monitor and scheduling job, so a retried tick does not run a monitor twice),
and each job retries on its own if the run fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dropkit.core.database import Database
from dropkit.core.events import EventBus
from dropkit.core.jobs import JobContext, JobRegistry
from dropkit.core.webhooks.targets import IPNetwork
from dropkit.crawl.crawler import Crawler
from dropkit.crawl.monitors import Monitors
from dropkit.crawl.results import ScrapeResult
from dropkit.crawl.tasks import ScrapeTask
from dropkit.crawl.trends import Trends

if TYPE_CHECKING:
    from dropkit.commerce.service import Commerce

__all__ = ["RUN_MONITORS_JOB", "RUN_MONITOR_JOB", "Crawl"]

RUN_MONITOR_JOB = "dropkit.crawl.run_monitor"
RUN_MONITORS_JOB = "dropkit.crawl.run_monitors"


class Crawl:
    """Scraping, monitors and trends over one database and event bus."""

    def __init__(
        self,
        database: Database,
        events: EventBus,
        *,
        commerce: Commerce | None = None,
        redis_url: str | None = None,
        allow_private: bool = False,
        allow_networks: Iterable[str | IPNetwork] = (),
        obey_robots: bool = True,
        schedule: str = "0 */6 * * *",
        crawler: Crawler | None = None,
        **crawler_options: Any,
    ) -> None:
        self.database = database
        self.crawler = crawler or Crawler(
            allow_private=allow_private,
            allow_networks=allow_networks,
            obey_robots=obey_robots,
            redis_url=redis_url,
            **crawler_options,
        )
        self.monitors = Monitors(database, events, self.crawler)
        self.trends = Trends(database, commerce=commerce)
        self.schedule = schedule

    async def scrape(self, task: ScrapeTask) -> list[ScrapeResult]:
        """Run ``task`` now (one result per URL)."""
        return await self.crawler.scrape(task)

    def register(self, registry: JobRegistry) -> None:
        """Add the monitor jobs and the schedule that runs every active monitor."""
        registry.register(self._run_monitor, name=RUN_MONITOR_JOB, max_attempts=3, timeout=600)
        registry.register(self._run_monitors, name=RUN_MONITORS_JOB, max_attempts=3)
        registry.schedule(RUN_MONITORS_JOB, cron=self.schedule, name=RUN_MONITORS_JOB)

    async def _run_monitor(self, ctx: JobContext, monitor_id: str) -> dict[str, Any]:
        run = await self.monitors.run(monitor_id)
        return {
            "observations": len(run.observations),
            "events": [type(e).type for e in run.events],
        }

    async def _run_monitors(self, ctx: JobContext) -> int:
        monitors = await self.monitors.list(active_only=True)
        for monitor in monitors:
            await ctx.jobs.enqueue(
                RUN_MONITOR_JOB,
                {"monitor_id": monitor.id},
                key=f"monitor:{monitor.id}:{ctx.job.id}",
            )
        return len(monitors)

    async def aclose(self) -> None:
        """Close the HTTP client, the browser (if one started) and the throttle."""
        await self.crawler.aclose()
