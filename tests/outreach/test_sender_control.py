"""The sender under control: pause and cancel in flight, leases held through slow sends, review."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from outreach_support import make_outreach, seed_campaign

from dropkit.core.database import Database
from dropkit.outreach import OutgoingMessage, RateLimit, SendState
from dropkit.outreach.providers.base import SendResult
from dropkit.outreach.providers.outbox import OutboxProvider


class _SlowOutbox(OutboxProvider):
    """An outbox that takes ``delay`` seconds per batch (a slow provider API)."""

    def __init__(self, directory: Path, delay: float) -> None:
        super().__init__(directory)
        self.delay = delay
        self.batch_size = 5
        self.written: list[str] = []

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        await anyio.sleep(self.delay)
        self.written += [m.recipient for m in messages]
        return await super().send_batch(messages)


@pytest.mark.parametrize("action", ["pause", "cancel"])
async def test_pause_and_cancel_stop_messages_already_in_the_pipeline(
    odb: Database, tmp_path: Path, action: str
) -> None:
    provider = _SlowOutbox(tmp_path / "outbox", 0.1)
    service = make_outreach(odb, provider, batch_size=10)
    try:
        campaign = await seed_campaign(service, 100)
        await service.campaigns.schedule(campaign.id)
        await service.campaigns.begin(campaign.id)

        async def stop_soon() -> None:
            while len(provider.written) < 5:
                await anyio.sleep(0.01)
            await getattr(service.campaigns, action)(campaign.id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_soon)
            report = await service.sender.run(campaign.id)
        sent_then = len(provider.written)
        # What was not on the wire went back to the ledger: no claims are left behind.
        # At most the batches on the wire (and one just starting) finish after the stop.
        assert sent_then <= 60 and report.released >= 10
        counts = await service.ledger.counts(campaign.id)
        assert counts == {SendState.SENT.value: sent_then, SendState.PENDING.value: 100 - sent_then}
        if action == "pause":
            await service.resume(campaign.id)
            await service.sender.run(campaign.id)
            assert sorted(provider.written) == sorted(set(provider.written))
            assert len(provider.written) == 100
    finally:
        await service.aclose()


async def test_a_slow_send_keeps_its_lease_while_others_reconcile(
    odb: Database, tmp_path: Path
) -> None:
    provider = _SlowOutbox(tmp_path / "outbox", 0.5)
    service = make_outreach(odb, provider, lease=0.3)
    try:
        campaign = await seed_campaign(service, 10)
        await service.campaigns.schedule(campaign.id)
        await service.campaigns.begin(campaign.id)
        taken: list[int] = []
        done = anyio.Event()

        async def other_sender() -> None:  # reconciles as a second process would, repeatedly
            while not done.is_set():
                outcome = await service.ledger.reconcile(campaign.id, provider, now=time.time())
                taken.append(sum(outcome.values()))
                await anyio.sleep(0.05)

        async with anyio.create_task_group() as tg:
            tg.start_soon(other_sender)
            report = await service.sender.run(campaign.id)
            done.set()
    finally:
        await service.aclose()
    assert sum(taken) == 0 and report.lost == 0
    assert report.sent == 10 and sorted(provider.written) == sorted(set(provider.written))
    assert await service.ledger.counts(campaign.id) == {SendState.SENT.value: 10}


async def test_rows_taken_from_a_live_claim_are_never_sent_by_it(
    odb: Database, tmp_path: Path
) -> None:
    """A claim the renewer finds partly gone: the chunks still queued skip the lost rows."""
    provider = _SlowOutbox(tmp_path / "outbox", 0)
    limit = RateLimit(per_second=3)  # one message per chunk, three per second
    service = make_outreach(odb, provider, lease=0.9, batch_size=6, rate_limit=limit)
    try:
        campaign = await seed_campaign(service, 6)
        await service.campaigns.schedule(campaign.id)
        await service.campaigns.begin(campaign.id)

        async def take_two() -> None:  # as a reconciler elsewhere would (lease skew); the
            # claim's last row stays with it, so the claim itself lives on
            while len(provider.written) < 2:
                await anyio.sleep(0.01)
            await odb.execute(
                "UPDATE outreach_sends SET state = 'pending', claim_token = NULL,"
                " claimed_until = NULL WHERE id IN (SELECT id FROM outreach_sends"
                " WHERE campaign_id = {} AND state = 'claimed' ORDER BY id DESC LIMIT 2 OFFSET 1)",
                campaign.id,
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(take_two)
            report = await service.sender.run(campaign.id)
    finally:
        await service.aclose()
    assert report.lost == 2  # dropped by this run's claim, then claimed again and sent once
    assert len(provider.written) == 6 and len(set(provider.written)) == 6
    assert await service.ledger.counts(campaign.id) == {SendState.SENT.value: 6}


class _HookedOutbox(OutboxProvider):
    """An outbox that runs ``hook(n)`` once ``n`` messages are written."""

    def __init__(self, directory: Path, hook: Callable[[int], Awaitable[None]]) -> None:
        super().__init__(directory)
        self.hook = hook
        self.written: list[str] = []

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.written += [m.recipient for m in messages]
        results = await super().send_batch(messages)
        await self.hook(len(self.written))
        return results


async def test_a_lease_confirmed_for_one_chunk_covers_the_rest_of_its_claim(
    odb: Database, tmp_path: Path
) -> None:
    """The background renewer is behind (a slow database): each chunk's own confirm must renew
    the whole claim, or the next chunk trusts a lease its rows no longer have in the ledger."""
    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    async def hook(sent: int) -> None:  # time jumps while chunks are on the wire
        if sent == 1:
            offset[0] = 31.0  # chunk 2 finds the 60 s lease run down past half: confirms
        elif sent == 2:
            offset[0] = 60.5  # the claim-time lease is over: another process reconciles
            await other.ledger.reconcile(campaign.id, provider, now=clock())

    provider = _HookedOutbox(tmp_path / "outbox", hook)
    options: dict[str, Any] = {"lease": 60.0, "batch_size": 3, "clock": clock}
    limit = RateLimit(per_second=10)  # grants of one: three chunks
    service = make_outreach(odb, provider, rate_limit=limit, **options)
    other = make_outreach(odb, provider, **options)
    try:
        campaign = await seed_campaign(service, 3)
        await service.campaigns.schedule(campaign.id)
        await service.campaigns.begin(campaign.id)
        await service.sender.run(campaign.id)
        await other.sender.run(campaign.id)  # sends whatever the reconcile handed back
    finally:
        await service.aclose()
        await other.aclose()
    assert sorted(provider.written) == sorted(set(provider.written))
    assert len(provider.written) == 3


async def test_release_review_sends_again_after_the_campaign_finished(
    odb: Database, tmp_path: Path
) -> None:
    provider = _SlowOutbox(tmp_path / "outbox", 0)
    service = make_outreach(odb, provider)
    try:
        campaign = await seed_campaign(service, 5)
        await service.campaigns.schedule(campaign.id)
        await service.campaigns.begin(campaign.id)
        await odb.execute(
            "UPDATE outreach_sends SET state = 'review'"
            " WHERE id = (SELECT MIN(id) FROM outreach_sends)"
        )
        first = await service.run(campaign.id)
        assert first.sent == 4 and (await service.campaigns.state(campaign.id)).value == "sent"
        assert await service.release_review(campaign.id) == 1
        assert (await service.campaigns.state(campaign.id)).value == "sending"
        second = await service.run(campaign.id)
        assert second.sent == 1
        assert await service.ledger.counts(campaign.id) == {SendState.SENT.value: 5}
        assert (await service.campaigns.state(campaign.id)).value == "sent"
        assert len(provider.written) == 5 == len(set(provider.written))
        assert await service.release_review(campaign.id) == 0
    finally:
        await service.aclose()
