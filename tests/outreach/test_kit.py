"""kit.outreach: the durable sending job, and conversions from the store's events."""

from __future__ import annotations

import re
import time
from pathlib import Path

import anyio
from outreach_support import seed_campaign

from dropkit import Dropkit
from dropkit.commerce.events import OrderPaid, OrderPlaced
from dropkit.core.money import Money
from dropkit.outreach import CampaignState, InboundRequest, OutboxProvider


async def test_kit_sends_through_a_durable_job_and_attributes_orders(
    database_url: str, tmp_path: Path
) -> None:
    async with Dropkit(
        database_url=database_url,
        data_dir=tmp_path,
        tracking_secret="kit-secret-0123456789abcdef",
        poll_interval=0.05,
    ) as kit:
        campaign = await seed_campaign(kit.outreach, 5)
        await kit.outreach.schedule(campaign.id)
        with anyio.fail_after(20):
            while await kit.outreach.campaigns.state(campaign.id) is not CampaignState.SENT:
                await anyio.sleep(0.05)
        provider = kit.outreach.provider
        assert isinstance(provider, OutboxProvider)
        assert provider.directory == tmp_path / "outbox"
        assert len(provider.files()) == 5

        raw = provider.files()[0].read_text().replace("=\n", "").replace("=3D", "=")
        token = re.findall(r"/email/click\?t=([\w.-]+)", raw)[0]  # text part first, then HTML
        clicked = await kit.outreach.handle_click(
            InboundRequest(
                "GET", {"User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/130"}, {"t": token}
            )
        )
        assert clicked.status == 302
        to = raw.split("\nTo: ")[1].split("\n")[0].strip()
        await kit.events.publish(
            OrderPlaced(
                order_id="o-1", number=1, email=to, total=Money("12.50", "USD"), vendor_ids=[]
            )
        )
        with anyio.fail_after(20):
            while not await kit.database.fetchval("SELECT COUNT(*) FROM outreach_conversions"):
                await anyio.sleep(0.05)
        await kit.events.publish(OrderPaid(order_id="o-1", number=1, amount=Money("12.50", "USD")))
        with anyio.fail_after(20):
            while (await kit.outreach.analytics.campaign(campaign.id)).conversions == 0:
                await anyio.sleep(0.05)
        stats = await kit.outreach.analytics.campaign(campaign.id)
        assert stats.sent == 5 and str(stats.revenue["USD"]) == "12.50"


async def test_job_comes_back_for_claims_a_dead_sender_left(tmp_path: Path) -> None:
    async with Dropkit(
        data_dir=tmp_path, tracking_secret="kit-secret-0123456789abcdef", poll_interval=0.05
    ) as kit:
        campaign = await seed_campaign(kit.outreach, 5)
        await kit.outreach.campaigns.schedule(campaign.id)
        await kit.outreach.campaigns.begin(campaign.id)
        # a sender claims two rows and dies before sending them
        dead = await kit.outreach.ledger.claim(campaign.id, 2, lease=0.5, now=time.time())
        assert len(dead.sends) == 2
        await kit.outreach.campaigns.pause(campaign.id)
        await kit.outreach.resume(campaign.id)
        with anyio.fail_after(20):
            while await kit.outreach.campaigns.state(campaign.id) is not CampaignState.SENT:
                await anyio.sleep(0.05)
        assert await kit.outreach.ledger.counts(campaign.id) == {"sent": 5}
        provider = kit.outreach.provider
        assert isinstance(provider, OutboxProvider) and len(provider.files()) == 5
