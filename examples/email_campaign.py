"""An email campaign on the embedded defaults: SQLite and the .eml outbox, no servers.

Run it: ``python examples/email_campaign.py``. It imports subscribers from CSV, suppresses one,
previews a template, sends an A/B campaign (each message once, even when run twice), sends an
idempotent receipt, follows a tracked click and prints the campaign's figures.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio

from dropkit import Dropkit
from dropkit.outreach import InboundRequest, SuppressionReason, TemplateError, Variant

SUBSCRIBERS = """email,name,timezone
ada@example.com,Ada,Europe/London
grace@example.com,Grace,America/New_York
linus@example.com,Linus,Europe/Helsinki
not-an-address,Nobody,
"""


async def main(data_dir: Path) -> None:
    async with Dropkit(data_dir=data_dir, tracking_secret="example-secret-0123456789") as kit:
        mail = kit.outreach
        newsletter = await mail.lists.create("newsletter")
        report = await mail.import_csv(SUBSCRIBERS, list_id=newsletter.id)
        print(f"imported {report.imported} subscribers; rejected lines: {report.errors}")
        await mail.suppressions.add("linus@example.com", SuppressionReason.UNSUBSCRIBED)

        await mail.templates.save(
            "spring",
            subject="Spring sale, {{ subscriber.attributes.name }}",
            html="<p>Hi {{ subscriber.attributes.name }},</p>"
            '<p><a href="https://shop.example/sale">20% off lamps</a></p>',
        )
        preview = await mail.templates.preview(
            "spring", {"subscriber": {"attributes": {"name": "Preview"}}}
        )
        print(f"preview subject: {preview.subject!r}; text part: {preview.text.strip()!r}")
        await mail.templates.save("unsafe", subject="x", html="{{ ''.__class__.__mro__ }}")
        try:
            await mail.templates.preview("unsafe", {})
        except TemplateError as exc:
            print(f"sandbox: {exc}")

        campaign = await mail.campaigns.create(
            "Spring sale",
            template="spring",
            from_address="Shop <news@shop.example>",
            lists=[newsletter.id],
            variants=[
                Variant("A", "Spring sale, {{ subscriber.attributes.name }}"),
                Variant("B", "{{ subscriber.attributes.name }}, 20% off lamps"),
            ],
        )
        first = await mail.send_now(campaign.id)
        second = await mail.sender.run(campaign.id)
        print(f"sent {first.sent} (suppressed skipped), run again: {second.sent} more")

        await mail.templates.save("receipt", subject="Order #{{ number }}", html="<p>Thanks!</p>")
        for _ in range(2):
            receipt = await mail.transactional.send(
                "order:1001:confirmation", "receipt", "linus@example.com", {"number": 1001}
            )
        print(f"receipt to an unsubscribed customer: {receipt.state}, once (created on first call)")

        outbox = data_dir / "outbox"  # the default provider writes one .eml per message
        eml = next(p for p in outbox.glob("*.eml") if campaign.id in p.read_text())
        raw = eml.read_text().replace("=\n", "").replace("=3D", "=")
        token = parse_qs(urlsplit(raw.split('href="')[1].split('"')[0]).query)["t"][0]
        browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
        response = await mail.handle_click(InboundRequest("GET", browser, {"t": token}))
        print(f"click -> {response.status} {response.headers['Location']}")
        forged = await mail.handle_click(InboundRequest("GET", browser, {"t": token[:-4] + "AAAA"}))
        print(f"forged click -> {forged.status}")

        stats = await mail.analytics.campaign(campaign.id)
        print(
            f"campaign: {stats.sent} sent, {stats.unique_clicks} unique click(s),"
            f" clicks by link {stats.clicks_by_link}"
        )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(main, Path(tmp))
