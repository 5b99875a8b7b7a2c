"""The demo's launch campaign: sent once through the outbox, opened, clicked, reported."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from dropkit import Dropkit
from dropkit.app.demo_email import DEMO_SUBSCRIBERS, render_campaign_report, send_launch_campaign
from dropkit.app.demo_store import seed_store


async def test_launch_campaign_demo(tmp_path: Path) -> None:
    async with Dropkit(
        data_dir=tmp_path / "kit", tracking_secret="demo-secret-for-tests-only"
    ) as kit:
        await seed_store(kit, tmp_path / "media", media_url="http://127.0.0.1:1/media")
        report = await send_launch_campaign(
            kit, "LAMP-AURORA-01-WW", "https://videos.example/lamp.mp4"
        )
    assert report.sent == report.recipients == len(DEMO_SUBSCRIBERS)
    assert report.resend_sent == 0
    assert report.outbox == tmp_path / "kit" / "outbox"
    assert report.first_message is not None
    raw = report.first_message.read_text()
    assert "Aurora Desk Lamp" in raw and "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    # the video link is tracked in both parts now: no raw destination URL left in the message
    decoded = raw.replace("=\n", "").replace("=3D", "=")  # quoted-printable, undone
    assert "videos.example/lamp.mp4" not in decoded and decoded.count("/email/click?t=") == 4
    # both opens (Apple proxy; seconds after delivery) are machine-made: one reader, counted apart
    assert (report.unique_opens, report.machine_opens, report.unique_clicks) == (0, 1, 1)
    assert list(report.clicks_by_link) == ["http://localhost:8000/products/aurora-desk-lamp"]
    console = Console(record=True, width=120)
    console.print(render_campaign_report(report))
    text = console.export_text()
    assert "4 of 4 recipients" in text and "0 human, 1 machine" in text
