"""What a run of ``dropkit demo`` produces: a report read back from the ledger, or a DemoError.

The reports are plain data so the flow (:mod:`dropkit.app.demo`) fills them and the rendering
(:mod:`dropkit.app.demo_render`) prints them without either knowing about the other;
:func:`check_report` refuses a report whose pieces do not tell one story.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dropkit.app.demo_crawl import CompetitorDemoReport
from dropkit.app.demo_email import CampaignDemoReport
from dropkit.app.demo_pricing import Announcement, LaunchPrepared
from dropkit.app.demo_receiver import Receipt
from dropkit.app.demo_store import PlacedOrders, SeededStore
from dropkit.app.demo_video import VideoDemoReport
from dropkit.core.errors import DropkitError
from dropkit.core.jobs import Job
from dropkit.core.webhooks import Delivery

__all__ = ["DemoError", "DemoReport", "LaunchReport", "StoreReport", "check_report"]


class DemoError(DropkitError):
    """A step of the demo failed or did not finish in time."""


@dataclass
class StoreReport:
    """The store part of the run: what was seeded, what was ordered, what reached the receiver."""

    store: SeededStore  # stock levels as they stand after the orders
    placed: PlacedOrders
    image_url: str
    image_bytes: int
    order_delivery: Delivery
    order_receipt: Receipt
    event_counts: dict[str, int]


@dataclass
class LaunchReport:
    """The launch: the product video, the competitor check and the campaign that links both."""

    video: VideoDemoReport
    video_url: str
    competitors: CompetitorDemoReport
    campaign: CampaignDemoReport


@dataclass
class DemoReport:
    """Everything the summary shows, read back from the ledger."""

    data_dir: Path
    receiver_url: str
    job: Job
    event: LaunchPrepared
    announcement: Announcement
    delivery: Delivery
    receipt: Receipt
    store: StoreReport
    launch: LaunchReport


def check_report(report: DemoReport) -> None:
    """The pieces must describe one story: same event everywhere, same delivery id."""
    if report.announcement.event_id != report.event.id:
        raise DemoError("the subscriber saw a different event than the job published")
    if report.receipt.event_id != report.event.id:
        raise DemoError("the receiver got a different event than the job published")
    if report.receipt.webhook_id != report.delivery.id:
        raise DemoError("the webhook-id header does not match the delivery log")
    store = report.store
    first = store.placed.orders[0]
    if store.placed.retried.id != first.id:
        raise DemoError("a retried checkout of the same cart placed a second order")
    if store.order_receipt.subject != first.id:
        raise DemoError("the receiver got order.placed for a different order")
    if not any(line.source == "supplier" for line in first.lines):
        raise DemoError("no order line was routed to the supplier")
    launched = report.launch
    if launched.campaign.resend_sent:
        raise DemoError("running the launch campaign again sent messages a second time")
    if launched.campaign.sent != launched.campaign.recipients:
        raise DemoError("the launch campaign did not reach every subscriber")
    if launched.competitors.price_change is None:
        raise DemoError("a competitor cut its price but no competitor.price_changed was emitted")
