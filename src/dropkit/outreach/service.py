"""``Outreach``: the email subsystem wired together over one database (``kit.outreach``).

Sending runs as a durable job (``dropkit.outreach.send_campaign``): it begins the campaign when
it is due (audience → ledger), runs the sender, and re-enqueues itself for recipients whose
local send time has not come yet. A job killed mid-run is retried by the job system and the
ledger takes over from where it stopped: claimed rows are reconciled, sent rows stay sent.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from dropkit.commerce.events import OrderPaid, OrderPlaced
from dropkit.core.database import Database
from dropkit.core.errors import ConfigurationError
from dropkit.core.events import EventBus
from dropkit.core.jobs import JobContext, JobRegistry, Jobs
from dropkit.outreach.analytics import Analytics
from dropkit.outreach.campaigns import Campaigns
from dropkit.outreach.conversions import Conversions
from dropkit.outreach.csvio import ImportReport, export_csv, import_csv
from dropkit.outreach.errors import SignatureError
from dropkit.outreach.http import HandlerResponse, InboundRequest
from dropkit.outreach.instrument import Instrumenter
from dropkit.outreach.intake.feedback import Feedback, FeedbackProcessor
from dropkit.outreach.intake.mailgun import verify_mailgun
from dropkit.outreach.intake.sendgrid import verify_sendgrid
from dropkit.outreach.intake.sns import SnsCertificates, SnsVerifier, ses_feedback
from dropkit.outreach.ledger import SendLedger
from dropkit.outreach.lists import Lists
from dropkit.outreach.models import Campaign, CampaignState
from dropkit.outreach.providers.base import EmailProvider
from dropkit.outreach.providers.outbox import OutboxProvider
from dropkit.outreach.ratelimit import LocalRateLimiter, RateLimit, RateLimiter, RedisRateLimiter
from dropkit.outreach.segments import Segments
from dropkit.outreach.sender import CampaignSender, SendReport
from dropkit.outreach.subscribers import Subscribers
from dropkit.outreach.suppressions import Suppressions
from dropkit.outreach.templates import Templates
from dropkit.outreach.tokens import TokenSigner
from dropkit.outreach.tracking import Tracking
from dropkit.outreach.transactional import TransactionalMail

__all__ = ["SEND_CAMPAIGN_JOB", "Outreach"]

SEND_CAMPAIGN_JOB = "dropkit.outreach.send_campaign"


def _limiter(limit: RateLimit, redis_url: str | None, name: str) -> RateLimiter:
    if redis_url is not None:
        return RedisRateLimiter(redis_url, limit, name=name)
    return LocalRateLimiter(limit)


class Outreach:
    """Audience, templates, campaigns, transactional mail, tracking, feedback and analytics."""

    def __init__(
        self,
        database: Database,
        *,
        events: EventBus | None = None,
        jobs: Jobs | None = None,
        provider: EmailProvider | None = None,
        outbox_dir: str | Path = ".dropkit/outbox",
        tracking_secret: str | bytes | None = None,
        public_url: str = "http://localhost:8000",
        from_address: str = "Dropkit <hello@dropkit.local>",
        message_domain: str = "dropkit.local",
        rate_limit: RateLimit | None = None,
        provider_rate_limit: RateLimit | None = None,
        redis_url: str | None = None,
        lease: float = 60.0,
        batch_size: int | None = None,
        retry_backoff: float = 30.0,
        soft_bounce_threshold: int = 3,
        attribution_days: float = 7.0,
        sendgrid_public_key: str | None = None,
        mailgun_signing_key: str | None = None,
        sns_certificates: SnsCertificates | None = None,
        sns_topics: Sequence[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self._jobs = jobs
        self.provider: EmailProvider = provider or OutboxProvider(outbox_dir)
        if not tracking_secret and not isinstance(self.provider, OutboxProvider):
            # A per-process key would break every unsubscribe link after a restart or in
            # another worker: real mail needs a configured, shared secret.
            raise ConfigurationError(
                "Outreach needs tracking_secret to send real mail (links must verify across"
                " restarts and processes); only the outbox runs without one"
            )
        # The outbox (demo, development) may sign with a per-process key.
        self.signer = TokenSigner(tracking_secret or secrets.token_bytes(32), clock=clock)
        self.instrumenter = Instrumenter(self.signer, public_url)
        self.subscribers = Subscribers(database, self.signer, clock=clock)
        self.lists = Lists(database, clock=clock)
        self.segments = Segments(database, clock=clock)
        self.suppressions = Suppressions(
            database, soft_bounce_threshold=soft_bounce_threshold, clock=clock
        )
        self.templates = Templates(database, clock=clock)
        self.ledger = SendLedger(database)
        self.campaigns = Campaigns(
            database,
            self.templates,
            self.segments,
            self.ledger,
            message_domain=message_domain,
            clock=clock,
        )
        self.tracking = Tracking(database, self.instrumenter, self.suppressions, clock=clock)
        self.analytics = Analytics(database)
        self.conversions = Conversions(database, window_days=attribution_days)
        self.feedback = FeedbackProcessor(database, self.suppressions, self.tracking)
        self.limiters: list[RateLimiter] = []
        if rate_limit is not None:
            self.limiters.append(_limiter(rate_limit, redis_url, "global"))
        if provider_rate_limit is not None:
            self.limiters.append(_limiter(provider_rate_limit, redis_url, self.provider.name))
        self.sender = CampaignSender(
            database,
            self.campaigns,
            self.templates,
            self.ledger,
            self.instrumenter,
            self.provider,
            limiters=self.limiters,
            lease=lease,
            batch_size=batch_size,
            retry_backoff=retry_backoff,
            clock=clock,
        )
        self.transactional = TransactionalMail(
            database,
            self.templates,
            self.suppressions,
            self.instrumenter,
            self.provider,
            from_address=from_address,
            message_domain=message_domain,
            clock=clock,
        )
        self._sendgrid_key = sendgrid_public_key
        self._mailgun_key = mailgun_signing_key
        self._sns = (
            SnsVerifier(sns_certificates, topics=sns_topics or (), clock=clock)
            if sns_certificates
            else None
        )
        self._clock = clock
        if events is not None:
            events.subscribe(
                OrderPlaced, self.conversions.on_order_placed, name="dropkit.outreach.conversion"
            )
            events.subscribe(
                OrderPaid, self.conversions.on_order_paid, name="dropkit.outreach.conversion_paid"
            )

    async def import_csv(self, text: str, *, list_id: str | None = None) -> ImportReport:
        """Import subscribers from CSV text (see :mod:`dropkit.outreach.csvio`)."""
        return await import_csv(self.subscribers, self.lists, text, list_id=list_id)

    async def export_csv(self) -> str:
        return await export_csv(self.subscribers)

    # -- sending -----------------------------------------------------------------------------

    def register(self, registry: JobRegistry) -> None:
        """Add the campaign-sending job."""
        registry.register(self._send_job, name=SEND_CAMPAIGN_JOB, max_attempts=20)

    async def _enqueue(self, campaign_id: str, at: float) -> None:
        if self._jobs is None:
            return
        await self._jobs.enqueue(
            SEND_CAMPAIGN_JOB,
            {"campaign_id": campaign_id},
            key=f"{SEND_CAMPAIGN_JOB}:{campaign_id}:{int(at)}",
            run_at=datetime.fromtimestamp(at).astimezone(),
        )

    async def schedule(
        self, campaign_id: str, at: datetime | None = None, *, local_time: bool = False
    ) -> Campaign:
        """Schedule a draft campaign and enqueue the durable job that sends it."""
        campaign = await self.campaigns.schedule(campaign_id, at, local_time=local_time)
        await self._enqueue(campaign.id, self.campaigns.first_due(campaign))
        return campaign

    async def resume(self, campaign_id: str) -> Campaign:
        campaign = await self.campaigns.resume(campaign_id)
        await self._enqueue(campaign.id, self._clock())
        return campaign

    async def release_review(self, campaign_id: str) -> int:
        """Send the ``review`` rows again, after a human checked they were not delivered.

        A campaign that already finished is reopened and its job enqueued in the same
        transaction, so the released rows cannot be stranded in a ``sent`` campaign.
        """
        async with self.database.transaction():
            released = await self.ledger.release_review(campaign_id)
            if released:
                await self.campaigns.reopen(campaign_id)
                if await self.campaigns.state(campaign_id) is CampaignState.SENDING:
                    await self._enqueue(campaign_id, self._clock())
        return released

    async def run(self, campaign_id: str) -> SendReport:
        """Begin the campaign if it is due, then send what is due now (in this task)."""
        campaign = await self.campaigns.get(campaign_id)
        if campaign.state is CampaignState.SCHEDULED:
            if self.campaigns.first_due(campaign) > self._clock():
                return SendReport()
            await self.campaigns.begin(campaign_id)
        return await self.sender.run(campaign_id)

    async def send_now(self, campaign_id: str) -> SendReport:
        """Schedule (if a draft) and send the whole campaign in this task; for scripts."""
        if (await self.campaigns.state(campaign_id)) is CampaignState.DRAFT:
            await self.campaigns.schedule(campaign_id)
        return await self.run(campaign_id)

    async def _send_job(self, ctx: JobContext, campaign_id: str) -> dict[str, int]:
        campaign = await self.campaigns.get(campaign_id)
        if campaign.state is CampaignState.SCHEDULED and self.campaigns.first_due(campaign) > (
            self._clock()
        ):
            await self._enqueue(campaign_id, self.campaigns.first_due(campaign))
            return {"sent": 0}
        report = await self.run(campaign_id)
        if await self.campaigns.state(campaign_id) is CampaignState.SENDING:
            # Rows not due yet (local time), or claims another sender (or a dead one) holds:
            # come back then, to send, or to reconcile and finish.
            due = await self.ledger.next_due(campaign_id)
            expiry = await self.ledger.claim_expiry(campaign_id)
            later = [t for t in (due, None if expiry is None else expiry + 1.0) if t is not None]
            if later:
                await self._enqueue(campaign_id, max(min(later), self._clock() + 1.0))
        return {"sent": report.sent, "failed": report.failed, "review": report.review}

    # -- handlers (routed to by the app) -----------------------------------------------------

    async def handle_open(self, request: InboundRequest) -> HandlerResponse:
        return await self.tracking.handle_open(request)

    async def handle_click(self, request: InboundRequest) -> HandlerResponse:
        return await self.tracking.handle_click(request)

    async def handle_unsubscribe(self, request: InboundRequest) -> HandlerResponse:
        return await self.tracking.handle_unsubscribe(request)

    async def _apply(self, parse: Callable[[], list[Feedback]]) -> HandlerResponse:
        try:
            items = parse()
        except SignatureError as exc:
            return HandlerResponse(401, {"Content-Type": "text/plain"}, str(exc).encode())
        applied = await self.feedback.apply(items)
        return HandlerResponse(200, {"Content-Type": "text/plain"}, f"applied {applied}".encode())

    async def handle_sendgrid_events(self, request: InboundRequest) -> HandlerResponse:
        """SendGrid's signed event webhook (needs ``sendgrid_public_key``)."""
        if self._sendgrid_key is None:
            return HandlerResponse(404)
        key = self._sendgrid_key
        return await self._apply(lambda: verify_sendgrid(key, request.headers, request.body))

    async def handle_mailgun_events(self, request: InboundRequest) -> HandlerResponse:
        """Mailgun's webhook (needs ``mailgun_signing_key``)."""
        if self._mailgun_key is None:
            return HandlerResponse(404)
        key = self._mailgun_key
        return await self._apply(lambda: verify_mailgun(key, request.body))

    async def handle_ses_notification(self, request: InboundRequest) -> HandlerResponse:
        """SES feedback through SNS (needs ``sns_certificates``)."""
        if self._sns is None:
            return HandlerResponse(404)
        try:
            message = await self._sns.verify(request.body)
        except SignatureError as exc:
            return HandlerResponse(401, {"Content-Type": "text/plain"}, str(exc).encode())
        headers: Mapping[str, str] = {"Content-Type": "text/plain"}
        if message.type != "Notification":
            # Subscriptions are confirmed by an operator visiting SubscribeURL (logged here).
            return HandlerResponse(200, headers, (message.subscribe_url or "").encode())
        applied = await self.feedback.apply(ses_feedback(message))
        return HandlerResponse(200, headers, f"applied {applied}".encode())

    async def aclose(self) -> None:
        """Close the provider's connections and the rate limiters' clients."""
        await self.provider.aclose()
        for limiter in self.limiters:
            await limiter.aclose()
        if self._sns is not None:
            await self._sns.certificates.aclose()
