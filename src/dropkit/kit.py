"""The composition root: one object that wires storage, jobs, events and webhooks together.

``Dropkit()`` does no I/O. ``async with Dropkit(...) as kit`` opens the database (a SQLite file
under ``data_dir`` unless ``database_url`` says otherwise), applies migrations and starts job
dispatch: in this process by default, or through Redis/ARQ to ``dropkit worker`` processes
when ``redis_url`` is given. Each subsystem can also be built on its own from its dependencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from difflib import get_close_matches
from pathlib import Path
from types import TracebackType
from typing import Self

from dropkit.commerce.checkout import MarginPolicy
from dropkit.commerce.payments import PaymentGateway
from dropkit.commerce.schema import COMMERCE_MIGRATIONS
from dropkit.commerce.service import Commerce
from dropkit.core.database import Database
from dropkit.core.errors import ConfigurationError
from dropkit.core.events import EventBus
from dropkit.core.jobs import (
    Dispatcher,
    JobContext,
    JobRegistry,
    Jobs,
    LedgerOnlyDispatcher,
    LocalDispatcher,
    RetryPolicy,
)
from dropkit.core.migrations import Migration, Migrator
from dropkit.core.schema import CORE_MIGRATIONS
from dropkit.core.webhooks import Webhooks
from dropkit.crawl.options import CrawlOptions
from dropkit.crawl.schema import CRAWL_MIGRATIONS
from dropkit.crawl.service import Crawl
from dropkit.media.factory import VideoFactory
from dropkit.media.options import MediaOptions
from dropkit.media.schema import MEDIA_MIGRATIONS
from dropkit.outreach.options import OutreachOptions
from dropkit.outreach.providers.base import EmailProvider
from dropkit.outreach.schema import OUTREACH_MIGRATIONS
from dropkit.outreach.service import Outreach

__all__ = ["Dropkit"]


def _dispatcher(
    redis_url: str | None,
    *,
    run_jobs: bool,
    concurrency: int,
    poll_interval: float,
    sweep_interval: float,
) -> Dispatcher:
    """Where jobs run: here (rung through Redis if given), or elsewhere (rung, or polled)."""
    if redis_url is None:
        if not run_jobs:
            return LedgerOnlyDispatcher()
        return LocalDispatcher(
            concurrency=concurrency, poll_interval=poll_interval, sweep_interval=sweep_interval
        )
    from dropkit.core.jobs.arq_dispatch import ArqDispatcher, ArqWorkerDispatcher

    if not run_jobs:
        return ArqDispatcher(redis_url)
    return ArqWorkerDispatcher(
        redis_url,
        concurrency=concurrency,
        poll_interval=poll_interval,
        sweep_interval=sweep_interval,
    )


def _check_options(
    subsystem: str, options: Mapping[str, object] | None, schema: type[Mapping[str, object]]
) -> None:
    """Refuse keys ``schema`` (a subsystem's options TypedDict) does not name, up front: a typo
    would otherwise surface as a TypeError from deep inside the subsystem's constructor."""
    valid = sorted(schema.__annotations__)
    unknown = sorted((key for key in options or () if key not in valid), key=str)
    if not unknown:
        return
    hints = [match for key in unknown for match in get_close_matches(str(key), valid, n=1)]
    did_you_mean = f" (did you mean {', '.join(map(repr, hints))}?)" if hints else ""
    raise ConfigurationError(
        f"unknown {subsystem} option{'s' if len(unknown) > 1 else ''} "
        f"{', '.join(map(repr, unknown))}{did_you_mean}; "
        f"Dropkit({subsystem}=...) takes: {', '.join(valid)}"
    )


class Dropkit:
    """Everything dropkit runs, over one database.

    Jobs run in this process by default. With ``redis_url`` this process only enqueues and
    rings ``dropkit worker`` processes, unless ``run_jobs=True`` (what the worker itself uses).
    """

    def __init__(
        self,
        *,
        database_url: str | None = None,
        data_dir: str | Path = ".dropkit",
        redis_url: str | None = None,
        jobs: JobRegistry | None = None,
        dispatcher: Dispatcher | None = None,
        run_jobs: bool | None = None,
        concurrency: int = 8,
        poll_interval: float = 1.0,
        sweep_interval: float = 5.0,
        allow_private_webhooks: bool = False,
        webhook_retry: RetryPolicy | None = None,
        webhook_timeout: float = 10.0,
        migrations: Iterable[Migration] = (),
        worker_id: str | None = None,
        payment_gateways: Mapping[str, PaymentGateway] | None = None,
        margin_floor: Decimal = Decimal("0"),
        margin_policy: MarginPolicy = MarginPolicy.REFUSE,
        media: MediaOptions | None = None,
        allow_private_crawl: bool = False,
        crawl: CrawlOptions | None = None,
        email_provider: EmailProvider | None = None,
        tracking_secret: str | bytes | None = None,
        public_url: str = "http://localhost:8000",
        outreach: OutreachOptions | None = None,
    ) -> None:
        if dispatcher is not None and redis_url is not None:
            raise ConfigurationError("give redis_url or dispatcher, not both")
        _check_options("media", media, MediaOptions)
        _check_options("crawl", crawl, CrawlOptions)
        _check_options("outreach", outreach, OutreachOptions)
        self.data_dir = Path(data_dir)
        self.database = Database(
            database_url or f"sqlite:///{(self.data_dir / 'dropkit.db').absolute()}"
        )
        self.redis_url = redis_url
        if dispatcher is None:
            dispatcher = _dispatcher(
                redis_url,
                run_jobs=redis_url is None if run_jobs is None else run_jobs,
                concurrency=concurrency,
                poll_interval=poll_interval,
                sweep_interval=sweep_interval,
            )
        self.registry = JobRegistry()
        if jobs is not None:
            self.registry.include(jobs)
        self.jobs = Jobs(
            self.database,
            self.registry,
            dispatcher=dispatcher,
            state={"kit": self},
            worker_id=worker_id,
        )
        self.events = EventBus(self.database, self.jobs)
        self.events.register_jobs(self.registry)
        self.webhooks = Webhooks(
            self.database,
            self.jobs,
            allow_private=allow_private_webhooks,
            timeout=webhook_timeout,
        )
        self.webhooks.register(self.registry, self.events, retry=webhook_retry)
        self.commerce = Commerce(
            self.database,
            self.events,
            gateways=payment_gateways,
            margin_floor=margin_floor,
            margin_policy=margin_policy,
        )
        self.commerce.register(self.registry)
        # kit.media: the video factory; ``media`` (MediaOptions) holds the VideoFactory keyword
        # arguments the kit leaves open (script_writer, voice, footage...), offline by default.
        self.media = VideoFactory(
            self.data_dir / "media",
            database=self.database,
            jobs=self.jobs,
            events=self.events,
            **(media or {}),
        )
        self.media.register(self.registry)
        # kit.crawl: the research bot; ``crawl`` (CrawlOptions) holds Crawl and Crawler keyword
        # arguments (allow_networks, obey_robots, schedule, delay...). With redis_url,
        # politeness is shared across processes.
        self.crawl = Crawl(
            self.database,
            self.events,
            commerce=self.commerce,
            redis_url=redis_url,
            allow_private=allow_private_crawl,
            **(crawl or {}),
        )
        self.crawl.register(self.registry)
        # kit.outreach: email campaigns and transactional mail; the outbox (.eml files under
        # data_dir/outbox) unless ``email_provider`` is given. ``outreach`` (OutreachOptions)
        # holds further Outreach keyword arguments (rate_limit, from_address, webhook keys...).
        self.outreach = Outreach(
            self.database,
            events=self.events,
            jobs=self.jobs,
            provider=email_provider,
            outbox_dir=self.data_dir / "outbox",
            tracking_secret=tracking_secret,
            public_url=public_url,
            redis_url=redis_url,
            **(outreach or {}),
        )
        self.outreach.register(self.registry)
        self._migrations = [
            *CORE_MIGRATIONS,
            *COMMERCE_MIGRATIONS,
            *MEDIA_MIGRATIONS,
            *CRAWL_MIGRATIONS,
            *OUTREACH_MIGRATIONS,
            *migrations,
        ]
        self._started = False

    @classmethod
    def of(cls, ctx: JobContext) -> Dropkit:
        """The kit a job runs under: ``kit = Dropkit.of(ctx)`` inside a job function."""
        kit = ctx.state.get("kit")
        if not isinstance(kit, Dropkit):
            raise ConfigurationError("this job does not run under a Dropkit")
        return kit

    async def migrate(self) -> list[Migration]:
        """Apply missing schema migrations (also done on start)."""
        return await Migrator(self.database, self._migrations).migrate()

    async def start(self) -> None:
        if self._started:
            return
        await self.database.start()
        try:
            await self.migrate()
            await self.jobs.start()
        except BaseException:
            await self.database.aclose()
            raise
        self._started = True

    async def aclose(self) -> None:
        """Stop job dispatch (handing running jobs back), close clients and the database."""
        if not self._started:
            return
        self._started = False
        try:
            await self.jobs.aclose()
        finally:
            try:
                await self.webhooks.aclose()
                await self.commerce.aclose()
                await self.media.aclose()
                await self.crawl.aclose()
                await self.outreach.aclose()
            finally:
                await self.database.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
