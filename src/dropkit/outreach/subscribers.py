"""Subscribers: one row per normalised address, with attributes, consent, timezone and locale."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dropkit.core.database import Database
from dropkit.core.jsontext import dumps_strict
from dropkit.outreach.addresses import normalise_email
from dropkit.outreach.errors import OutreachNotFoundError, SuppressedError
from dropkit.outreach.models import Subscriber, SubscriberStatus, SuppressionReason, new_id
from dropkit.outreach.tokens import TokenSigner

__all__ = ["Subscribers", "check_timezone"]

_CONFIRM = "optin"
#: Statuses a new, explicit consent may turn active (not bounced or complained addresses).
_RECONSENT = (SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED)


def check_timezone(name: str | None) -> str | None:
    """``name`` if it is an IANA zone this machine knows, else a validation error."""
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        from dropkit.core.errors import ValidationError

        raise ValidationError(f"unknown timezone {name!r}") from exc
    return name


class Subscribers:
    """Create, change, confirm and forget subscribers."""

    def __init__(
        self,
        database: Database,
        signer: TokenSigner,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._signer = signer
        self._clock = clock

    async def add(
        self,
        email: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        consent_source: str | None = None,
        timezone: str | None = None,
        locale: str | None = None,
        status: SubscriberStatus = SubscriberStatus.ACTIVE,
    ) -> Subscriber:
        """Add a subscriber, or update the existing one with that address (attributes merge)."""
        address = normalise_email(email)
        check_timezone(timezone)
        now = self._clock()
        attrs = dumps_strict(dict(attributes or {}))
        consent_at = now if consent_source and status is SubscriberStatus.ACTIVE else None
        async with self._db.transaction():
            existing = await self._db.fetchrow(
                "SELECT * FROM outreach_subscribers WHERE email = {}", address
            )
            if existing is None:
                await self._db.execute(
                    "INSERT INTO outreach_subscribers (id, email, status, attributes,"
                    " consent_source, consent_at, timezone, locale, created_at, updated_at)"
                    " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                    new_id("sub"),
                    address,
                    status.value,
                    attrs,
                    consent_source,
                    consent_at,
                    timezone,
                    locale,
                    now,
                    now,
                )
            else:
                merged = {**Subscriber.from_row(existing).attributes, **dict(attributes or {})}
                await self._db.execute(
                    "UPDATE outreach_subscribers SET attributes = {},"
                    " timezone = COALESCE({}, timezone), locale = COALESCE({}, locale),"
                    " consent_source = COALESCE({}, consent_source), updated_at = {}"
                    " WHERE id = {}",
                    dumps_strict(merged),
                    timezone,
                    locale,
                    consent_source,
                    now,
                    existing["id"],
                )
        return await self.by_email(address)

    async def get(self, subscriber_id: str) -> Subscriber:
        row = await self._db.fetchrow(
            "SELECT * FROM outreach_subscribers WHERE id = {}", subscriber_id
        )
        if row is None:
            raise OutreachNotFoundError(f"no subscriber {subscriber_id!r}")
        return Subscriber.from_row(row)

    async def by_email(self, email: str) -> Subscriber:
        row = await self._db.fetchrow(
            "SELECT * FROM outreach_subscribers WHERE email = {}", normalise_email(email)
        )
        if row is None:
            raise OutreachNotFoundError(f"no subscriber with address {email!r}")
        return Subscriber.from_row(row)

    async def all(self) -> list[Subscriber]:
        """Every subscriber, by address (exports; use SQL for large audiences)."""
        rows = await self._db.fetch("SELECT * FROM outreach_subscribers ORDER BY email")
        return [Subscriber.from_row(row) for row in rows]

    async def count(self, status: SubscriberStatus | None = None) -> int:
        if status is None:
            return int(await self._db.fetchval("SELECT COUNT(*) FROM outreach_subscribers"))
        return int(
            await self._db.fetchval(
                "SELECT COUNT(*) FROM outreach_subscribers WHERE status = {}", status.value
            )
        )

    async def set_status(self, subscriber_id: str, status: SubscriberStatus) -> None:
        await self._db.execute(
            "UPDATE outreach_subscribers SET status = {}, updated_at = {} WHERE id = {}",
            status.value,
            self._clock(),
            subscriber_id,
        )

    # -- double opt-in ----------------------------------------------------------------------

    async def subscribe_pending(
        self, email: str, *, consent_source: str, **fields: Any
    ) -> tuple[Subscriber, str]:
        """Add an unconfirmed subscriber; returns it and the token its confirmation link carries.

        An address that is already active stays active (a second signup changes nothing).
        """
        address = normalise_email(email)
        try:
            current: Subscriber | None = await self.by_email(address)
        except OutreachNotFoundError:
            current = None
        status = SubscriberStatus.PENDING
        if current is not None and current.status not in _RECONSENT:
            status = current.status  # active stays active; bounced/complained need a human
        subscriber = await self.add(address, consent_source=consent_source, status=status, **fields)
        if current is not None and current.status is SubscriberStatus.UNSUBSCRIBED:
            # A new signup: pending until confirmed, then active again (see ``confirm``).
            await self.set_status(subscriber.id, SubscriberStatus.PENDING)
            subscriber = await self.get(subscriber.id)
        token = self._signer.sign(_CONFIRM, {"s": subscriber.id}, ttl=7 * 24 * 3600)
        return subscriber, token

    async def confirm(self, token: str) -> Subscriber:
        """Confirm a double opt-in from its signed token (forged or expired: TokenError)."""
        data = self._signer.verify(_CONFIRM, token)
        subscriber = await self.get(str(data.get("s")))
        if subscriber.status is SubscriberStatus.PENDING:
            await self._activate(subscriber, SubscriberStatus.PENDING, None)
            subscriber = await self.get(subscriber.id)
        return subscriber

    async def resubscribe(self, email: str, *, consent_source: str) -> Subscriber:
        """Explicit re-consent (a ticked box, a confirmed opt-in): active again.

        Lifts an ``unsubscribed`` suppression, never a bounce or complaint one: those need a
        human (``suppressions.remove``) because the address itself is the problem.
        """
        subscriber = await self.by_email(email)
        reason = await self._db.fetchval(
            "SELECT reason FROM outreach_suppressions WHERE email = {}", subscriber.email
        )
        if reason is not None and reason != SuppressionReason.UNSUBSCRIBED.value:
            raise SuppressedError(f"{subscriber.email} is suppressed ({reason}); lift it by hand")
        if subscriber.status in (*_RECONSENT, SubscriberStatus.ACTIVE):
            await self._activate(subscriber, subscriber.status, consent_source)
        return await self.get(subscriber.id)

    async def _activate(
        self, subscriber: Subscriber, expected: SubscriberStatus, consent_source: str | None
    ) -> None:
        now = self._clock()
        async with self._db.transaction():
            await self._db.execute(
                "UPDATE outreach_subscribers SET status = {}, consent_at = {}, updated_at = {},"
                " consent_source = COALESCE({}, consent_source) WHERE id = {} AND status = {}",
                SubscriberStatus.ACTIVE.value,
                now,
                now,
                consent_source,
                subscriber.id,
                expected.value,
            )
            await self._db.execute(
                "DELETE FROM outreach_suppressions WHERE email = {} AND reason = {}",
                subscriber.email,
                SuppressionReason.UNSUBSCRIBED.value,
            )

    # -- erasure ------------------------------------------------------------------------------

    async def delete(self, subscriber_id: str) -> None:
        """Forget a subscriber: the row, memberships, ledger rows, tracking and conversions.

        The suppression entry (if any) stays: it is what keeps a forgotten address from being
        mailed again after a re-import.
        """
        subscriber = await self.get(subscriber_id)
        async with self._db.transaction():
            for table in ("outreach_events", "outreach_conversions", "outreach_sends"):
                await self._db.execute(
                    f"DELETE FROM {table} WHERE subscriber_id = {{}}", subscriber.id
                )
            # Feedback and transactional mail are keyed by address, not subscriber id.
            for table in ("outreach_events", "outreach_transactional"):
                await self._db.execute(f"DELETE FROM {table} WHERE email = {{}}", subscriber.email)
            await self._db.execute(
                "DELETE FROM outreach_memberships WHERE subscriber_id = {}", subscriber.id
            )
            await self._db.execute("DELETE FROM outreach_subscribers WHERE id = {}", subscriber.id)
