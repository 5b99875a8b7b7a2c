"""Every recipient exactly once at a real SMTP server: kill -9 and resume, two senders at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
from outreach_support import make_outreach, seed_campaign
from smtp_sink import SmtpSink

from dropkit.core.database import Database
from dropkit.outreach import SendState, SmtpProvider

HERE = Path(__file__).resolve().parent


def _sender(
    url: str, port: int, campaign_id: str, rate: int, lease: float, go: Path | None = None
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [
            sys.executable,
            str(HERE / "sender_proc.py"),
            url,
            str(port),
            campaign_id,
            str(rate),
            str(lease),
            *([] if go is None else [str(go)]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


async def _wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await anyio.sleep(0.02)


async def test_kill_9_mid_campaign_then_resume_sends_each_once(
    odb: Database, database_url: str, sink: SmtpSink
) -> None:
    recipients = 200
    service = make_outreach(odb, SmtpProvider("127.0.0.1", sink.port, delivery_lookup=sink.lookup))
    try:
        campaign = await seed_campaign(service, recipients)
        await service.campaigns.schedule(campaign.id)
        await service.campaigns.begin(campaign.id)
        process = _sender(database_url, sink.port, campaign.id, rate=150, lease=1.0)
        await _wait_for(lambda: sink.count() >= 60)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
        assert process.returncode == -signal.SIGKILL
        killed_at = sink.count()
        assert 60 <= killed_at < recipients  # the kill landed mid-campaign
        counts = await service.ledger.counts(campaign.id)
        assert counts.get("claimed", 0) > 0  # a claim was left behind by the dead process

        await anyio.sleep(1.1)  # its lease expires
        report = await service.sender.run(campaign.id)
        assert report.reconciled + report.sent + killed_at >= recipients
        per_recipient = sink.per_recipient()
        assert len(per_recipient) == recipients
        assert set(per_recipient.values()) == {1}
        counts = await service.ledger.counts(campaign.id)
        assert counts.get("sent", 0) + counts.get("reconciled", 0) == recipients
        assert (await service.campaigns.state(campaign.id)).value == "sent"
    finally:
        await service.aclose()


async def test_two_sender_processes_split_one_campaign(
    postgres_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    from dropkit.commerce.schema import COMMERCE_MIGRATIONS
    from dropkit.core.migrations import Migrator
    from dropkit.core.schema import CORE_MIGRATIONS
    from dropkit.outreach import OUTREACH_MIGRATIONS

    recipients = 240
    async with Database(postgres_url) as db:
        await Migrator(db, [*CORE_MIGRATIONS, *COMMERCE_MIGRATIONS, *OUTREACH_MIGRATIONS]).migrate()
        service = make_outreach(db, SmtpProvider("127.0.0.1", sink.port))
        try:
            campaign = await seed_campaign(service, recipients)
            await service.campaigns.schedule(campaign.id)
            await service.campaigns.begin(campaign.id)
            go = tmp_path / "go"
            first = _sender(postgres_url, sink.port, campaign.id, rate=200, lease=30.0, go=go)
            second = _sender(postgres_url, sink.port, campaign.id, rate=200, lease=30.0, go=go)
            for process in (first, second):
                assert process.stdout is not None
                line = await anyio.to_thread.run_sync(process.stdout.readline)
                assert line.strip() == "ready"
            go.touch()
            outputs = [p.communicate(timeout=60)[0] for p in (first, second)]
            assert first.returncode == 0 and second.returncode == 0
            shares = [int(out.split()[-1]) for out in outputs]
            assert sum(shares) == recipients
            assert all(share > 0 for share in shares)  # both processes took part
            per_recipient = sink.per_recipient()
            assert len(per_recipient) == recipients and set(per_recipient.values()) == {1}
            counts = await service.ledger.counts(campaign.id)
            assert counts == {SendState.SENT.value: recipients}
        finally:
            await service.aclose()
