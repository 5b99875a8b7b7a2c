"""Campaign states, audience rules, A/B split, local time, suppression, outbox reconciliation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from outreach_support import make_outreach, seed_campaign

from dropkit.core.database import Database
from dropkit.core.errors import ValidationError
from dropkit.outreach import (
    CampaignState,
    CampaignStateError,
    OutboxProvider,
    Outreach,
    SendState,
    SuppressionReason,
    Variant,
)
from dropkit.outreach.campaigns import assign_variant, local_due
from dropkit.outreach.ledger import NewSend
from dropkit.outreach.message import deterministic_message_id


async def test_campaign_sends_to_audience_minus_suppressed_and_excluded(
    outreach: Outreach, tmp_path: Path
) -> None:
    campaign = await seed_campaign(outreach, 6)
    blocked = await outreach.lists.create("blocked")
    await outreach.lists.add(
        blocked.id, [(await outreach.subscribers.by_email("user0001@example.com")).id]
    )
    await outreach.suppressions.add("user0002@example.com", SuppressionReason.COMPLAINT)
    campaign = await outreach.campaigns.create(
        "Excluding",
        template="launch",
        from_address="shop@example.com",
        lists=list(campaign.list_ids),
        exclude_lists=[blocked.id],
        variants=[Variant("A", "Subject A"), Variant("B", "Subject B {{ subscriber.email }}")],
    )
    await outreach.campaigns.schedule(campaign.id)
    assert await outreach.campaigns.begin(campaign.id) == 4
    # suppressed after the audience was built: still never sent
    await outreach.suppressions.add("user0003@example.com", SuppressionReason.UNSUBSCRIBED)
    report = await outreach.sender.run(campaign.id)
    assert (report.sent, report.suppressed) == (3, 1)
    assert isinstance(outreach.provider, OutboxProvider)
    files = outreach.provider.files()
    assert len(files) == 3
    subjects = {
        line for f in files for line in f.read_text().splitlines() if line.startswith("Subject:")
    }
    assert subjects <= {"Subject: Subject A"} | {
        f"Subject: Subject B user000{n}@example.com" for n in range(6)
    }
    assert (await outreach.campaigns.get(campaign.id)).state is CampaignState.SENT
    stats = await outreach.analytics.campaign(campaign.id)
    assert (stats.sent, stats.suppressed, stats.recipients) == (3, 1, 4)
    # sending again sends nothing: the ledger remembers
    assert (await outreach.sender.run(campaign.id)).sent == 0


async def test_state_machine_and_pause_resume(outreach: Outreach) -> None:
    campaign = await seed_campaign(outreach, 3)
    with pytest.raises(CampaignStateError):
        await outreach.campaigns.begin(campaign.id)
    with pytest.raises(ValidationError):
        await outreach.campaigns.schedule(campaign.id, datetime(2030, 1, 1))
    await outreach.schedule(campaign.id, datetime.now(UTC) + timedelta(days=1))
    assert (await outreach.run(campaign.id)).sent == 0  # not due yet
    await outreach.campaigns.pause(campaign.id)
    resumed = await outreach.campaigns.resume(campaign.id)
    assert resumed.state is CampaignState.SCHEDULED
    cancelled = await outreach.campaigns.cancel(campaign.id)
    assert cancelled.state is CampaignState.CANCELLED
    with pytest.raises(CampaignStateError):
        await outreach.campaigns.pause(campaign.id)

    second = await outreach.campaigns.create(
        "Again", template="launch", from_address="shop@example.com", lists=list(campaign.list_ids)
    )
    await outreach.campaigns.schedule(second.id)
    await outreach.campaigns.begin(second.id)
    await outreach.campaigns.pause(second.id)
    assert (await outreach.sender.run(second.id)).sent == 0  # paused: nothing goes
    await outreach.resume(second.id)
    assert (await outreach.sender.run(second.id)).sent == 3
    with pytest.raises(ValidationError):
        await outreach.campaigns.create("x", template="launch", from_address="shop@example.com")
    with pytest.raises(ValidationError):
        await outreach.campaigns.create(
            "x",
            template="launch",
            from_address="s@example.com",
            lists=["l"],
            variants=[Variant("A", "a"), Variant("A", "b")],
        )


def test_ab_split_is_stable_and_weighted() -> None:
    variants = [Variant("A", "a", 3), Variant("B", "b", 1)]
    picks = [assign_variant(f"sub_{n}", variants) for n in range(2000)]
    assert picks == [assign_variant(f"sub_{n}", variants) for n in range(2000)]
    assert 0.7 < picks.count("A") / len(picks) < 0.8


def test_local_time_delivery() -> None:
    nine_utc = datetime(2030, 6, 1, 9, 0, tzinfo=UTC).timestamp()
    assert local_due(nine_utc, None) == nine_utc
    tokyo = local_due(nine_utc, "Asia/Tokyo")
    assert tokyo == datetime(2030, 6, 1, 0, 0, tzinfo=UTC).timestamp()  # 09:00 in Tokyo
    assert local_due(nine_utc, "Nowhere/Else") == nine_utc


async def test_local_time_rows_wait_for_their_hour(outreach: Outreach) -> None:
    campaign = await seed_campaign(outreach, 2)
    tokyo = await outreach.subscribers.add("tokyo@example.com", timezone="Asia/Tokyo")
    await outreach.lists.add(campaign.list_ids[0], [tokyo.id])
    at = datetime.now(UTC) + timedelta(hours=3)
    await outreach.campaigns.schedule(campaign.id, at, local_time=True)
    await outreach.campaigns.begin(campaign.id)
    report = await outreach.sender.run(campaign.id)
    assert report.sent == 1  # only Tokyo's 'in three hours' wall-clock time has passed
    assert await outreach.ledger.next_due(campaign.id) == pytest.approx(at.timestamp(), abs=1)
    assert (await outreach.campaigns.state(campaign.id)) is CampaignState.SENDING


async def test_outbox_reconciles_an_expired_claim_exactly(odb: Database, tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path / "out")
    service = make_outreach(odb, provider)
    campaign = await seed_campaign(service, 3)
    await service.campaigns.schedule(campaign.id)
    await service.campaigns.begin(campaign.id)
    # a sender claims two rows (its lease already over) and dies
    claim = await service.ledger.claim(campaign.id, 2, lease=-1.0, now=time.time())
    assert len(claim.sends) == 2
    # a crashed sender got the first message out, not the second
    from dropkit.outreach.message import OutgoingMessage

    first = claim.sends[0]
    await provider.send_batch(
        [OutgoingMessage(first.message_id, "s@example.com", first.email, "s", "<p>h</p>", "h")]
    )
    report = await service.sender.run(campaign.id)
    assert report.reconciled == 1
    assert report.sent == 2  # the unsent claimed one and the third
    counts = await service.ledger.counts(campaign.id)
    assert counts == {SendState.SENT.value: 2, SendState.RECONCILED.value: 1}
    assert len(provider.files()) == 3
    assert (
        await service.ledger.add(
            campaign.id,
            [
                NewSend(
                    first.subscriber_id,
                    first.email,
                    "A",
                    0.0,
                    deterministic_message_id("x", "y", "z"),
                )
            ],
        )
        == 0
    )
    await service.aclose()


async def test_begin_reads_the_audience_a_page_at_a_time(outreach: Outreach) -> None:
    campaign = await seed_campaign(outreach, 7)
    outreach.campaigns.page_size = 3  # 3 + 3 + 1: every page lands, none twice
    await outreach.campaigns.schedule(campaign.id)
    assert await outreach.campaigns.begin(campaign.id) == 7
    rows = await outreach.database.fetch("SELECT subscriber_id, variant FROM outreach_sends")
    assert len({r["subscriber_id"] for r in rows}) == 7
    assert (await outreach.campaigns.state(campaign.id)).value == "sending"
