"""The email part of ``dropkit demo``: a launch campaign for a product, through the outbox.

:func:`send_launch_campaign` adds a few demo subscribers and a list, saves a launch template
(the product's name, price, image and video link), sends the campaign through the kit's email
provider (the ``.eml`` outbox by default), then plays a reader: it opens the message and clicks
the product link through the tracking handlers, exactly as the reference app routes them. The
report holds the analytics the ledger and the tracking events give; both demo opens count as
machine opens (one comes from Apple's proxy range, the other seconds after delivery), which is
what the open-rate figures of a real campaign leave out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from dropkit import Dropkit
from dropkit.core.errors import DropkitError
from dropkit.outreach import InboundRequest, OutboxProvider, TemplateKind

__all__ = [
    "DEMO_SUBSCRIBERS",
    "CampaignDemoReport",
    "render_campaign_report",
    "send_launch_campaign",
]

DEMO_SUBSCRIBERS = (
    ("ada@example.com", "Ada", "Europe/London"),
    ("grace@example.com", "Grace", "America/New_York"),
    ("linus@example.com", "Linus", "Europe/Helsinki"),
    ("yukihiro@example.com", "Yukihiro", "Asia/Tokyo"),
)

_LAYOUT = """<html><body style="font-family: sans-serif">
{% block content %}{% endblock %}
<p style="font-size: small"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""

_LAUNCH = """<h1>{{ product.title }} is here</h1>
<p>Hi {{ subscriber.attributes.name }}, {{ product.description }}</p>
{% if product.image %}<p><img src="{{ product.image }}" alt="{{ product.title }}"></p>{% endif %}
<p><a href="{{ product.url }}">Get it for {{ product.price }}</a></p>
{% if product.video %}<p><a href="{{ product.video }}">Watch the video</a></p>{% endif %}"""

_BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"


@dataclass(frozen=True)
class CampaignDemoReport:
    campaign_id: str
    product: str
    subject: str
    recipients: int
    sent: int
    outbox: Path | None
    first_message: Path | None
    unique_opens: int
    machine_opens: int
    unique_clicks: int
    clicks_by_link: dict[str, int]
    unsubscribes: int
    conversions: int
    revenue: dict[str, Decimal]
    resend_sent: int  # a second run of the same campaign: 0, the ledger remembers


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


async def send_launch_campaign(kit: Dropkit, sku: str, video_url: str | None) -> CampaignDemoReport:
    """Send the launch campaign for the product with ``sku`` and simulate a reader."""
    outreach = kit.outreach
    variant = await kit.commerce.catalog.get_variant_by_sku(sku)
    product = await kit.commerce.catalog.get(variant.product_id)
    audience = await outreach.lists.create("demo launch")
    ids = []
    for email, name, timezone in DEMO_SUBSCRIBERS:
        subscriber = await outreach.subscribers.add(
            email, attributes={"name": name}, timezone=timezone, consent_source="dropkit demo"
        )
        ids.append(subscriber.id)
    await outreach.lists.add(audience.id, ids)
    await outreach.templates.save("demo-layout", kind=TemplateKind.LAYOUT, html=_LAYOUT)
    subject = f"New: {product.title}, {variant.price}"
    await outreach.templates.save(
        "demo-launch",
        subject="New: {{ product.title }}, {{ product.price }}",
        html=_LAUNCH,
        layout="demo-layout",
    )
    context = {
        "product": {
            "title": product.title,
            "description": product.description,
            "price": str(variant.price),
            "url": f"{outreach.instrumenter.public_url}/products/{product.slug}",
            "image": product.images[0].url if product.images else None,
            "video": video_url,
        }
    }
    await outreach.templates.preview(
        "demo-launch",
        {**context, "subscriber": {"attributes": {"name": "Preview"}}, "unsubscribe_url": "#"},
    )
    campaign = await outreach.campaigns.create(
        f"Launch: {product.title}",
        template="demo-launch",
        from_address="Dropkit Demo Store <news@dropkit.local>",
        lists=[audience.id],
        context=context,
    )
    report = await outreach.send_now(campaign.id)
    provider = outreach.provider
    outbox = provider.directory if isinstance(provider, OutboxProvider) else None
    first = (
        provider.files()[0] if isinstance(provider, OutboxProvider) and provider.files() else None
    )
    if first is not None:
        await _read_like_a_person(kit, first.read_bytes())
    again = await outreach.sender.run(campaign.id)
    stats = await outreach.analytics.campaign(campaign.id)
    return CampaignDemoReport(
        campaign_id=campaign.id,
        product=product.title,
        subject=subject,
        recipients=stats.recipients,
        sent=report.sent,
        outbox=outbox,
        first_message=first,
        unique_opens=stats.unique_opens,
        machine_opens=stats.machine_opens,
        unique_clicks=stats.unique_clicks,
        clicks_by_link=stats.clicks_by_link,
        unsubscribes=stats.unsubscribes,
        conversions=stats.conversions,
        revenue=stats.revenue,
        resend_sent=again.sent,
    )


async def _read_like_a_person(kit: Dropkit, raw: bytes) -> None:
    """Open the pixel (Apple's proxy first, then a person) and click the product link."""
    text = raw.decode("utf-8", "replace").replace("=\r\n", "").replace("=3D", "=")
    opens = re.findall(r'src="(https?://[^"]+/email/open\?t=[^"]+)"', text)
    clicks = re.findall(r'href="(https?://[^"]+/email/click\?t=[^"]+)"', text)
    if not opens or not clicks:
        raise DropkitError("the demo message has no tracking links")
    open_token = _token(unescape(opens[0]))
    outreach = kit.outreach
    await outreach.handle_open(
        InboundRequest(
            "GET", {"User-Agent": "Mozilla/5.0"}, {"t": open_token}, client_ip="17.0.0.9"
        )
    )
    await outreach.handle_open(
        InboundRequest("GET", {"User-Agent": _BROWSER}, {"t": open_token}, client_ip="192.0.2.7")
    )
    response = await outreach.handle_click(
        InboundRequest("GET", {"User-Agent": _BROWSER}, {"t": _token(unescape(clicks[0]))})
    )
    if response.status != 302:
        raise DropkitError(f"the click handler answered {response.status}")


def render_campaign_report(report: CampaignDemoReport) -> Panel:
    """The campaign's figures as a rich panel."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("campaign", f"{report.subject} ({report.campaign_id})")
    table.add_row("sent", f"{report.sent} of {report.recipients} recipients, once each")
    table.add_row("run again", f"{report.resend_sent} sent (the ledger remembers)")
    if report.outbox is not None:
        table.add_row("outbox", str(report.outbox))
    table.add_row(
        "opens",
        f"{report.unique_opens} human, {report.machine_opens} machine"
        " (Apple's privacy proxy; a reader seconds after delivery counts as a prefetch)",
    )
    links = ", ".join(f"{url} ({n})" for url, n in report.clicks_by_link.items()) or "none"
    table.add_row("clicks", f"{report.unique_clicks} unique: {links}")
    table.add_row("unsubscribes", str(report.unsubscribes))
    revenue = ", ".join(f"{amount} {currency}" for currency, amount in report.revenue.items())
    table.add_row("conversions", f"{report.conversions} ({revenue or 'no revenue yet'})")
    return Panel(Group(table), title=f"Launch email: {report.product}", expand=False)
