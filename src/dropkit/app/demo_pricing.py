"""The demo's application code: a durable job that prices a product and the event it publishes.

This is what an application would write on top of the core; the demo's flow
(:mod:`dropkit.app.demo`) enqueues the job, and its subscriber turns the event into an
:class:`Announcement`. Kept apart so the reports can name these types without importing the flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from dropkit import Dropkit
from dropkit.core.events import Event
from dropkit.core.jobs import JobContext, JobRegistry
from dropkit.core.money import Money

__all__ = ["Announcement", "LaunchPrepared", "demo_jobs", "prepare_launch"]


class LaunchPrepared(Event):
    """A product is priced and ready to go on sale."""

    type: ClassVar[str] = "demo.launch_prepared"

    sku: str
    name: str
    price: Money
    margin: Money

    @property
    def subject(self) -> str:
        return self.sku


demo_jobs = JobRegistry()


@demo_jobs.job(name="demo.prepare_launch", max_attempts=3)
async def prepare_launch(
    ctx: JobContext, sku: str, name: str, supplier_cost: Money, markup: Decimal
) -> dict[str, Any]:
    """Price a product (exact money, never float) and announce it with a domain event."""
    price = supplier_cost * markup
    event = LaunchPrepared(sku=sku, name=name, price=price, margin=price - supplier_cost)
    stored = await Dropkit.of(ctx).events.publish(event)
    return {"price": str(price), "margin": str(event.margin), "event_id": stored.id}


@dataclass
class Announcement:
    """What the subscriber produced from the event."""

    event_id: str
    text: str
