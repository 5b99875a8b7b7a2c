"""The records and states of the email subsystem (plain frozen dataclasses)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Campaign",
    "CampaignState",
    "SendState",
    "Subscriber",
    "SubscriberStatus",
    "SuppressionReason",
    "Variant",
    "from_json",
    "new_id",
]


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def from_json(value: Any) -> Any:
    """JSON columns come back as text on SQLite and decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


class SubscriberStatus(StrEnum):
    PENDING = "pending"  # double opt-in not confirmed yet
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"  # the soft-bounce threshold was reached
    COMPLAINT = "complaint"
    MANUAL = "manual"


class CampaignState(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class SendState(StrEnum):
    """States of one ledger row: ``pending`` → ``claimed`` → ``sent`` | ``failed`` ...

    ``reconciled``: an expired claim whose message the provider confirmed it accepted;
    ``review``: an expired claim nobody can confirm either way, never resent automatically;
    ``suppressed``: the address was suppressed after the audience was built.
    """

    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    RECONCILED = "reconciled"
    REVIEW = "review"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class Subscriber:
    id: str
    email: str
    status: SubscriberStatus
    attributes: dict[str, Any]
    consent_source: str | None
    consent_at: float | None
    timezone: str | None
    locale: str | None
    soft_bounces: int
    created_at: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Subscriber:
        return cls(
            id=row["id"],
            email=row["email"],
            status=SubscriberStatus(row["status"]),
            attributes=from_json(row["attributes"]) or {},
            consent_source=row["consent_source"],
            consent_at=row["consent_at"],
            timezone=row["timezone"],
            locale=row["locale"],
            soft_bounces=int(row["soft_bounces"]),
            created_at=float(row["created_at"]),
        )


@dataclass(frozen=True)
class Variant:
    """An A/B subject variant; ``weight`` is its share of the audience."""

    name: str
    subject: str
    weight: int = 1


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    template_id: str
    state: CampaignState
    from_address: str
    reply_to: str | None
    list_ids: tuple[str, ...]
    segment_ids: tuple[str, ...]
    exclude_list_ids: tuple[str, ...]
    variants: tuple[Variant, ...]
    context: dict[str, Any] = field(default_factory=dict)
    send_at: float | None = None
    local_time: bool = False
    started_at: float | None = None
    finished_at: float | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Campaign:
        audience = from_json(row["audience"])
        return cls(
            id=row["id"],
            name=row["name"],
            template_id=row["template_id"],
            state=CampaignState(row["state"]),
            from_address=row["from_address"],
            reply_to=row["reply_to"],
            list_ids=tuple(audience.get("lists", ())),
            segment_ids=tuple(audience.get("segments", ())),
            exclude_list_ids=tuple(audience.get("exclude", ())),
            variants=tuple(Variant(**v) for v in from_json(row["variants"])),
            context=from_json(row["context"]) or {},
            send_at=row["send_at"],
            local_time=bool(row["local_time"]),
            started_at=row["started_at"],
            finished_at=row["finished_at"],
        )
