"""Leases against reconciliation: a live sender's rows are never handed back (no double send)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import anyio
from outreach_support import make_outreach, seed_campaign

from dropkit.core.database import Database
from dropkit.outreach import SendState
from dropkit.outreach.providers.outbox import OutboxProvider


class _SlowLookup(OutboxProvider):
    """An outbox whose ``accepted`` lookup waits for a gate (a slow provider API)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.asked = anyio.Event()
        self.gate = anyio.Event()

    async def accepted(self, message_ids: Sequence[str]) -> set[str] | None:
        found = await super().accepted(message_ids)
        self.asked.set()
        await self.gate.wait()
        return found


async def test_reconcile_leaves_rows_whose_lease_was_renewed_meanwhile(
    odb: Database, tmp_path: Path
) -> None:
    provider = _SlowLookup(tmp_path / "outbox")
    service = make_outreach(odb, provider)
    try:
        campaign = await seed_campaign(service, 3)
        await service.campaigns.schedule(campaign.id)
        await service.campaigns.begin(campaign.id)
        start = time.time()
        claim = await service.ledger.claim(campaign.id, 10, lease=10, now=start)
        ids = [s.id for s in claim.sends]
        outcome: dict[SendState, int] = {}

        async def reconcile() -> None:
            # The reconciler's clock is past the lease; the live sender's clock (skewed) is not.
            outcome.update(await service.ledger.reconcile(campaign.id, provider, now=start + 20))

        async with anyio.create_task_group() as tg:
            tg.start_soon(reconcile)
            await provider.asked.wait()
            held = await service.ledger.extend(claim, ids, until=start + 100, now=start + 5)
            provider.gate.set()
        assert held == set(ids)
        assert outcome[SendState.PENDING] == 0
        assert await service.ledger.counts(campaign.id) == {SendState.CLAIMED.value: 3}
    finally:
        await service.aclose()


async def test_a_lapsed_lease_is_not_revived(odb: Database, tmp_path: Path) -> None:
    provider = _SlowLookup(tmp_path / "outbox")
    provider.gate.set()
    service = make_outreach(odb, provider)
    try:
        campaign = await seed_campaign(service, 2)
        await service.campaigns.schedule(campaign.id)
        await service.campaigns.begin(campaign.id)
        now = time.time()
        claim = await service.ledger.claim(campaign.id, 10, lease=1, now=now)
        ids = [s.id for s in claim.sends]
        # Still valid: renewed. Lapsed: refused, so a reconciler may safely hand them back.
        assert await service.ledger.extend(claim, ids[:1], until=now + 60, now=now) == {ids[0]}
        assert await service.ledger.extend(claim, ids, until=now + 60, now=now + 2) == {ids[0]}
        outcome = await service.ledger.reconcile(campaign.id, provider, now=now + 2)
        assert outcome[SendState.PENDING] == 1
        counts = await service.ledger.counts(campaign.id)
        assert counts == {SendState.CLAIMED.value: 1, SendState.PENDING.value: 1}
    finally:
        await service.aclose()
