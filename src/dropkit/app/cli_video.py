"""``dropkit video``: render a spec or a manifest, or a store product, with a progress bar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dropkit.core.errors import ConfigurationError

if TYPE_CHECKING:
    from dropkit.media import Manifest, VideoSpec

__all__ = ["video_app"]

video_app = typer.Typer(
    help="Render product videos (PyAV, offline by default).", no_args_is_help=True
)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.fields[stage]:>8}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} frames"),
        TimeElapsedColumn(),
    )


def _move_single(result_video: object, out: Path) -> Path:
    """Give a single-output render the file names the user asked for (atomic renames)."""
    from dropkit.media import RenderedVideo
    from dropkit.media.files import output_stem, with_ext

    assert isinstance(result_video, RenderedVideo)
    stem = output_stem(out)  # "summer.v2.mp4" → "summer.v2", dots in the name kept
    for source, suffix in (
        (result_video.srt, ".srt"),
        (result_video.vtt, ".vtt"),
        (result_video.thumbnail, ".jpg"),
        (result_video.manifest, ".json"),
    ):
        Path(source).replace(with_ext(stem, suffix))
    Path(result_video.video).replace(out)
    return out


def _parse_input(data: object, path: Path) -> Manifest | VideoSpec:
    """A saved (or edited) manifest, else a spec; when neither validates, the error of the one
    the file was meant to be (a manifest has scenes)."""
    from dropkit.media import Manifest, MediaInputError, VideoSpec

    try:
        return Manifest.parse(data, file=path)
    except MediaInputError as not_manifest:
        try:
            return VideoSpec.parse(data)
        except MediaInputError:
            if isinstance(data, dict) and "scenes" in data:
                raise not_manifest from None
            raise


@video_app.command("render")
def render(
    spec_file: Annotated[Path, typer.Argument(help="A VideoSpec or a saved manifest, as JSON.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The MP4 to write.")],
) -> None:
    """Render SPEC.json (or an edited manifest) to an MP4 with SRT, VTT, thumbnail, manifest."""
    from dropkit.app.cli import fail, out, run, settings_from, setup_logging
    from dropkit.media import Manifest, VideoFactory

    settings = settings_from()
    setup_logging(settings, "WARNING")
    try:
        text = spec_file.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {spec_file}: {exc}") from None
    output = output.absolute()
    factory = VideoFactory(settings.data_dir / "media", output_root=output.parent)

    with _progress() as bar:
        task = bar.add_task("render", total=None, stage="start")

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None, stage=stage)

        async def body() -> object:
            parsed = _parse_input(data, spec_file)
            if isinstance(parsed, Manifest):
                return await factory.render_manifest(parsed, output, progress=progress)
            spec = parsed
            result = await factory.render(spec, out_dir=output.parent, progress=progress)
            if len(result.videos) == 1:
                return _move_single(result.videos[0], output)
            return [v.video for v in result.videos]

        written = run(body)
    paths = written if isinstance(written, list) else [getattr(written, "video", written)]
    for path in paths:
        out.print(f"wrote [cyan]{path}[/]")


@video_app.command("from-product")
def from_product(
    sku: Annotated[str, typer.Argument(help="The SKU of a product variant in the store.")],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write the files.")] = Path(
        "videos"
    ),
    resolution: Annotated[int, typer.Option(help="The short side in pixels.")] = 1080,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="sqlite:///... or postgresql://...")
    ] = None,
) -> None:
    """Render a vertical video of the product sold under SKU (offline providers)."""
    from dropkit import Dropkit
    from dropkit.app.cli import out, run, settings_from, setup_logging
    from dropkit.media import Aspect, VideoFactory, VideoSpec
    from dropkit.media.products import product_brief

    settings = settings_from(database_url=database_url)
    setup_logging(settings, "WARNING")
    target = out_dir.absolute()

    with _progress() as bar:
        task = bar.add_task("render", total=None, stage="start")

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None, stage=stage)

        async def body() -> list[str]:
            kit = Dropkit(
                database_url=settings.resolved_database_url,
                data_dir=settings.data_dir,
                run_jobs=False,
            )
            async with kit:
                catalog = kit.commerce.catalog
                variant = await catalog.get_variant_by_sku(sku)
                product = await catalog.get(variant.product_id)
            if not resolution % 2 == 0:
                raise ConfigurationError("resolution must be even")
            brief = product_brief(product, sku, image_dirs=[settings.data_dir / "media", target])
            factory = VideoFactory(settings.data_dir / "media", output_root=target)
            spec = VideoSpec(
                product=brief, aspects=(Aspect.VERTICAL,), resolution=resolution, name=sku.lower()
            )
            result = await factory.render(spec, out_dir=target, progress=progress)
            return [v.video for v in result.videos]

        written = run(body)
    for path in written:
        out.print(f"wrote [cyan]{path}[/]")
