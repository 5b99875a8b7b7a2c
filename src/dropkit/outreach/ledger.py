"""The per-recipient send ledger: the table that makes every campaign message go out once.

Each (campaign, subscriber) row is *claimed* (a token and a lease) before the provider call and
*recorded* (state ``sent``, the provider's id) after it. Claims are taken with ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so several sender processes split a campaign without overlap; on
SQLite the claim runs in a ``BEGIN IMMEDIATE`` transaction, which serialises claimers.

A claim whose lease expired belongs to a sender that died between claiming and recording. Its
message may or may not have left, so it is *reconciled*, never blindly resent: the message
carried a deterministic Message-ID, and the provider is asked whether it accepted that id.
Accepted → ``reconciled`` (counts as sent); not accepted → ``pending`` (sent later); the provider
cannot tell → ``review`` (not resent: at most once for the ambiguous few, listed for a human).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from dropkit.core.database import Database, param_list
from dropkit.outreach.models import SendState
from dropkit.outreach.providers.base import EmailProvider, SendResult

__all__ = ["CHUNK", "Claim", "ClaimedSend", "NewSend", "SendLedger"]

_log = logging.getLogger(__name__)

#: Rows per statement (bounded IN lists / VALUES lists); the sender uses it too.
CHUNK = 400


@dataclass(frozen=True, slots=True)
class NewSend:
    subscriber_id: str
    email: str
    variant: str
    due_at: float
    message_id: str


@dataclass(frozen=True, slots=True)
class ClaimedSend:
    id: int
    subscriber_id: str
    email: str
    variant: str
    message_id: str
    attempts: int = 1  # including this claim


@dataclass(frozen=True)
class Claim:
    token: str
    sends: tuple[ClaimedSend, ...]


class SendLedger:
    """Rows of ``outreach_sends``: add, claim, record, reconcile."""

    def __init__(self, database: Database, *, max_attempts: int = 5) -> None:
        self._db = database
        self.max_attempts = max_attempts

    async def add(self, campaign_id: str, sends: Sequence[NewSend]) -> int:
        """Insert rows (existing (campaign, subscriber) pairs are kept as they are)."""
        added = 0
        for start in range(0, len(sends), CHUNK):
            chunk = sends[start : start + CHUNK]
            values = ", ".join(["({}, {}, {}, {}, {}, {}, {})"] * len(chunk))
            args: list[object] = []
            for s in chunk:
                args += [campaign_id, s.subscriber_id, s.email, s.variant, s.due_at]
                args += [SendState.PENDING.value, s.message_id]
            rows = await self._db.fetch(
                "INSERT INTO outreach_sends (campaign_id, subscriber_id, email, variant, due_at,"
                f" state, message_id) VALUES {values}"
                " ON CONFLICT (campaign_id, subscriber_id) DO NOTHING RETURNING id",
                *args,
            )
            added += len(rows)
        return added

    async def claim(self, campaign_id: str, limit: int, *, lease: float, now: float) -> Claim:
        """Claim up to ``limit`` due pending rows for this process."""
        token = uuid.uuid4().hex
        pick = (
            "SELECT id FROM outreach_sends WHERE campaign_id = {} AND state = {} AND due_at <= {}"
            " ORDER BY id LIMIT {}"
        )
        columns = ("id", "subscriber_id", "email", "variant", "message_id", "attempts")
        args = [SendState.CLAIMED.value, token, now + lease, campaign_id, "pending", now, limit]
        if self._db.dialect == "postgres":
            sql = (
                "UPDATE outreach_sends AS t SET state = {}, claim_token = {}, claimed_until = {},"
                f" attempts = t.attempts + 1 FROM ({pick} FOR UPDATE SKIP LOCKED) AS c"
                " WHERE t.id = c.id RETURNING " + ", ".join(f"t.{c}" for c in columns)
            )
            rows = await self._db.fetch(sql, *args)
        else:
            sql = (
                "UPDATE outreach_sends SET state = {}, claim_token = {}, claimed_until = {},"
                f" attempts = attempts + 1 WHERE id IN ({pick}) RETURNING " + ", ".join(columns)
            )
            async with self._db.transaction():  # BEGIN IMMEDIATE: one claimer at a time
                rows = await self._db.fetch(sql, *args)
        sends = tuple(
            ClaimedSend(
                int(r["id"]),
                r["subscriber_id"],
                r["email"],
                r["variant"],
                r["message_id"],
                int(r["attempts"]),
            )
            for r in sorted(rows, key=lambda r: int(r["id"]))
        )
        return Claim(token, sends)

    async def extend(
        self, claim: Claim, ids: Sequence[int], *, until: float, now: float | None = None
    ) -> set[int]:
        """Renew the lease of these rows; returns the ids still held by this claim.

        A lease that already lapsed is not revived: a reconciler may be deciding that row's
        fate right now, so the caller must drop it (the ids missing from the result).
        """
        now = time.time() if now is None else now
        held: set[int] = set()
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            rows = await self._db.fetch(
                "UPDATE outreach_sends SET claimed_until = {} WHERE claim_token = {}"
                " AND state = {} AND claimed_until >= {}"
                f" AND id IN ({param_list(len(chunk))}) RETURNING id",
                until,
                claim.token,
                SendState.CLAIMED.value,
                now,
                *chunk,
            )
            held.update(int(r["id"]) for r in rows)
        lost = len(set(ids) - held)
        if lost:
            _log.warning("%d claimed rows lapsed before their lease was renewed; dropped", lost)
        return held

    async def set_state(
        self,
        claim: Claim,
        ids: Sequence[int],
        state: SendState,
        *,
        error: str | None = None,
        refund_attempt: bool = False,
        due_at: float | None = None,
    ) -> None:
        """Move claimed rows to ``state`` (``pending`` releases them: the claim is dropped).

        A row released too often fails instead; ``refund_attempt`` (throttling, an unreachable
        server: the provider never tried) does not count the claim as an attempt. ``due_at``
        (back-off) is when a released row may be claimed again.
        """
        refund = 1 if refund_attempt else 0
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            await self._db.execute(
                "UPDATE outreach_sends SET state = CASE WHEN {} = 'pending' AND attempts - {} >= {}"
                " THEN 'failed' ELSE {} END, attempts = attempts - {}, claim_token = NULL,"
                " claimed_until = NULL, due_at = COALESCE({}, due_at),"
                f" error = {{}} WHERE claim_token = {{}} AND id IN ({param_list(len(chunk))})",
                state.value,
                refund,
                self.max_attempts,
                state.value,
                refund,
                due_at,
                error,
                claim.token,
                *chunk,
            )

    async def record_sent(
        self, claim: Claim, results: Sequence[tuple[int, SendResult]], *, now: float
    ) -> int:
        """Record accepted messages with the provider's ids, in few statements.

        Rows whose provider id is their own Message-ID (SMTP) or that share one provider id
        (one batch API call) are updated by id list; only ids unique to one row need a VALUES
        list. Every statement is guarded by the claim token. Returns how many rows were
        recorded: fewer than given means rows were taken from this claim (a lapsed lease).
        """
        recorded = 0
        own: list[int] = []
        shared: dict[str | None, list[int]] = {}
        for send_id, result in results:
            if result.provider_message_id == result.message_id:
                own.append(send_id)
            else:
                shared.setdefault(result.provider_message_id, []).append(send_id)
        set_sent = "UPDATE outreach_sends SET state = {}, sent_at = {}, claim_token = NULL,"
        for start in range(0, len(own), CHUNK):
            chunk = own[start : start + CHUNK]
            recorded += await self._count(
                f"{set_sent} provider_message_id = message_id WHERE claim_token = {{}}"
                f" AND id IN ({param_list(len(chunk))}) RETURNING id",
                SendState.SENT.value,
                now,
                claim.token,
                *chunk,
            )
        single: list[tuple[int, str | None]] = []
        for provider_id, ids in shared.items():
            if len(ids) == 1:
                single.append((ids[0], provider_id))
                continue
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                recorded += await self._count(
                    f"{set_sent} provider_message_id = {{}} WHERE claim_token = {{}}"
                    f" AND id IN ({param_list(len(chunk))}) RETURNING id",
                    SendState.SENT.value,
                    now,
                    provider_id,
                    claim.token,
                    *chunk,
                )
        for start in range(0, len(single), CHUNK):
            pairs = single[start : start + CHUNK]
            values = ", ".join(["(CAST({} AS BIGINT), CAST({} AS TEXT))"] * len(pairs))
            args: list[object] = [SendState.SENT.value, now]
            for send_id, provider_id in pairs:
                args += [send_id, provider_id]
            args.append(claim.token)
            recorded += await self._count(
                f"{set_sent} provider_message_id = v.pid FROM (SELECT column1 AS id,"
                f" column2 AS pid FROM (VALUES {values}) AS x) AS v"
                " WHERE outreach_sends.id = v.id AND outreach_sends.claim_token = {}"
                " RETURNING outreach_sends.id",
                *args,
            )
        return recorded

    async def _count(self, sql: str, *args: object) -> int:
        return len(await self._db.fetch(sql, *args))

    async def reconcile(
        self, campaign_id: str, provider: EmailProvider, *, now: float
    ) -> dict[SendState, int]:
        """Resolve expired claims (a sender died mid-batch) by asking the provider."""
        rows = await self._db.fetch(
            "SELECT id, message_id, claim_token FROM outreach_sends WHERE campaign_id = {}"
            " AND state = {} AND claimed_until < {}",
            campaign_id,
            SendState.CLAIMED.value,
            now,
        )
        outcome = {SendState.RECONCILED: 0, SendState.PENDING: 0, SendState.REVIEW: 0}
        if not rows:
            return outcome
        accepted = await provider.accepted([r["message_id"] for r in rows])
        for row in rows:
            if accepted is None:
                state = SendState.REVIEW
            elif row["message_id"] in accepted:
                state = SendState.RECONCILED
            else:
                state = SendState.PENDING
            changed = await self._db.fetchrow(
                "UPDATE outreach_sends SET state = {}, claim_token = NULL, claimed_until = NULL,"
                " sent_at = CASE WHEN {} = 'reconciled' THEN {} ELSE sent_at END,"
                " error = {} WHERE id = {} AND claim_token = {} AND state = {}"
                " AND claimed_until < {} RETURNING id",  # the live sender may have renewed
                state.value,
                state.value,
                now,
                None if state is not SendState.REVIEW else "claim expired; delivery unknown",
                row["id"],
                row["claim_token"],
                SendState.CLAIMED.value,
                now,
            )
            outcome[state] += changed is not None
        return outcome

    async def resolve_ambiguous(
        self, claim: Claim, sends: Sequence[ClaimedSend], provider: EmailProvider, *, now: float
    ) -> None:
        """A connection broke after a message was handed over: ask the provider, else park
        the rows for review (resending could deliver twice)."""
        accepted = await provider.accepted([s.message_id for s in sends])
        if accepted is not None:
            done = [
                (s.id, SendResult(s.message_id, s.message_id))
                for s in sends
                if s.message_id in accepted
            ]
            await self.record_sent(claim, done, now=now)
            retry = [s.id for s in sends if s.message_id not in accepted]
            await self.set_state(claim, retry, SendState.PENDING)
            return
        await self.set_state(
            claim, [s.id for s in sends], SendState.REVIEW, error="connection lost mid-message"
        )

    async def counts(self, campaign_id: str) -> dict[str, int]:
        rows = await self._db.fetch(
            "SELECT state, COUNT(*) AS n FROM outreach_sends WHERE campaign_id = {} GROUP BY state",
            campaign_id,
        )
        return {row["state"]: int(row["n"]) for row in rows}

    async def next_due(self, campaign_id: str) -> float | None:
        value = await self._db.fetchval(
            "SELECT MIN(due_at) FROM outreach_sends WHERE campaign_id = {} AND state = {}",
            campaign_id,
            SendState.PENDING.value,
        )
        return None if value is None else float(value)

    async def claim_expiry(self, campaign_id: str) -> float | None:
        """When the last live claim on this campaign expires (None: no claims)."""
        value = await self._db.fetchval(
            "SELECT MAX(claimed_until) FROM outreach_sends WHERE campaign_id = {} AND state = {}",
            campaign_id,
            SendState.CLAIMED.value,
        )
        return None if value is None else float(value)

    async def release_review(self, campaign_id: str) -> int:
        """After a human checked the provider's logs: send the ``review`` rows again."""
        rows = await self._db.fetch(
            "UPDATE outreach_sends SET state = {}, error = NULL WHERE campaign_id = {}"
            " AND state = {} RETURNING id",
            SendState.PENDING.value,
            campaign_id,
            SendState.REVIEW.value,
        )
        return len(rows)
