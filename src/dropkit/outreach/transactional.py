"""Transactional email: one message from a template to one recipient, once per idempotency key.

The key (``order:123:confirmation``) is written first, with a unique constraint, so the same
confirmation asked for twice (a retried job, a double click) sends once. Receipts and order
notices go to addresses that unsubscribed from marketing (the law treats them as part of the
purchase) but not to addresses that hard-bounced or complained; other kinds honour the whole
suppression list. Links and the open pixel are tracked like campaign mail; every attempt is in
the send log (``outreach_transactional``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dropkit.core.database import Database, param_list
from dropkit.outreach.addresses import normalise_email
from dropkit.outreach.errors import SuppressedError, TemplateError
from dropkit.outreach.instrument import Instrumenter
from dropkit.outreach.message import OutgoingMessage, deterministic_message_id
from dropkit.outreach.models import SuppressionReason, new_id
from dropkit.outreach.providers.base import EmailProvider
from dropkit.outreach.suppressions import Suppressions
from dropkit.outreach.templates import Templates
from dropkit.outreach.tracking import allow_links

__all__ = ["TransactionalKind", "TransactionalMail", "TransactionalResult"]


class TransactionalKind(StrEnum):
    RECEIPT = "receipt"  # order confirmation, shipping and delivery notices
    OPT_IN = "opt_in"  # double opt-in confirmation
    NOTICE = "notice"  # anything else one-to-one


_RECEIPT_BLOCKERS = {SuppressionReason.HARD_BOUNCE, SuppressionReason.COMPLAINT}


@dataclass(frozen=True)
class TransactionalResult:
    id: str
    key: str
    state: str  # sent, failed, claimed (another call is sending it), suppressed, review
    message_id: str
    provider_message_id: str | None
    created: bool  # False: this key was already used; nothing was sent now


class TransactionalMail:
    def __init__(
        self,
        database: Database,
        templates: Templates,
        suppressions: Suppressions,
        instrumenter: Instrumenter,
        provider: EmailProvider,
        *,
        from_address: str,
        message_domain: str = "dropkit.local",
        lease: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        #: How long a send may take before a new request for its key may take it over.
        self.lease = lease
        self._templates = templates
        self._suppressions = suppressions
        self._links = instrumenter
        self.provider = provider
        self.from_address = from_address
        self._domain = message_domain
        self._clock = clock

    async def _existing(self, key: str, created: bool) -> TransactionalResult:
        row = await self._db.fetchrow(
            "SELECT * FROM outreach_transactional WHERE idempotency_key = {}", key
        )
        assert row is not None
        return TransactionalResult(
            row["id"], key, row["state"], row["message_id"], row["provider_message_id"], created
        )

    async def _blocked(self, email: str, kind: TransactionalKind) -> bool:
        reason = await self._suppressions.reason(email)
        if reason is None:
            return False
        if kind is TransactionalKind.RECEIPT:  # part of a purchase
            return reason in _RECEIPT_BLOCKERS
        if kind is TransactionalKind.OPT_IN:  # asked for just now: a new consent may follow
            return reason is not SuppressionReason.UNSUBSCRIBED
        return True

    async def send(
        self,
        key: str,
        template: str,
        to: str,
        context: Mapping[str, Any] | None = None,
        *,
        kind: TransactionalKind = TransactionalKind.RECEIPT,
        subscriber_id: str | None = None,
    ) -> TransactionalResult:
        """Send ``template`` to ``to`` once for ``key``; a repeat returns the first result."""
        email = normalise_email(to)
        compiled = await self._templates.compile(template)  # bad templates fail before the log
        row_id = new_id("txm")
        message_id = deterministic_message_id("tx", key, self._domain)
        now = self._clock()
        claimed = await self._db.fetchrow(
            "INSERT INTO outreach_transactional (id, idempotency_key, kind, email, template,"
            " state, message_id, created_at, claimed_until) VALUES"
            " ({}, {}, {}, {}, {}, {}, {}, {}, {})"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            row_id,
            key,
            kind.value,
            email,
            template,
            "claimed",
            message_id,
            now,
            now + self.lease,
        )
        if claimed is None:
            claimed = await self._retake(key, email, kind, now)
            if claimed is None:
                return await self._existing(key, False)
            row_id, message_id = claimed["id"], claimed["message_id"]
        if await self._blocked(email, kind):
            await self._finish(row_id, "suppressed", None, "address is suppressed")
            raise SuppressedError(f"{email} is suppressed; {kind} mail not sent")
        recipient = subscriber_id or email
        source = self._links.source(row_id)
        links = source.recipient(recipient)
        unsubscribe = links.unsubscribe_url()
        try:
            rendered = compiled.render(
                {**dict(context or {}), "email": email, "unsubscribe_url": unsubscribe}
            )
        except TemplateError as exc:
            await self._finish(row_id, "failed", None, str(exc))
            raise
        html, text = links.html(rendered.html), links.text(rendered.text)
        await allow_links(self._db, row_id, source.links)
        message = OutgoingMessage(
            message_id=message_id,
            sender=self.from_address,
            recipient=email,
            subject=rendered.subject,
            html=html,
            text=text,
            headers=(
                ("X-Dropkit-Transactional", row_id),
                # receipts are not list mail; notices can be unsubscribed from in one click
                *(
                    ()
                    if kind is TransactionalKind.RECEIPT
                    else self._links.list_unsubscribe_headers(unsubscribe)
                ),
            ),
            tags=(("dropkit_transactional", row_id),),
        )
        (result,) = await self.provider.send_batch([message])
        if result.error is not None:
            # Lost mid-message: maybe delivered, so not retried under the key (a human checks).
            state = "review" if result.error.ambiguous else "failed"
            await self._finish(row_id, state, None, str(result.error))
        else:
            await self._finish(row_id, "sent", result.provider_message_id, None)
        return await self._existing(key, True)

    async def _retake(
        self, key: str, email: str, kind: TransactionalKind, now: float
    ) -> dict[str, Any] | None:
        """Take a used key back for sending, when that is safe; None: leave it as it is.

        ``failed`` (refused, provider down) is retried. ``suppressed`` is decided again: the
        suppression may have been lifted. A claim whose lease expired (the sender crashed
        between writing the key and the outcome) is resolved by asking the provider first.
        """
        retake = ["failed"] if await self._blocked(email, kind) else ["failed", "suppressed"]
        row = await self._db.fetchrow(
            "UPDATE outreach_transactional SET state = 'claimed', error = NULL,"
            " claimed_until = {} WHERE idempotency_key = {}"
            f" AND state IN ({param_list(len(retake))}) RETURNING id, message_id",
            now + self.lease,
            key,
            *retake,
        )
        if row is not None:
            return row
        stale = await self._db.fetchrow(
            "SELECT id, message_id FROM outreach_transactional WHERE idempotency_key = {}"
            " AND state = 'claimed' AND (claimed_until IS NULL OR claimed_until < {})",
            key,
            now,
        )
        if stale is None:
            return None
        accepted = await self.provider.accepted([stale["message_id"]])
        expired = " AND state = 'claimed' AND (claimed_until IS NULL OR claimed_until < {})"
        if accepted is None or stale["message_id"] in accepted:
            unknown = accepted is None
            await self._db.execute(
                "UPDATE outreach_transactional SET state = {}, error = {},"
                f" sent_at = {{}} WHERE id = {{}}{expired}",
                "review" if unknown else "sent",
                "claim expired; delivery unknown" if unknown else None,
                None if unknown else now,
                stale["id"],
                now,
            )
            return None
        return await self._db.fetchrow(
            f"UPDATE outreach_transactional SET claimed_until = {{}} WHERE id = {{}}{expired}"
            " RETURNING id, message_id",
            now + self.lease,
            stale["id"],
            now,
        )

    async def _finish(
        self, row_id: str, state: str, provider_id: str | None, error: str | None
    ) -> None:
        await self._db.execute(
            "UPDATE outreach_transactional SET state = {}, provider_message_id = {}, error = {},"
            " sent_at = {}, claimed_until = NULL WHERE id = {}",
            state,
            provider_id,
            error,
            self._clock() if state == "sent" else None,
            row_id,
        )
