"""The demo's product video: rendered offline for a seeded product, reported in a panel."""

from __future__ import annotations

from pathlib import Path

import av
from rich.console import Console

from dropkit import Dropkit
from dropkit.app.demo_store import seed_store
from dropkit.app.demo_video import make_product_video, render_video_report
from dropkit.media import load_manifest


def _video_facts(path: Path) -> tuple[int, int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height, len(container.streams.audio)


async def test_product_video_demo(tmp_path: Path) -> None:
    async with Dropkit(data_dir=tmp_path / "kit") as kit:
        await seed_store(kit, tmp_path / "kit" / "media", media_url="http://127.0.0.1:1/media")
        report = await make_product_video(
            kit, "LAMP-AURORA-01-WW", tmp_path / "videos", resolution=180
        )
    assert report.video.is_file() and report.video.parent == tmp_path / "videos"
    assert _video_facts(report.video) == (180, 320, 1)
    assert report.srt.read_text().startswith("1\n00:00:00,000 --> ")
    manifest = load_manifest(report.manifest)
    assert manifest.scenes[0].text == "Meet the Aurora Desk Lamp."
    assert manifest.scenes[0].source.kind == "image"  # the seeded product photos
    assert any(t.text == "$31.00" for t in manifest.texts)
    assert report.frames == round(report.duration * 30) and report.speed > 0
    console = Console(record=True, width=160)
    console.print(render_video_report(report))
    text = console.export_text()
    assert "Product video: Aurora Desk Lamp (LAMP-AURORA-01-WW)" in text
    assert "180x320" in text
