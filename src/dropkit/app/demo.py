"""``dropkit demo``: the core end to end, offline, in one process.

What happens, in order:

1. a webhook *receiver* (a tiny Starlette app, standing in for a partner's server) starts on
   loopback and verifies every delivery's Standard Webhooks signature;
2. a :class:`~dropkit.Dropkit` opens on the embedded defaults: a SQLite file in the data
   directory and the in-process job dispatcher; no keys, no services;
3. the receiver is registered as a webhook endpoint for ``demo.*`` events;
4. a durable job, ``demo.prepare_launch``, prices a product from its supplier cost and publishes
   a typed domain event, :class:`LaunchPrepared`;
5. the event reaches a subscriber (which drafts the launch announcement) and, signed, the
   receiver;
6. the run is summarised from the ledger: the job, the event, the webhook delivery.

Each piece here is what an application would write; grow this file into the full product-launch
demo as the store, media and outreach subsystems land.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import anyio
import uvicorn
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dropkit import Dropkit
from dropkit.core.errors import DropkitError, WebhookVerificationError
from dropkit.core.events import Event
from dropkit.core.jobs import Job, JobContext, JobRegistry, JobState
from dropkit.core.money import Money
from dropkit.core.webhooks import Delivery, DeliveryState, generate_secret, verify

__all__ = ["DemoError", "DemoReport", "LaunchPrepared", "demo_jobs", "render", "run_demo"]


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
            )
        )
        self.verified.set()
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks", self.handle, methods=["POST"])])


@asynccontextmanager
async def _unwrapped() -> AsyncIterator[None]:
    """Re-raise a task group's only error as itself, so callers can catch DemoError."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


@asynccontextmanager
async def serve_on_loopback(app: Starlette) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in this event loop; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: uvicorn must not reconfigure the process's logging.
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        async with _unwrapped(), anyio.create_task_group() as tg:

            async def run() -> None:
                await server.serve(sockets=[sock])
                tg.cancel_scope.cancel()  # the server stopped on its own (Ctrl-C): stop too

            tg.start_soon(run)
            with anyio.fail_after(10):
                while not server.started:  # noqa: ASYNC110 - uvicorn only exposes a flag
                    await anyio.sleep(0.01)
            try:
                yield f"http://127.0.0.1:{port}/hooks"
            finally:
                server.should_exit = True
    finally:
        sock.close()


# -- the run ------------------------------------------------------------------------------------


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


PRODUCT = {
    "sku": "LAMP-AURORA-01",
    "name": "Aurora Desk Lamp",
    "supplier_cost": Money("12.40", "USD"),
    "markup": Decimal("2.5"),
}


async def run_demo(
    data_dir: Path, *, console: Console | None = None, timeout: float = 30.0
) -> DemoReport:
    """Run the scenario in ``data_dir``; raise :class:`DemoError` if a step fails or stalls."""
    say = (console or Console(quiet=True)).print
    receiver = Receiver(secret=generate_secret())
    announced: list[Announcement] = []
    announced_event = anyio.Event()

    kit = Dropkit(data_dir=data_dir, jobs=demo_jobs, allow_private_webhooks=True)

    @kit.events.subscriber(LaunchPrepared, name="demo.draft_announcement")
    async def draft_announcement(event: LaunchPrepared) -> None:
        announced.append(Announcement(event.id, f"New: {event.name}, only {event.price}!"))
        announced_event.set()

    async with serve_on_loopback(receiver.app()) as url:
        say(f"[green]✓[/] webhook receiver listening on [cyan]{url}[/]")
        async with kit:
            say(f"[green]✓[/] dropkit opened on SQLite in [cyan]{data_dir}[/], jobs in-process")
            endpoint = await kit.webhooks.add_endpoint(
                url,
                event_types=["demo.*"],
                secret=receiver.secret,
                description="demo receiver",
                allow_private=True,  # loopback: refused unless the operator allows it
            )
            say(f"[green]✓[/] webhook endpoint [cyan]{endpoint.id}[/] subscribed to demo.*")
            job = await kit.jobs.enqueue(prepare_launch, PRODUCT)
            say(f"[green]✓[/] job [cyan]{job.id}[/] enqueued: {job.function}")

            step = "the job to finish"
            try:
                with anyio.fail_after(timeout):
                    job = await kit.jobs.wait(job.id)
                    if job.state is not JobState.SUCCEEDED:
                        raise DemoError(f"job {job.id} ended {job.state}: {job.last_error}")
                    say(
                        f"[green]✓[/] job succeeded: priced at {job.result['price']}"
                        f" (margin {job.result['margin']}), event published"
                    )
                    step = "the subscriber"
                    await announced_event.wait()
                    say(f"[green]✓[/] subscriber ran: {announced[0].text}")
                    step = "the webhook delivery"
                    delivery = await _delivered(kit, endpoint.id)
                    await receiver.verified.wait()
                    say(f"[green]✓[/] webhook {delivery.id} delivered and verified")
            except TimeoutError:
                raise DemoError(f"timed out after {timeout:g} s waiting for {step}") from None
            stored = await kit.events.get(job.result["event_id"])

    report = DemoReport(
        data_dir=data_dir,
        receiver_url=url,
        job=job,
        event=stored.as_event(LaunchPrepared),
        announcement=announced[0],
        delivery=delivery,
        receipt=next(r for r in receiver.receipts if r.verified),
    )
    _check(report)
    return report


async def _delivered(kit: Dropkit, endpoint_id: str) -> Delivery:
    """Poll the delivery log until the endpoint's delivery settles; fail unless delivered."""
    while True:
        deliveries = await kit.webhooks.deliveries(endpoint_id=endpoint_id)
        if deliveries and deliveries[0].state is not DeliveryState.PENDING:
            delivery = deliveries[0]
            if delivery.state is not DeliveryState.DELIVERED:
                raise DemoError(f"webhook delivery {delivery.state}: {delivery.last_error}")
            return delivery
        await anyio.sleep(0.05)


def _check(report: DemoReport) -> None:
    """The pieces must describe one story: same event everywhere, same delivery id."""
    if report.announcement.event_id != report.event.id:
        raise DemoError("the subscriber saw a different event than the job published")
    if report.receipt.event_id != report.event.id:
        raise DemoError("the receiver got a different event than the job published")
    if report.receipt.webhook_id != report.delivery.id:
        raise DemoError("the webhook-id header does not match the delivery log")


# -- the summary --------------------------------------------------------------------------------


def _table(title: str, rows: dict[str, str]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, expand=True)
    table.add_column("field", style="bold", no_wrap=True, ratio=2)
    table.add_column("value", overflow="fold", ratio=5)
    for key, value in rows.items():
        table.add_row(key, value)
    return table


def render(report: DemoReport, console: Console) -> None:
    """Print the summary: the job, the event, the subscriber and the webhook delivery."""
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
