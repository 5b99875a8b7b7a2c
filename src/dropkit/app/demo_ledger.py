"""Reading the demo's progress back from the ledger: deliveries, events, and a settled queue.

The demo shows what the core recorded, not what it hoped happened, so each step waits on the
delivery log or the outbox; these polls end when the ledger says so (the caller bounds the time).
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio

from dropkit import Dropkit
from dropkit.app.demo_report import DemoError
from dropkit.core.jobs import JobState
from dropkit.core.webhooks import Delivery, DeliveryState

__all__ = ["delivered", "event_counts", "event_id_of", "settled"]


async def delivered(kit: Dropkit, endpoint_id: str, event_id: str) -> Delivery:
    """Poll the delivery log until the event's delivery settles; fail unless delivered."""
    while True:
        deliveries = await kit.webhooks.deliveries(endpoint_id=endpoint_id, limit=200)
        mine = [d for d in deliveries if d.event_id == event_id]
        if mine and mine[0].state is not DeliveryState.PENDING:
            delivery = mine[0]
            if delivery.state is not DeliveryState.DELIVERED:
                raise DemoError(f"webhook delivery {delivery.state}: {delivery.last_error}")
            return delivery
        await anyio.sleep(0.05)


async def event_id_of(kit: Dropkit, event_type: str, subject: str) -> str:
    """The id of the ``event_type`` event about ``subject`` (written with the change)."""
    events = await kit.events.list(type=event_type, subject=subject, limit=1)
    if not events:
        raise DemoError(f"no {event_type} event was written for {subject}")
    return events[0].id


async def settled(kit: Dropkit) -> None:
    """Wait until no job is running or due (later deliveries finish before the kit closes)."""
    while True:
        now = datetime.now(UTC)
        busy = [
            job
            for job in await kit.jobs.list(states=[JobState.QUEUED, JobState.RUNNING], limit=1000)
            if job.state is JobState.RUNNING or job.run_at <= now
        ]
        if not busy:
            return
        await anyio.sleep(0.02)


async def event_counts(kit: Dropkit) -> dict[str, int]:
    """How many events of each type the run wrote to the outbox."""
    counts: dict[str, int] = {}
    for event in await kit.events.list(limit=1000):
        counts[event.type] = counts.get(event.type, 0) + 1
    return dict(sorted(counts.items()))
