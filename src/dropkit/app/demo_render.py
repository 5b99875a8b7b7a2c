"""The ``dropkit demo`` summary in rich: the core's job, event and webhook, the store, the launch.

Rendering only reads a :class:`~dropkit.app.demo_report.DemoReport`, so the summary's layout can
change without touching the flow that produced it.
"""

from __future__ import annotations

import json
from decimal import Decimal

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from dropkit.app.demo_crawl import render_competitor_report
from dropkit.app.demo_email import render_campaign_report
from dropkit.app.demo_report import DemoReport, LaunchReport, StoreReport
from dropkit.app.demo_store import SeededStore
from dropkit.app.demo_video import render_video_report
from dropkit.commerce import Order, OrderLine
from dropkit.core.money import Money

__all__ = ["render", "render_launch", "render_store"]


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
