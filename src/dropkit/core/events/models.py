"""Typed domain events and their stored form."""

from __future__ import annotations

import builtins
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from dropkit.core.errors import ConfigurationError, EventError

__all__ = ["Event", "StoredEvent", "validate_event_type"]

E = TypeVar("E", bound="Event")
_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def validate_event_type(value: str) -> str:
    """Event types are dotted lowercase names such as ``order.placed``."""
    if not _TYPE.match(value):
        raise ConfigurationError(
            f"event type {value!r} must be dotted lowercase words, e.g. 'order.placed'"
        )
    return value


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every domain event: subclass it and set ``type``.

    ``id`` is stable for the life of the event (receivers deduplicate on it) and
    ``occurred_at`` is when the change happened. ``subject`` names the record the event is about
    (an order id, a product id) so listings and webhooks can filter on it.
    """

    model_config = ConfigDict(frozen=True)

    type: ClassVar[str]
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = Field(default_factory=_now)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("type")
        if isinstance(event_type, str):
            validate_event_type(event_type)

    #: Name of the field holding the id of the record this event is about (``subject``).
    subject_field: ClassVar[str | None] = None

    @property
    def subject(self) -> str | None:
        """The id of the record this event is about: set ``subject_field``, or override."""
        if self.subject_field is None:
            return None
        value = getattr(self, self.subject_field)
        return None if value is None else str(value)

    def payload(self) -> dict[str, Any]:
        """The event's own fields as JSON (without id and time, which travel beside it)."""
        return self.model_dump(mode="json", exclude={"id", "occurred_at"})


class StoredEvent(BaseModel):
    """An event as written to the outbox."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    subject: str | None
    payload: dict[str, Any]
    occurred_at: datetime
    dispatched_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredEvent:
        payload = row["payload"]
        dispatched = row.get("dispatched_at")
        return cls(
            id=row["id"],
            type=row["type"],
            subject=row["subject"],
            payload=json.loads(payload) if isinstance(payload, str) else payload,
            occurred_at=datetime.fromtimestamp(float(row["occurred_at"]), UTC),
            dispatched_at=None
            if dispatched is None
            else datetime.fromtimestamp(float(dispatched), UTC),
        )

    def as_event(self, cls: builtins.type[E]) -> E:
        """Parse back into the typed event class."""
        if getattr(cls, "type", None) != self.type:
            raise EventError(f"event {self.id} is {self.type!r}, not {cls.__name__}")
        return cls.model_validate({**self.payload, "id": self.id, "occurred_at": self.occurred_at})
