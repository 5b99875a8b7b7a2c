"""Webhook endpoints, deliveries and the attempt log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["Attempt", "Delivery", "DeliveryState", "Endpoint"]


def _when(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


class DeliveryState(StrEnum):
    """``pending`` until the receiver answers 2xx (``delivered``); ``failed`` after a 4xx that
    retrying cannot fix or a disabled endpoint; ``dead`` when retries ran out."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD = "dead"


class Endpoint(BaseModel):
    """A receiver URL, its signing secret, and the event types it wants."""

    model_config = ConfigDict(frozen=True)

    id: str
    url: str
    secret: str
    event_types: tuple[str, ...]
    description: str
    enabled: bool
    allow_private: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Endpoint:
        types = row["event_types"]
        return cls(
            id=row["id"],
            url=row["url"],
            secret=row["secret"],
            event_types=tuple(json.loads(types) if isinstance(types, str) else types),
            description=row["description"],
            enabled=bool(row["enabled"]),
            allow_private=bool(row["allow_private"]),
            created_at=_when(row["created_at"]),
            updated_at=_when(row["updated_at"]),
        )


class Delivery(BaseModel):
    """One event on its way to one endpoint; its id is the ``webhook-id`` header."""

    model_config = ConfigDict(frozen=True)

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    job_id: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Delivery:
        return cls(
            id=row["id"],
            endpoint_id=row["endpoint_id"],
            event_id=row["event_id"],
            event_type=row["event_type"],
            state=DeliveryState(row["state"]),
            attempts=row["attempts"],
            last_status=row["last_status"],
            last_error=row["last_error"],
            job_id=row["job_id"],
            created_at=_when(row["created_at"]),
            updated_at=_when(row["updated_at"]),
            delivered_at=_when(row["delivered_at"]),
        )


class Attempt(BaseModel):
    """One HTTP request of a delivery, as logged."""

    model_config = ConfigDict(frozen=True)

    attempt: int
    attempted_at: datetime
    status: int | None
    duration_ms: float
    error: str | None
    response_excerpt: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Attempt:
        return cls(
            attempt=row["attempt"],
            attempted_at=_when(row["attempted_at"]),
            status=row["status"],
            duration_ms=float(row["duration_ms"]),
            error=row["error"],
            response_excerpt=row["response_excerpt"],
        )
