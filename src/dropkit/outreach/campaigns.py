"""Campaigns: definition, the state machine, and the audience snapshot written to the ledger.

States: ``draft`` → ``scheduled`` → ``sending`` ⇄ ``paused`` → ``sent``; any unfinished state
→ ``cancelled``. Transitions are guarded ``UPDATE … WHERE state IN (…)``, so two processes
cannot both start or finish a campaign. The audience (lists + segments - excluded lists -
suppressed - inactive) is evaluated in SQL when sending begins and written to the send ledger,
with each recipient's A/B variant and due time (``send_at`` in their own timezone if asked).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dropkit.core.database import Database, param_list
from dropkit.core.errors import ValidationError
from dropkit.core.jsontext import dumps_strict
from dropkit.outreach.addresses import normalise_email
from dropkit.outreach.errors import CampaignStateError, OutreachNotFoundError
from dropkit.outreach.ledger import NewSend, SendLedger
from dropkit.outreach.message import deterministic_message_id
from dropkit.outreach.models import Campaign, CampaignState, SendState, Variant, new_id
from dropkit.outreach.segments import Segments
from dropkit.outreach.templates import Templates

__all__ = ["Campaigns", "assign_variant", "local_due"]

S = CampaignState
_UNFINISHED = (S.DRAFT, S.SCHEDULED, S.SENDING, S.PAUSED)


def assign_variant(subscriber_id: str, variants: Sequence[Variant]) -> str:
    """A stable, weighted pick: the same subscriber always gets the same variant."""
    total = sum(v.weight for v in variants)
    point = int.from_bytes(hashlib.sha256(subscriber_id.encode()).digest()[:8], "big") % total
    for variant in variants:
        point -= variant.weight
        if point < 0:
            return variant.name
    return variants[-1].name  # pragma: no cover - weights sum to total


def local_due(send_at: float, timezone: str | None) -> float:
    """``send_at``'s UTC wall-clock time, read in ``timezone`` (unknown zones: UTC)."""
    wall = datetime.fromtimestamp(send_at, UTC).replace(tzinfo=None)
    try:
        zone = ZoneInfo(timezone) if timezone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return wall.replace(tzinfo=zone).timestamp()


class Campaigns:
    """Create, schedule, start, pause, resume, cancel and finish campaigns."""

    def __init__(
        self,
        database: Database,
        templates: Templates,
        segments: Segments,
        ledger: SendLedger,
        *,
        message_domain: str = "dropkit.local",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._templates = templates
        self._segments = segments
        self._ledger = ledger
        self.message_domain = message_domain
        #: Audience rows read (and written to the ledger) at a time when sending begins.
        self.page_size = 2000
        self._clock = clock

    async def create(
        self,
        name: str,
        *,
        template: str,
        from_address: str,
        lists: Sequence[str] = (),
        segments: Sequence[str] = (),
        exclude_lists: Sequence[str] = (),
        variants: Sequence[Variant] | None = None,
        context: Mapping[str, Any] | None = None,
        reply_to: str | None = None,
    ) -> Campaign:
        """A draft campaign; ``variants`` are A/B subjects (default: the template's subject)."""
        stored = await self._templates.get(template)
        if not lists and not segments:
            raise ValidationError("a campaign needs at least one list or segment")
        normalise_email(from_address.rsplit("<", 1)[-1].rstrip(">"))
        chosen = list(variants) if variants else [Variant("A", stored.subject)]
        if len({v.name for v in chosen}) != len(chosen) or any(v.weight < 1 for v in chosen):
            raise ValidationError("variant names must be unique and weights at least 1")
        now = self._clock()
        campaign_id = new_id("cmp")
        await self._db.execute(
            "INSERT INTO outreach_campaigns (id, name, template_id, state, from_address, reply_to,"
            " audience, variants, context, created_at, updated_at)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            campaign_id,
            name,
            stored.id,
            S.DRAFT.value,
            from_address,
            reply_to,
            dumps_strict(
                {"lists": list(lists), "segments": list(segments), "exclude": list(exclude_lists)}
            ),
            dumps_strict([vars(v) for v in chosen]),
            dumps_strict(dict(context or {})),
            now,
            now,
        )
        return await self.get(campaign_id)

    async def get(self, campaign_id: str) -> Campaign:
        row = await self._db.fetchrow("SELECT * FROM outreach_campaigns WHERE id = {}", campaign_id)
        if row is None:
            raise OutreachNotFoundError(f"no campaign {campaign_id!r}")
        return Campaign.from_row(row)

    async def state(self, campaign_id: str) -> CampaignState:
        value = await self._db.fetchval(
            "SELECT state FROM outreach_campaigns WHERE id = {}", campaign_id
        )
        if value is None:
            raise OutreachNotFoundError(f"no campaign {campaign_id!r}")
        return CampaignState(value)

    async def _move(
        self, campaign_id: str, allowed: Sequence[CampaignState], to: CampaignState, **extra: Any
    ) -> bool:
        sets = "".join(f", {column} = {{}}" for column in extra)
        row = await self._db.fetchrow(
            f"UPDATE outreach_campaigns SET state = {{}}, updated_at = {{}}{sets}"
            f" WHERE id = {{}} AND state IN ({param_list(len(allowed))}) RETURNING id",
            to.value,
            self._clock(),
            *extra.values(),
            campaign_id,
            *(s.value for s in allowed),
        )
        return row is not None

    async def _require(
        self, campaign_id: str, allowed: Sequence[CampaignState], to: CampaignState, **extra: Any
    ) -> Campaign:
        if not await self._move(campaign_id, allowed, to, **extra):
            current = await self.state(campaign_id)
            raise CampaignStateError(f"campaign {campaign_id} is {current}; cannot become {to}")
        return await self.get(campaign_id)

    async def schedule(
        self, campaign_id: str, at: datetime | None = None, *, local_time: bool = False
    ) -> Campaign:
        """Plan the send (``at`` None: now). With ``local_time``, ``at``'s wall-clock time
        (read as UTC) is each recipient's local time."""
        if at is not None and at.tzinfo is None:
            raise ValidationError("give 'at' as an aware datetime")
        send_at = at.timestamp() if at is not None else self._clock()
        return await self._require(
            campaign_id, (S.DRAFT,), S.SCHEDULED, send_at=send_at, local_time=local_time
        )

    def first_due(self, campaign: Campaign) -> float:
        """When sending must begin: ``send_at``, or 14 h earlier for local-time delivery."""
        send_at = campaign.send_at if campaign.send_at is not None else self._clock()
        return send_at - 14 * 3600 if campaign.local_time else send_at

    async def begin(self, campaign_id: str) -> int:
        """Snapshot the audience into the ledger and move ``scheduled`` → ``sending``.

        Idempotent: rows already in the ledger stay, so a retried start adds nothing twice.
        Returns how many recipients were added.
        """
        campaign = await self.get(campaign_id)
        if campaign.state is not S.SCHEDULED:
            raise CampaignStateError(f"campaign {campaign_id} is {campaign.state}, not scheduled")
        send_at = campaign.send_at or self._clock()
        added = 0
        async with self._db.transaction():
            after = ""
            while True:  # page by id: memory stays flat however large the audience
                rows = await self.audience(campaign, after=after, limit=self.page_size)
                sends = [
                    NewSend(
                        row["id"],
                        row["email"],
                        assign_variant(row["id"], campaign.variants),
                        local_due(send_at, row["timezone"]) if campaign.local_time else send_at,
                        deterministic_message_id(campaign.id, row["id"], self.message_domain),
                    )
                    for row in rows
                ]
                added += await self._ledger.add(campaign.id, sends)
                if len(rows) < self.page_size:
                    break
                after = rows[-1]["id"]
            await self._require(campaign.id, (S.SCHEDULED,), S.SENDING, started_at=self._clock())
        return added

    async def audience(
        self, campaign: Campaign, *, after: str = "", limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Active, unsuppressed subscribers in the lists or segments, minus excluded lists.

        Ordered by id; ``after``/``limit`` read it a page at a time.
        """
        conditions: list[str] = []
        args: list[Any] = []
        if campaign.list_ids:
            conditions.append(
                "EXISTS (SELECT 1 FROM outreach_memberships m WHERE m.subscriber_id = s.id"
                f" AND m.list_id IN ({param_list(len(campaign.list_ids))}))"
            )
            args += campaign.list_ids
        if campaign.segment_ids:
            sql, segment_args = await self._segments.condition(campaign.segment_ids)
            conditions.append(sql)
            args += segment_args
        exclude = ""
        if campaign.exclude_list_ids:
            exclude = (
                " AND NOT EXISTS (SELECT 1 FROM outreach_memberships x WHERE x.subscriber_id = s.id"
                f" AND x.list_id IN ({param_list(len(campaign.exclude_list_ids))}))"
            )
            args += campaign.exclude_list_ids
        return await self._db.fetch(
            "SELECT s.id, s.email, s.timezone FROM outreach_subscribers s WHERE s.status = 'active'"
            f" AND ({' OR '.join(conditions)}){exclude}"
            " AND NOT EXISTS (SELECT 1 FROM outreach_suppressions p WHERE p.email = s.email)"
            " AND s.id > {} ORDER BY s.id" + ("" if limit is None else f" LIMIT {int(limit)}"),
            *args,
            after,
        )

    async def pause(self, campaign_id: str) -> Campaign:
        """Stop after the batch in flight; claimed rows are recorded, the rest wait."""
        return await self._require(campaign_id, (S.SENDING, S.SCHEDULED), S.PAUSED)

    async def resume(self, campaign_id: str) -> Campaign:
        started = await self._db.fetchval(
            "SELECT started_at FROM outreach_campaigns WHERE id = {}", campaign_id
        )
        target = S.SENDING if started is not None else S.SCHEDULED
        return await self._require(campaign_id, (S.PAUSED,), target)

    async def cancel(self, campaign_id: str) -> Campaign:
        return await self._require(campaign_id, _UNFINISHED, S.CANCELLED, finished_at=self._clock())

    async def reopen(self, campaign_id: str) -> bool:
        """``sent`` → ``sending`` (rows were handed back for sending after it finished)."""
        return await self._move(campaign_id, (S.SENT,), S.SENDING, finished_at=None)

    async def finish_if_done(self, campaign_id: str) -> bool:
        """``sending`` → ``sent`` once no row is pending or claimed."""
        open_rows = await self._db.fetchval(
            "SELECT COUNT(*) FROM outreach_sends WHERE campaign_id = {} AND state IN ({}, {})",
            campaign_id,
            SendState.PENDING.value,
            SendState.CLAIMED.value,
        )
        if int(open_rows):
            return False
        return await self._move(campaign_id, (S.SENDING,), S.SENT, finished_at=self._clock())
