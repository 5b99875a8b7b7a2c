"""``dropkit demo``: the core and the store end to end, offline, in one process.

What happens, in order:

1. a loopback web server starts: its ``/hooks`` route is a webhook *receiver* (standing in for a
   partner's server) that verifies every delivery's Standard Webhooks signature, and its
   ``/media`` route serves the store's product images, as a CDN would;
2. a :class:`~dropkit.Dropkit` opens on the embedded defaults: a SQLite file in the data
   directory and the in-process job dispatcher; no keys, no services;
3. the receiver is registered as a webhook endpoint for ``demo.*`` and ``order.*`` events;
4. a durable job, ``demo.prepare_launch``, prices a product from its supplier cost and publishes
   a typed domain event, :class:`LaunchPrepared`;
5. the event reaches a subscriber (which drafts the launch announcement) and, signed, the
   receiver;
6. the store opens for the launch (:mod:`dropkit.app.demo_store`): two vendors, a supplier, a
   category tree, products with variants and generated images, tax, shipping and a discount
   code; three carts check out, one line is routed to the supplier because own stock is short,
   the first order is paid, split into fulfilments and one parcel ships; its ``order.placed``
   event reaches the receiver, signed;
7. the launch (:mod:`dropkit.app.demo_video`, :mod:`~dropkit.app.demo_crawl`,
   :mod:`~dropkit.app.demo_email`): a product video of the lamp is rendered offline (template
   script, espeak-ng voice, its generated images as Ken Burns shots, PyAV), its price is checked
   against three competitor shops the demo serves on loopback (one cuts its price between two
   runs, so ``competitor.price_changed`` fires and a repricing suggestion follows), and a launch
   campaign linking the video goes to demo subscribers through the outbox provider (``.eml``
   files), exactly once;
8. the run is summarised from the ledger: the job, the event, the webhook deliveries, the
   catalog, the orders, the fulfilments, the video, the competitors and the campaign.

Each piece is what an application would write. The flow is here; the job and its event are in
:mod:`~dropkit.app.demo_pricing`, the receiver in :mod:`~dropkit.app.demo_receiver`, the ledger
polls in :mod:`~dropkit.app.demo_ledger`, the report in :mod:`~dropkit.app.demo_report` and its
rendering in :mod:`~dropkit.app.demo_render`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import anyio
import httpx
from rich.console import Console

from dropkit import Dropkit
from dropkit.app.demo_crawl import check_competitors
from dropkit.app.demo_email import send_launch_campaign
from dropkit.app.demo_ledger import delivered, event_counts, event_id_of, settled
from dropkit.app.demo_pricing import Announcement, LaunchPrepared, demo_jobs, prepare_launch
from dropkit.app.demo_receiver import Receipt, Receiver, loopback_site
from dropkit.app.demo_render import render, render_launch, render_store
from dropkit.app.demo_report import DemoError, DemoReport, LaunchReport, StoreReport, check_report
from dropkit.app.demo_store import place_orders, seed_store
from dropkit.app.demo_video import make_product_video
from dropkit.app.loopback import serve_on_loopback
from dropkit.core.jobs import JobState
from dropkit.core.money import Money
from dropkit.core.webhooks import generate_secret

# The flow lives here; its parts are re-exported so ``dropkit.app.demo`` stays the one import.
__all__ = [
    "Announcement",
    "DemoError",
    "DemoReport",
    "LaunchPrepared",
    "LaunchReport",
    "Receipt",
    "Receiver",
    "StoreReport",
    "Waiting",
    "demo_jobs",
    "launch",
    "loopback_site",
    "open_store",
    "prepare_launch",
    "render",
    "render_launch",
    "render_store",
    "run_demo",
]

PRODUCT = {
    "sku": "LAMP-AURORA-01",
    "name": "Aurora Desk Lamp",
    "supplier_cost": Money("12.40", "USD"),
    "markup": Decimal("2.5"),
}


async def run_demo(
    data_dir: Path, *, console: Console | None = None, timeout: float = 60.0
) -> DemoReport:
    """Run the scenario in ``data_dir``; raise :class:`DemoError` if a step fails or stalls."""
    say = (console or Console(quiet=True)).print
    receiver = Receiver(secret=generate_secret())
    announced: list[Announcement] = []
    announced_event = anyio.Event()
    media_dir = data_dir / "media"
    media_dir.mkdir(parents=True, exist_ok=True)

    kit = Dropkit(data_dir=data_dir, jobs=demo_jobs, allow_private_webhooks=True)

    @kit.events.subscriber(LaunchPrepared, name="demo.draft_announcement")
    async def draft_announcement(event: LaunchPrepared) -> None:
        announced.append(Announcement(event.id, f"New: {event.name}, only {event.price}!"))
        announced_event.set()

    async with serve_on_loopback(loopback_site(receiver, media_dir)) as site:
        url = f"{site}/hooks"
        say(f"[green]✓[/] webhook receiver listening on [cyan]{url}[/], images on {site}/media")
        async with kit:
            say(f"[green]✓[/] dropkit opened on SQLite in [cyan]{data_dir}[/], jobs in-process")
            endpoint = await kit.webhooks.add_endpoint(
                url,
                event_types=["demo.*", "order.*"],
                secret=receiver.secret,
                description="demo receiver",
                allow_private=True,  # loopback: refused unless the operator allows it
            )
            say(
                f"[green]✓[/] webhook endpoint [cyan]{endpoint.id}[/] subscribed to demo.*, order.*"
            )
            job = await kit.jobs.enqueue(prepare_launch, PRODUCT)
            say(f"[green]✓[/] job [cyan]{job.id}[/] enqueued: {job.function}")

            waiting = Waiting("the job to finish")
            try:
                with anyio.fail_after(timeout):
                    job = await kit.jobs.wait(job.id)
                    if job.state is not JobState.SUCCEEDED:
                        raise DemoError(f"job {job.id} ended {job.state}: {job.last_error}")
                    say(
                        f"[green]✓[/] job succeeded: priced at {job.result['price']}"
                        f" (margin {job.result['margin']}), event published"
                    )
                    waiting.on = "the subscriber"
                    await announced_event.wait()
                    say(f"[green]✓[/] subscriber ran: {announced[0].text}")
                    waiting.on = "the webhook delivery"
                    delivery = await delivered(kit, endpoint.id, job.result["event_id"])
                    await receiver.verified.wait()
                    say(f"[green]✓[/] webhook {delivery.id} delivered and verified")
                    stored = await kit.events.get(job.result["event_id"])

                    store_report = await open_store(
                        kit,
                        receiver,
                        endpoint.id,
                        site=site,
                        media_dir=media_dir,
                        say=say,
                        waiting=waiting,
                    )
                    launched = await launch(
                        kit, site=site, media_dir=media_dir, say=say, waiting=waiting
                    )
                    waiting.on = "the remaining webhook deliveries"
                    await settled(kit)
            except TimeoutError:
                raise DemoError(f"timed out after {timeout:g} s waiting for {waiting.on}") from None

    report = DemoReport(
        data_dir=data_dir,
        receiver_url=url,
        job=job,
        event=stored.as_event(LaunchPrepared),
        announcement=announced[0],
        delivery=delivery,
        receipt=next(r for r in receiver.receipts if r.verified and r.webhook_id == delivery.id),
        store=store_report,
        launch=launched,
    )
    check_report(report)
    return report


@dataclass
class Waiting:
    """What the run is waiting for, named in the timeout message."""

    on: str = ""


async def open_store(
    kit: Dropkit,
    receiver: Receiver,
    endpoint_id: str,
    *,
    site: str,
    media_dir: Path,
    say: Callable[[str], object],
    waiting: Waiting | None = None,
) -> StoreReport:
    """Seed the store, check carts out, and follow the first order to its signed webhook."""
    waiting = waiting or Waiting()
    waiting.on = "the store to be seeded"
    store = await seed_store(kit, media_dir, media_url=f"{site}/media")
    variants = sum(len(item.variants) for item in store.products)
    images = sum(len(item.image_files) for item in store.products)
    say(
        f"[green]✓[/] store seeded: {len(store.vendors)} vendors, 1 supplier,"
        f" {len(store.products)} products, {variants} variants, {images} images"
    )
    waiting.on = "a product image from /media"
    image_url = store.products[0].product.images[0].url
    image_bytes = await _fetch_image(image_url)
    waiting.on = "checkout"
    placed = await place_orders(kit, store)
    numbers = ", ".join(f"#{order.number}" for order in placed.orders)
    say(f"[green]✓[/] checkout placed orders {numbers} (manual gateway)")
    first = placed.orders[0]
    say(
        f"[green]✓[/] order #{first.number} paid, split into"
        f" {len(placed.fulfilments[first.id])} fulfilments, one shipped: {first.status.value}"
    )
    waiting.on = f"the order.placed webhook of order #{first.number}"
    placed_event = await event_id_of(kit, "order.placed", first.id)
    order_delivery = await delivered(kit, endpoint_id, placed_event)
    order_receipt = await receiver.receipt_of(order_delivery.id)
    if not order_receipt.verified:
        raise DemoError(f"webhook {order_delivery.id} failed verification: {order_receipt.error}")
    say(f"[green]✓[/] order.placed webhook {order_delivery.id} delivered and verified")
    return StoreReport(
        store=placed.store,
        placed=placed,
        image_url=image_url,
        image_bytes=image_bytes,
        order_delivery=order_delivery,
        order_receipt=order_receipt,
        event_counts=await event_counts(kit),
    )


LAUNCH_SKU = "LAMP-AURORA-01-WW"


async def launch(
    kit: Dropkit,
    *,
    site: str,
    media_dir: Path,
    say: Callable[[str], object],
    waiting: Waiting | None = None,
) -> LaunchReport:
    """Make the lamp's video, check competitors' prices, then mail the launch (video linked)."""
    waiting = waiting or Waiting()
    waiting.on = "the product video"
    video = await make_product_video(kit, LAUNCH_SKU, media_dir / "videos")
    video_url = f"{site}/media/videos/{video.video.name}"
    say(
        f"[green]✓[/] product video rendered: {video.width}x{video.height},"
        f" {video.duration:.1f} s, {video.frames} frames in {video.seconds:.1f} s ({video_url})"
    )
    waiting.on = "the competitor check"
    competitors = await check_competitors(kit, LAUNCH_SKU)
    say(
        f"[green]✓[/] {len(competitors.competitors)} competitor shops checked twice:"
        f" {', '.join(competitors.events) or 'no changes'}"
    )
    waiting.on = "the launch campaign"
    campaign = await send_launch_campaign(kit, LAUNCH_SKU, video_url)
    say(
        f"[green]✓[/] launch campaign sent to {campaign.sent} of {campaign.recipients}"
        f" subscribers through the outbox; a second run sent {campaign.resend_sent}"
    )
    return LaunchReport(
        video=video, video_url=video_url, competitors=competitors, campaign=campaign
    )


async def _fetch_image(url: str) -> int:
    """GET a product image as a storefront would; its size in bytes."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            raise DemoError(f"could not fetch product image {url}: {exc}") from None
    if response.status_code != 200 or response.headers.get("content-type") != "image/png":
        raise DemoError(
            f"product image {url} answered HTTP {response.status_code}"
            f" ({response.headers.get('content-type')})"
        )
    return len(response.content)
