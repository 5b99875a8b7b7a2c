"""A product video rendered offline: template script, espeak-ng voice, Ken Burns product shots.

Run it: ``python examples/product_video.py``. It draws a product image, renders a small
vertical video and a square one, re-renders an edited manifest, and prints the files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio

from dropkit.app.demo_store import draw_product_image
from dropkit.media import (
    Aspect,
    ProductBrief,
    Quality,
    VideoFactory,
    VideoSpec,
    load_manifest,
)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        image = draw_product_image(
            "Aurora Desk Lamp", "lamp", ("#fde68a", "#f59e0b"), data_dir / "lamp.png"
        )
        factory = VideoFactory(data_dir)  # offline: no keys, no network
        spec = VideoSpec(
            product=ProductBrief(
                title="Aurora Desk Lamp",
                features=("Dimmable warm light",),
                price="$31.00",
                compare_at="$39.00",
                images=(str(image),),
            ),
            aspects=(Aspect.VERTICAL, Aspect.SQUARE),
            resolution=240,  # small and fast; 1080 is the default
            fps=24,
            quality=Quality(preset="veryfast"),
        )
        result = await factory.render(spec)
        for video in result.videos:
            print(
                f"{video.aspect.value:>5}  {video.width}x{video.height}  {video.duration:4.1f} s"
                f"  {video.frames} frames in {video.seconds:.2f} s  {Path(video.video).name}"
            )

        # The manifest is the whole video as JSON: edit it and render again.
        manifest = load_manifest(Path(result.videos[0].manifest))
        first = manifest.texts[0].model_copy(update={"text": "Your desk, upgraded"})
        edited = manifest.model_copy(update={"texts": (first, *manifest.texts[1:])})
        again = await factory.render_manifest(edited, data_dir / "videos" / "edited.mp4")
        subtitles = await anyio.Path(again.srt).read_text()
        print("re-rendered:", Path(again.video).name, "starts with", subtitles.splitlines()[2])


if __name__ == "__main__":
    anyio.run(main)
