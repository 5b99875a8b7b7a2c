"""The event bus: a transactional outbox whose relay is the durable job ledger.

``publish`` writes the event row *and* a dispatch job in the caller's transaction, so an event
exists exactly when the change that caused it was committed. The dispatch job (at least once,
on any worker) fans the event out: one delivery job per matching subscriber and, through the
fan-out hooks, one per webhook endpoint. Fan-out jobs carry idempotency keys derived from the
event id, so a dispatch that runs twice creates nothing twice.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, TypeVar, overload

from dropkit.core.database import Database
from dropkit.core.errors import ConfigurationError, EventError, NotFoundError
from dropkit.core.events.models import Event, StoredEvent, validate_event_type
from dropkit.core.jobs import JobContext, JobRegistry, Jobs
from dropkit.core.jsontext import dumps_strict

__all__ = ["DELIVER_JOB", "DISPATCH_JOB", "EventBus", "Fanout", "Handler"]

DISPATCH_JOB = "dropkit.events.dispatch"
DELIVER_JOB = "dropkit.events.deliver"

Handler = Callable[[Any], Awaitable[None]]
Fanout = Callable[[StoredEvent], Awaitable[None]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class _Subscription:
    name: str
    pattern: str
    handler: Handler
    event_class: type[Event] | None


def _pattern_of(target: str | type[Event]) -> tuple[str, type[Event] | None]:
    if isinstance(target, str):
        if target != "*" and not target.endswith(".*"):
            validate_event_type(target)
        return target, None
    if isinstance(target, type) and issubclass(target, Event) and hasattr(target, "type"):
        return target.type, target
    raise ConfigurationError(f"subscribe to an event type string or Event subclass, not {target!r}")


class EventBus:
    """Publishes domain events and delivers them at least once to subscribers."""

    def __init__(self, database: Database, jobs: Jobs) -> None:
        self._db = database
        self._jobs = jobs
        self._subscriptions: dict[str, _Subscription] = {}
        self._fanouts: list[Fanout] = []

    def register_jobs(self, registry: JobRegistry) -> None:
        """Add the bus's dispatch and delivery jobs to ``registry`` (done by ``Dropkit``)."""
        registry.register(self._dispatch, name=DISPATCH_JOB, max_attempts=10)
        registry.register(self._deliver, name=DELIVER_JOB, max_attempts=8)

    # -- subscribing ----------------------------------------------------------------------

    def subscribe(
        self, target: str | type[Event], handler: Handler, *, name: str | None = None
    ) -> None:
        """Call ``handler`` for each event of ``target`` (a type, ``"order.*"`` or ``"*"``).

        With an :class:`Event` subclass the handler receives that typed event, otherwise the
        :class:`StoredEvent`. ``name`` (default: the handler's qualified name) identifies the
        subscription in the ledger, so keep it stable across deployments.
        """
        if not inspect.iscoroutinefunction(handler):
            raise ConfigurationError("event handlers must be 'async def'")
        pattern, event_class = _pattern_of(target)
        key = name or f"{handler.__module__}.{handler.__qualname__}"
        if key in self._subscriptions:
            raise ConfigurationError(f"subscriber {key!r} is registered twice")
        self._subscriptions[key] = _Subscription(key, pattern, handler, event_class)

    @overload
    def subscriber(self, target: str | type[Event]) -> Callable[[H], H]: ...

    @overload
    def subscriber(self, target: str | type[Event], *, name: str) -> Callable[[H], H]: ...

    def subscriber(self, target: str | type[Event], *, name: str | None = None) -> Callable[[H], H]:
        """Decorator form of :meth:`subscribe`."""

        def decorate(handler: H) -> H:
            self.subscribe(target, handler, name=name)
            return handler

        return decorate

    def add_fanout(self, fanout: Fanout) -> None:
        """Run ``fanout`` inside each dispatch transaction (how webhooks get their events)."""
        self._fanouts.append(fanout)

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, event: Event) -> StoredEvent:
        """Store ``event`` in the caller's transaction (or its own) and schedule its delivery."""
        if not isinstance(getattr(type(event), "type", None), str):
            raise EventError(f"{type(event).__name__} has no event type")
        stored = StoredEvent(
            id=event.id,
            type=type(event).type,
            subject=event.subject,
            payload=event.payload(),
            occurred_at=event.occurred_at,
        )
        try:
            payload = dumps_strict(stored.payload)
        except ValueError as exc:
            raise EventError(f"payload of {stored.type} cannot be stored: {exc}") from exc
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO dropkit_events (id, type, subject, payload, occurred_at)"
                " VALUES ({}, {}, {}, {}, {})",
                stored.id,
                stored.type,
                stored.subject,
                payload,
                stored.occurred_at.timestamp(),
            )
            await self._jobs.enqueue(
                DISPATCH_JOB, {"event_id": stored.id}, key=f"event:{stored.id}:dispatch"
            )
        return stored

    # -- reading --------------------------------------------------------------------------

    async def get(self, event_id: str) -> StoredEvent:
        row = await self._db.fetchrow("SELECT * FROM dropkit_events WHERE id = {}", event_id)
        if row is None:
            raise NotFoundError(f"no event {event_id!r}")
        return StoredEvent.from_row(row)

    async def list(
        self, *, type: str | None = None, subject: str | None = None, limit: int = 50
    ) -> Sequence[StoredEvent]:
        """Newest first, optionally filtered by type and subject."""
        clauses, args = [], []
        if type is not None:
            clauses.append("type = {}")
            args.append(type)
        if subject is not None:
            clauses.append("subject = {}")
            args.append(subject)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetch(
            f"SELECT * FROM dropkit_events{where} ORDER BY occurred_at DESC, id LIMIT {{}}",
            *args,
            limit,
        )
        return [StoredEvent.from_row(row) for row in rows]

    # -- the jobs that move events --------------------------------------------------------

    async def _dispatch(self, ctx: JobContext, event_id: str) -> int:
        """Fan one event out to its subscribers and webhooks; returns the subscriber count."""
        event = await self.get(event_id)
        matching = [s for s in self._subscriptions.values() if fnmatchcase(event.type, s.pattern)]
        async with self._db.transaction():
            for subscription in matching:
                await self._jobs.enqueue(
                    DELIVER_JOB,
                    {"event_id": event.id, "subscriber": subscription.name},
                    key=f"event:{event.id}:to:{subscription.name}",
                )
            for fanout in self._fanouts:
                await fanout(event)
            await self._db.execute(
                "UPDATE dropkit_events SET dispatched_at = {} WHERE id = {}",
                time.time(),
                event.id,
            )
        return len(matching)

    async def _deliver(self, ctx: JobContext, event_id: str, subscriber: str) -> None:
        subscription = self._subscriptions.get(subscriber)
        if subscription is None:
            raise EventError(f"no subscriber {subscriber!r} in this process")
        stored = await self.get(event_id)
        if subscription.event_class is not None:
            await subscription.handler(stored.as_event(subscription.event_class))
        else:
            await subscription.handler(stored)
