"""Provider feedback (bounces, complaints, deliveries) in one shape, applied in one place."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from dropkit.core.database import Database
from dropkit.outreach.errors import InvalidEmailError
from dropkit.outreach.models import SuppressionReason
from dropkit.outreach.suppressions import Suppressions
from dropkit.outreach.tracking import Tracking

__all__ = ["Feedback", "FeedbackKind", "FeedbackProcessor"]


class FeedbackKind(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    DELIVERED = "delivered"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True)
class Feedback:
    kind: FeedbackKind
    email: str
    message_id: str | None = None  # our Message-ID (correlation), when the provider echoes it
    detail: str | None = None
    #: The provider's id of this event (SendGrid sg_event_id, Mailgun token, SNS MessageId):
    #: a replayed or redelivered event is applied once.
    event_id: str | None = None


class FeedbackProcessor:
    """Suppress, count soft bounces and record events for the campaign that caused them."""

    def __init__(self, database: Database, suppressions: Suppressions, tracking: Tracking):
        self._db = database
        self._suppressions = suppressions
        self._tracking = tracking

    async def _source(self, item: Feedback) -> tuple[str | None, str | None]:
        if item.message_id:
            mid = item.message_id.strip("<>")
            row = await self._db.fetchrow(
                "SELECT campaign_id, subscriber_id FROM outreach_sends WHERE message_id = {}", mid
            )
            if row is not None:
                return row["campaign_id"], row["subscriber_id"]
            tx = await self._db.fetchval(
                "SELECT id FROM outreach_transactional WHERE message_id = {}", mid
            )
            if tx is not None:
                return tx, None
        subscriber = await self._db.fetchval(
            "SELECT id FROM outreach_subscribers WHERE email = {}", item.email.lower()
        )
        return None, subscriber

    async def _first_time(self, event_id: str) -> bool:
        row = await self._db.fetchrow(
            "INSERT INTO outreach_feedback_seen (event_id, seen_at) VALUES ({}, {})"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            event_id[:300],
            time.time(),
        )
        return row is not None

    async def apply(self, items: Sequence[Feedback]) -> int:
        """Apply verified feedback; returns how many items were applied."""
        applied = 0
        for item in items:
            if item.event_id is not None and not await self._first_time(item.event_id):
                continue
            try:
                if item.kind is FeedbackKind.HARD_BOUNCE:
                    await self._suppressions.add(
                        item.email, SuppressionReason.HARD_BOUNCE, item.detail
                    )
                elif item.kind is FeedbackKind.COMPLAINT:
                    await self._suppressions.add(
                        item.email, SuppressionReason.COMPLAINT, item.detail
                    )
                elif item.kind is FeedbackKind.UNSUBSCRIBE:
                    await self._suppressions.add(
                        item.email, SuppressionReason.UNSUBSCRIBED, item.detail
                    )
                elif item.kind is FeedbackKind.SOFT_BOUNCE:
                    await self._suppressions.soft_bounce(item.email, item.detail)
                elif item.kind is FeedbackKind.DELIVERED:
                    await self._suppressions.delivered(item.email)
            except InvalidEmailError:
                continue
            source, subscriber = await self._source(item)
            kind = {
                FeedbackKind.HARD_BOUNCE: "bounce",
                FeedbackKind.SOFT_BOUNCE: "soft_bounce",
            }.get(item.kind, item.kind.value)
            await self._tracking.record(
                kind, source, subscriber, email=item.email.lower(), detail=item.detail
            )
            applied += 1
        return applied
