"""The demo's product video: one store product rendered offline into a short vertical ad.

Template script from the product's facts, espeak-ng narration, the product's generated images
as Ken Burns shots, an end card with title and price; 540x960 so the demo stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.panel import Panel
from rich.table import Table

from dropkit import Dropkit
from dropkit.media import Aspect, Quality, VideoFactory, VideoSpec
from dropkit.media.products import product_brief

__all__ = ["VideoDemoReport", "make_product_video", "render_video_report"]


@dataclass(frozen=True)
class VideoDemoReport:
    sku: str
    title: str
    video: Path
    srt: Path
    thumbnail: Path
    manifest: Path
    duration: float
    width: int
    height: int
    frames: int
    bytes: int
    seconds: float

    @property
    def speed(self) -> float:
        """Frames rendered per second of wall time."""
        return self.frames / self.seconds if self.seconds else 0.0


async def make_product_video(
    kit: Dropkit, sku: str, out_dir: Path, *, resolution: int = 540
) -> VideoDemoReport:
    """Render a short offline video of the product sold as ``sku`` into ``out_dir``."""
    catalog = kit.commerce.catalog
    variant = await catalog.get_variant_by_sku(sku)
    product = await catalog.get(variant.product_id)
    brief = product_brief(product, sku, image_dirs=[kit.data_dir / "media", out_dir])
    pipeline = kit.media.pipeline
    factory = VideoFactory(
        kit.media.data_dir,
        output_root=out_dir,
        script_writer=pipeline.script_writer,
        voice=pipeline.voice,
        footage=pipeline.footage,
    )
    spec = VideoSpec(
        product=brief,
        aspects=(Aspect.VERTICAL,),
        resolution=resolution,
        fps=30,
        quality=Quality(preset="veryfast", crf=23),
        name=sku.lower(),
    )
    result = await factory.render(spec, out_dir=out_dir)
    video = result.videos[0]
    return VideoDemoReport(
        sku=sku,
        title=product.title,
        video=Path(video.video),
        srt=Path(video.srt),
        thumbnail=Path(video.thumbnail),
        manifest=Path(video.manifest),
        duration=video.duration,
        width=video.width,
        height=video.height,
        frames=video.frames,
        bytes=video.bytes,
        seconds=result.seconds,
    )


def render_video_report(report: VideoDemoReport) -> Panel:
    """The rendered video's facts as a rich panel."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("video", f"{report.video} ({report.bytes / 1e6:.1f} MB)")
    table.add_row(
        "format",
        f"{report.width}x{report.height}, {report.duration:.1f} s, {report.frames} frames,"
        " H.264 + AAC",
    )
    table.add_row(
        "rendered", f"in {report.seconds:.1f} s ({report.speed:.0f} frames/s, one encode)"
    )
    table.add_row("subtitles", str(report.srt))
    table.add_row("thumbnail", str(report.thumbnail))
    table.add_row("manifest", f"{report.manifest} (edit and re-render)")
    return Panel(table, title=f"Product video: {report.title} ({report.sku})", expand=False)
