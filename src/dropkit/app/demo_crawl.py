"""The demo's competitor check: a tiny competitor site on loopback, monitored like a real one.

:func:`check_competitors` serves three competitor shops (JSON-LD, microdata and plain markup)
on 127.0.0.1, watches them for one of the demo store's variants, runs the monitor, lets one
competitor cut its price and runs again, so a ``competitor.price_changed`` event fires through
the kit's event bus. It reports our price position and a repricing suggestion bounded by the
margin floor. Static HTTP only: no browser, so it is fast and works without Chromium.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from dropkit import Dropkit
from dropkit.app.loopback import serve_on_loopback
from dropkit.core.money import Money
from dropkit.crawl import (
    CompetitorPriceChanged,
    Crawler,
    Monitors,
    PricePosition,
    RepricingSuggestion,
    Trends,
)

__all__ = [
    "CompetitorDemoReport",
    "CompetitorLine",
    "check_competitors",
    "render_competitor_report",
]

_SHOPS = (  # (path, label, markup, price factor against ours)
    ("gadgetbarn", "Gadget Barn", "json-ld", Decimal("1.12")),
    ("lumenhaus", "Lumen Haus", "microdata", Decimal("0.97")),
    ("deskdepot", "Desk Depot", "plain", Decimal("1.05")),
)
_PRICE_CUT = Decimal("0.90")  # Lumen Haus cuts its price by 10 % between the two runs


@dataclass(frozen=True)
class CompetitorLine:
    label: str
    url: str
    markup: str
    price: Money | None
    availability: str


@dataclass(frozen=True)
class CompetitorDemoReport:
    sku: str
    our_price: Money
    site_url: str
    competitors: tuple[CompetitorLine, ...]
    price_change: CompetitorPriceChanged | None
    events: tuple[str, ...]
    position: PricePosition
    suggestion: RepricingSuggestion


def _page(markup: str, title: str, price: Money) -> str:
    amount, code = format(price.amount, "f"), price.currency
    if markup == "json-ld":
        return (
            f"<html><head><title>{title}</title><script type='application/ld+json'>"
            f'{{"@context": "https://schema.org", "@type": "Product", "name": "{title}",'
            f' "offers": {{"@type": "Offer", "price": "{amount}", "priceCurrency": "{code}",'
            f' "availability": "https://schema.org/InStock"}}}}</script></head>'
            f"<body><h1>{title}</h1></body></html>"
        )
    if markup == "microdata":
        return (
            f"<html><body><div itemscope itemtype='https://schema.org/Product'>"
            f"<h1 itemprop='name'>{title}</h1><div itemprop='offers' itemscope"
            f" itemtype='https://schema.org/Offer'><meta itemprop='priceCurrency' content='{code}'>"
            f"<span itemprop='price' content='{amount}'>{amount}</span><link itemprop="
            f"'availability' href='https://schema.org/InStock'></div></div></body></html>"
        )
    return (
        f"<html><body><h1>{title}</h1><p class='price'>{code} {amount}</p>"
        f"<p class='stock'>In stock</p></body></html>"
    )


class _CompetitorSite:
    def __init__(self, title: str, our_price: Money) -> None:
        self.title = title
        self.prices = {
            path: Money.rounded(our_price.amount * factor, our_price.currency)
            for path, _, _, factor in _SHOPS
        }
        self.markup = {path: markup for path, _, markup, _ in _SHOPS}

    async def product(self, request: Request) -> Response:
        shop = request.path_params["shop"]
        if shop not in self.prices:
            return PlainTextResponse("no such shop", status_code=404)
        return HTMLResponse(_page(self.markup[shop], self.title, self.prices[shop]))

    async def robots(self, request: Request) -> Response:
        return PlainTextResponse("User-agent: *\nAllow: /\n")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/robots.txt", self.robots),
                Route("/{shop}/product", self.product),
            ]
        )


async def check_competitors(kit: Dropkit, sku: str) -> CompetitorDemoReport:
    """Monitor three loopback competitors for ``sku``, run twice, report position and advice.

    The demo's crawler allows loopback (the competitor site runs here); ``kit.crawl`` itself
    keeps refusing private addresses unless the kit was built with ``allow_private_crawl``.
    """
    variant = await kit.commerce.catalog.get_variant_by_sku(sku)
    product = await kit.commerce.catalog.get(variant.product_id)
    site = _CompetitorSite(product.title, variant.price)
    crawler = Crawler(allow_networks=("127.0.0.0/8",))
    try:
        async with serve_on_loopback(site.app()) as url:
            monitors = Monitors(kit.database, kit.events, crawler)
            monitor = await monitors.create(
                variant.id,
                [{"url": f"{url}/{path}/product", "label": label} for path, label, _, _ in _SHOPS],
                name=f"demo: {sku}",
                price_threshold="0.02",
            )
            await monitors.run(monitor.id)
            cut = _SHOPS[1][0]
            site.prices[cut] = Money.rounded(
                site.prices[cut].amount * _PRICE_CUT, variant.price.currency
            )
            second = await monitors.run(monitor.id)
    finally:
        await crawler.aclose()
    trends = Trends(kit.database, commerce=kit.commerce)
    lines = []
    for (_, label, markup, _), competitor, observation in zip(
        _SHOPS, monitor.competitors, second.observations, strict=True
    ):
        lines.append(
            CompetitorLine(
                label=label,
                url=competitor.url,
                markup=markup,
                price=None
                if observation.price is None or observation.currency is None
                else Money(observation.price, observation.currency),
                availability=observation.availability.value,
            )
        )
    change = next((e for e in second.events if isinstance(e, CompetitorPriceChanged)), None)
    return CompetitorDemoReport(
        sku=sku,
        our_price=variant.price,
        site_url=url,
        competitors=tuple(lines),
        price_change=change,
        events=tuple(type(e).type for e in second.events),
        position=await trends.position(variant.id),
        suggestion=await trends.suggest_price(variant.id),
    )


def render_competitor_report(report: CompetitorDemoReport) -> RenderableType:
    """The competitor check as a rich panel: prices, the change event, position, advice."""
    table = Table(title=f"Competitors for {report.sku}", title_justify="left", expand=True)
    for column in ("shop", "markup", "price", "stock"):
        table.add_column(column)
    table.add_row("[bold]us[/bold]", "-", str(report.our_price), "-")
    for line in report.competitors:
        table.add_row(line.label, line.markup, str(line.price or "?"), line.availability)
    position = report.position
    notes = [
        f"position: {position.rank} of {len(position.competitors) + 1}, competitors"
        f" min {position.min} / median {position.median} / max {position.max}"
        f" {position.currency}",
    ]
    if report.price_change is not None:
        change = report.price_change
        notes.append(
            f"event competitor.price_changed: {change.old_price} -> {change.new_price}"
            f" {change.currency} ({change.change:+.1%})"
        )
    suggestion = report.suggestion
    notes.append(
        f"suggested price: {suggestion.suggested} {suggestion.currency}"
        f" (floor {suggestion.floor or 'n/a'}): {suggestion.reason}"
    )
    return Panel(Group(table, *notes), title="Competitor check", expand=True)
