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

Each piece here is what an application would write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import anyio
import httpx
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dropkit import Dropkit
from dropkit.app.demo_crawl import (
    CompetitorDemoReport,
    check_competitors,
    render_competitor_report,
)
from dropkit.app.demo_email import CampaignDemoReport, render_campaign_report, send_launch_campaign
from dropkit.app.demo_store import PlacedOrders, SeededStore, place_orders, seed_store
from dropkit.app.demo_video import VideoDemoReport, make_product_video, render_video_report
from dropkit.app.loopback import serve_on_loopback
from dropkit.commerce import Order, OrderLine
from dropkit.core.errors import DropkitError, WebhookVerificationError
from dropkit.core.events import Event
from dropkit.core.jobs import Job, JobContext, JobRegistry, JobState
from dropkit.core.money import Money
from dropkit.core.webhooks import Delivery, DeliveryState, generate_secret, verify

__all__ = [
    "DemoError",
    "DemoReport",
    "LaunchPrepared",
    "LaunchReport",
    "StoreReport",
    "Waiting",
    "demo_jobs",
    "launch",
    "loopback_site",
    "open_store",
    "render",
    "render_launch",
    "render_store",
    "run_demo",
]


class DemoError(DropkitError):
    """A step of the demo failed or did not finish in time."""


# -- the application code: an event, a job, a subscriber ----------------------------------------


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


# -- the receiver: someone else's server that gets our webhooks ---------------------------------


@dataclass
class Receipt:
    """One request the receiver got, and whether its signature checked out."""

    webhook_id: str
    event_type: str
    event_id: str
    verified: bool
    error: str | None = None
    subject: str | None = None


@dataclass
class Receiver:
    """Verifies and records webhook deliveries, as a partner's endpoint would."""

    secret: str
    receipts: list[Receipt] = field(default_factory=list)
    verified: anyio.Event = field(default_factory=anyio.Event)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            verify(self.secret, headers, body)
        except WebhookVerificationError as exc:
            self.receipts.append(
                Receipt(headers.get("webhook-id", "?"), "?", "?", verified=False, error=str(exc))
            )
            return JSONResponse({"error": str(exc)}, status_code=400)
        message = json.loads(body)
        self.receipts.append(
            Receipt(
                webhook_id=headers["webhook-id"],
                event_type=message["type"],
                event_id=message["data"]["id"],
                verified=True,
                subject=message["data"].get("subject"),
            )
        )
        self.verified.set()
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks", self.handle, methods=["POST"])])


def loopback_site(receiver: Receiver, media_dir: Path) -> Starlette:
    """The receiver on ``/hooks`` and the store's images on ``/media`` (``media_dir`` exists)."""
    return Starlette(
        routes=[
            Route("/hooks", receiver.handle, methods=["POST"]),
            Mount("/media", app=StaticFiles(directory=media_dir), name="media"),
        ]
    )


# -- the run ------------------------------------------------------------------------------------


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
                    delivery = await _delivered(kit, endpoint.id, job.result["event_id"])
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
                    await _settled(kit)
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
    _check(report)
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
    placed_event = await _event_of(kit, "order.placed", first.id)
    order_delivery = await _delivered(kit, endpoint_id, placed_event)
    order_receipt = await _receipt(receiver, order_delivery.id)
    say(f"[green]✓[/] order.placed webhook {order_delivery.id} delivered and verified")
    return StoreReport(
        store=placed.store,
        placed=placed,
        image_url=image_url,
        image_bytes=image_bytes,
        order_delivery=order_delivery,
        order_receipt=order_receipt,
        event_counts=await _event_counts(kit),
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


async def _delivered(kit: Dropkit, endpoint_id: str, event_id: str) -> Delivery:
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


async def _event_of(kit: Dropkit, event_type: str, subject: str) -> str:
    """The id of the ``event_type`` event about ``subject`` (written with the change)."""
    events = await kit.events.list(type=event_type, subject=subject, limit=1)
    if not events:
        raise DemoError(f"no {event_type} event was written for {subject}")
    return events[0].id


async def _receipt(receiver: Receiver, webhook_id: str) -> Receipt:
    """The receiver's record of a delivery (it answers before the log is updated)."""
    while True:
        for receipt in receiver.receipts:
            if receipt.webhook_id == webhook_id:
                if not receipt.verified:
                    raise DemoError(f"webhook {webhook_id} failed verification: {receipt.error}")
                return receipt
        await anyio.sleep(0.02)


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


async def _settled(kit: Dropkit) -> None:
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


async def _event_counts(kit: Dropkit) -> dict[str, int]:
    """How many events of each type the run wrote to the outbox."""
    counts: dict[str, int] = {}
    for event in await kit.events.list(limit=1000):
        counts[event.type] = counts.get(event.type, 0) + 1
    return dict(sorted(counts.items()))


def _check(report: DemoReport) -> None:
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


# -- the summary --------------------------------------------------------------------------------


def _table(title: str, rows: dict[str, str]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, expand=True)
    table.add_column("field", style="bold", no_wrap=True, ratio=2)
    table.add_column("value", overflow="fold", ratio=5)
    for key, value in rows.items():
        table.add_row(key, value)
    return table


def render(report: DemoReport, console: Console) -> None:
    """Print the summary: the core (job, event, subscriber, webhook), then the store."""
    job, event, delivery = report.job, report.event, report.delivery
    console.print(
        Panel(
            Group(
                _table(
                    "Job",
                    {
                        "id": job.id,
                        "function": job.function,
                        "state": f"[green]{job.state}[/]",
                        "attempts": f"{job.attempts} of {job.max_attempts}",
                        "result": json.dumps(job.result),
                    },
                ),
                _table(
                    "Event",
                    {
                        "id": event.id,
                        "type": event.type,
                        "subject": event.subject,
                        "payload": json.dumps(event.payload()),
                    },
                ),
                _table(
                    "Subscriber",
                    {"name": "demo.draft_announcement", "drafted": report.announcement.text},
                ),
                _table(
                    "Webhook delivery",
                    {
                        "id": delivery.id,
                        "endpoint": report.receiver_url,
                        "state": f"[green]{delivery.state}[/]",
                        "HTTP status": str(delivery.last_status),
                        "attempts": str(delivery.attempts),
                        "signature verified": "[green]yes[/]" if report.receipt.verified else "no",
                    },
                ),
            ),
            title="dropkit demo: job → event → subscriber + signed webhook",
            border_style="green",
        )
    )
    render_store(report.store, console)
    render_launch(report.launch, console)


def render_launch(report: LaunchReport, console: Console) -> None:
    """Print the launch: the video, the competitors, the campaign."""
    console.print(render_video_report(report.video))
    console.print(render_competitor_report(report.competitors))
    console.print(render_campaign_report(report.campaign))


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _grid(title: str) -> Table:
    return Table(title=title, title_justify="left", expand=True, show_lines=False)


def _catalog(store: SeededStore) -> Table:
    table = _grid("Catalog")
    table.add_column("product", style="bold", overflow="fold")
    table.add_column("variant", no_wrap=True)
    table.add_column("price", no_wrap=True)
    table.add_column("available", no_wrap=True)
    for item in store.products:
        product, images = item.product, len(item.product.images)
        for n, variant in enumerate(item.variants):
            level = item.stock[variant.id]
            price = str(variant.price)
            if variant.compare_at is not None:
                price += f"\n[dim]was {variant.compare_at}[/]"
            stock = f"{level.own} own"
            if level.supplier:
                stock += f"\n[yellow]+{level.supplier} supplier[/]"
            about = f"{item.vendor.name}, {images} image{'s' if images != 1 else ''}"
            table.add_row(
                f"{product.title}\n[dim]{about}[/]" if n == 0 else "",
                f"{variant.sku}\n[dim]{', '.join(variant.options.values())}[/]",
                price,
                stock,
                end_section=n == len(item.variants) - 1,
            )
    return table


def _source(line: OrderLine, store: SeededStore) -> str:
    if line.source != "supplier":
        return "own stock"
    name = store.supplier.name if line.supplier_id == store.supplier.id else line.supplier_id
    return f"[yellow]supplier[/]\n{name}\n[dim]cost {line.unit_cost}[/]"


def _orders(orders: tuple[Order, ...], store: SeededStore) -> Table:
    table = _grid("Orders")
    table.add_column("order", style="bold", no_wrap=True)
    table.add_column("line", no_wrap=True)
    table.add_column("source", overflow="fold")
    table.add_column("amount", justify="right", no_wrap=True)
    table.add_column("commission", justify="right", no_wrap=True)
    for order in orders:
        for n, line in enumerate(order.lines):
            table.add_row(
                f"#{order.number}" if n == 0 else "",
                f"{line.quantity} x {line.sku}",
                _source(line, store),
                str(line.line_total),
                f"{line.commission}\n[dim]{_percent(line.commission_rate)}[/]",
            )
        labels, amounts = ["subtotal"], [str(order.subtotal)]
        if not order.discount.is_zero():
            labels.append(f"code {order.coupon_code}")
            amounts.append(str(-order.discount))
        labels += ["tax", "shipping", "[bold]total[/]"]
        amounts += [str(order.tax), str(order.shipping), f"[bold]{order.total}[/]"]
        commission = sum((line.commission for line in order.lines), Money.zero(order.currency))
        table.add_row(
            "",
            f"[cyan]{order.status.value}[/]",
            "\n".join(labels),
            "\n".join(amounts),
            "\n" * (len(labels) - 1) + str(commission),
            end_section=True,
        )
    return table


def _fulfilments(report: StoreReport) -> Table:
    store, placed = report.store, report.placed
    order = placed.orders[0]
    vendors = {vendor.id: vendor.name for vendor in store.vendors}
    table = _grid(f"Fulfilments of order #{order.number}: one parcel per vendor and source")
    table.add_column("parcel", style="bold", overflow="fold")
    table.add_column("lines", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("tracking", overflow="fold")
    skus = {line.id: line.sku for line in order.lines}
    for fulfilment in placed.fulfilments[order.id]:
        origin = "own stock" if fulfilment.supplier_id is None else store.supplier.name
        shipped = fulfilment.status.value == "shipped"
        table.add_row(
            f"{vendors.get(fulfilment.vendor_id, fulfilment.vendor_id)}\n[dim]from {origin}[/]",
            "\n".join(skus[line_id] for line_id in fulfilment.line_ids),
            f"[green]{fulfilment.status.value}[/]" if shipped else fulfilment.status.value,
            f"{fulfilment.carrier} {fulfilment.tracking_number}" if shipped else "",
        )
    return table


def render_store(report: StoreReport, console: Console) -> None:
    """Print the store: catalog, orders (with line sources), fulfilments, and what was sent."""
    store, placed = report.store, report.placed
    first = placed.orders[0]
    offers = ", ".join(
        f"{store.variant_sku(offer.variant_id)} ({offer.available} at {offer.cost})"
        for offer in store.offers
    )
    setup = {
        "vendors": ", ".join(
            f"{v.name} ({_percent(v.commission_rate)} commission)" for v in store.vendors
        ),
        "supplier": f"{store.supplier.name}: {offers}",
        "categories": ", ".join(
            f"{store.categories[0].name} > {c.name}" for c in store.categories[1:]
        ),
        "pricing": f"{store.tax_rate.name} {_percent(store.tax_rate.rate)};"
        f" shipping {store.flat_shipping.name} {store.flat_shipping.price},"
        f" {store.free_over_shipping.name};"
        f" code {store.discount.code} ({store.discount.value.normalize():f}% off)",
        "images": f"{sum(len(p.image_files) for p in store.products)} PNGs generated;"
        f" {report.image_url} served {report.image_bytes} bytes",
    }
    receipt = report.order_receipt
    sent = {
        "idempotent retry": f"checkout of the same cart again returned order"
        f" #{placed.retried.number} (no second order)",
        "webhook": f"order.placed of #{first.number} as {report.order_delivery.id}:"
        f" {report.order_delivery.state}, HTTP {report.order_delivery.last_status},"
        f" signature verified: {'[green]yes[/]' if receipt.verified else 'no'}",
        "events written": ", ".join(f"{t} ({n})" for t, n in report.event_counts.items()),
    }
    console.print(
        Panel(
            Group(
                _table("Store", setup),
                _catalog(store),
                _orders(placed.orders, store),
                _fulfilments(report),
                _table("Guarantees and events", sent),
            ),
            title="dropkit demo: the store: catalog → checkout → fulfilment",
            border_style="green",
        )
    )
