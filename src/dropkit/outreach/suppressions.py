"""The one global suppression list every send checks, and the soft-bounce counter."""

from __future__ import annotations

import time
from collections.abc import Callable

from dropkit.core.database import Database
from dropkit.outreach.addresses import normalise_email
from dropkit.outreach.models import SubscriberStatus, SuppressionReason

__all__ = ["Suppressions"]

_STATUS = {
    SuppressionReason.UNSUBSCRIBED: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.HARD_BOUNCE: SubscriberStatus.BOUNCED,
    SuppressionReason.SOFT_BOUNCE: SubscriberStatus.BOUNCED,
    SuppressionReason.COMPLAINT: SubscriberStatus.COMPLAINED,
    SuppressionReason.MANUAL: SubscriberStatus.UNSUBSCRIBED,
}


class Suppressions:
    """Addresses that must not receive marketing email, with the reason why."""

    def __init__(
        self,
        database: Database,
        *,
        soft_bounce_threshold: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self.soft_bounce_threshold = soft_bounce_threshold
        self._clock = clock

    async def add(self, email: str, reason: SuppressionReason, detail: str | None = None) -> None:
        """Suppress ``email`` (idempotent; the first reason is kept) and update its subscriber."""
        address = normalise_email(email)
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO outreach_suppressions (email, reason, detail, created_at)"
                " VALUES ({}, {}, {}, {}) ON CONFLICT (email) DO NOTHING",
                address,
                reason.value,
                detail,
                self._clock(),
            )
            await self._db.execute(
                "UPDATE outreach_subscribers SET status = {}, updated_at = {} WHERE email = {}",
                _STATUS[reason].value,
                self._clock(),
                address,
            )

    async def remove(self, email: str) -> bool:
        """Lift a suppression (e.g. a manual one entered by mistake)."""
        address = normalise_email(email)
        row = await self._db.fetchrow(
            "DELETE FROM outreach_suppressions WHERE email = {} RETURNING email", address
        )
        return row is not None

    async def reason(self, email: str) -> SuppressionReason | None:
        value = await self._db.fetchval(
            "SELECT reason FROM outreach_suppressions WHERE email = {}", normalise_email(email)
        )
        return None if value is None else SuppressionReason(value)

    async def soft_bounce(self, email: str, detail: str | None = None) -> bool:
        """Count a soft bounce; at the threshold the address is suppressed. True if it was."""
        address = normalise_email(email)
        count = await self._db.fetchval(
            "UPDATE outreach_subscribers SET soft_bounces = soft_bounces + 1, updated_at = {}"
            " WHERE email = {} RETURNING soft_bounces",
            self._clock(),
            address,
        )
        if count is not None and int(count) >= self.soft_bounce_threshold:
            await self.add(address, SuppressionReason.SOFT_BOUNCE, detail)
            return True
        return False

    async def delivered(self, email: str) -> None:
        """A delivery proves the mailbox works: soft bounces only count when consecutive."""
        await self._db.execute(
            "UPDATE outreach_subscribers SET soft_bounces = 0"
            " WHERE email = {} AND soft_bounces > 0",
            normalise_email(email),
        )

    async def count(self) -> int:
        return int(await self._db.fetchval("SELECT COUNT(*) FROM outreach_suppressions"))
