"""One render, start to finish: script → voice → footage → manifest → MP4 + companions.

Runs without a database. Every file a failed render wrote is removed again, so a failure
never leaves a half-finished set of outputs behind.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread

from dropkit.media.captions import write_captions
from dropkit.media.errors import MediaInputError
from dropkit.media.footage import FootageProvider, ProductImageFootage
from dropkit.media.results import Progress, RenderedVideo, VideoResult
from dropkit.media.script import ScriptWriter
from dropkit.media.spec import Aspect, VideoSpec
from dropkit.media.timeline import Manifest, save_manifest
from dropkit.media.voice import EspeakVoice, Voice

__all__ = ["Pipeline", "aspect_of", "check_inside", "render_outputs"]


@dataclass
class Pipeline:
    """The pluggable stages of a render."""

    script_writer: ScriptWriter
    voice: Voice | None  # None: espeak-ng in the spec's language and rate
    voice_cache: Path
    footage: list[FootageProvider] = field(default_factory=list)

    async def run(
        self,
        spec: VideoSpec,
        out_dir: Path,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> VideoResult:
        from dropkit.media.planner import plan_manifest  # numpy and PyAV: the media extra

        started = time.perf_counter()
        report = progress or (lambda stage, done, total: None)
        written: list[Path] = []
        videos: list[RenderedVideo] = []
        try:
            for variant in range(spec.variants):
                report("script", 0, 0)
                script = await self.script_writer.write(spec, variant=variant)
                report("voice", 0, 0)
                voice = self.voice or EspeakVoice(
                    self.voice_cache, voice=spec.language, rate=spec.voice_rate
                )
                voices = [await voice.speak(s.sentence) for s in script.scenes]
                footage = list(self.footage)
                if spec.product is not None and spec.product.images:
                    footage.insert(0, ProductImageFootage(spec.product.images))
                for aspect in spec.aspects:
                    report("footage", 0, 0)
                    manifest = await plan_manifest(spec, aspect, variant, script, voices, footage)
                    stem = out_dir / f"{spec.name}-{aspect.value.replace(':', 'x')}-v{variant + 1}"
                    videos.append(
                        await render_outputs(
                            manifest,
                            stem,
                            variant=variant,
                            written=written,
                            progress=report,
                            cancel=cancel,
                        )
                    )
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return VideoResult(videos=tuple(videos), seconds=time.perf_counter() - started)


async def render_outputs(
    manifest: Manifest,
    stem: Path,
    *,
    variant: int = 0,
    written: list[Path] | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> RenderedVideo:
    """MP4, SRT, VTT, thumbnail and manifest for one manifest, at ``stem`` + suffixes."""
    from dropkit.media.rendering import render_manifest

    files = written if written is not None else []
    stem.parent.mkdir(parents=True, exist_ok=True)
    mp4, thumb = stem.with_suffix(".mp4"), stem.with_suffix(".jpg")
    stop = cancel or threading.Event()
    try:
        try:
            stats = await anyio.to_thread.run_sync(
                lambda: render_manifest(
                    manifest, mp4, thumbnail=thumb, progress=progress, cancel=stop
                ),
                abandon_on_cancel=True,
            )
        except anyio.get_cancelled_exc_class():
            stop.set()  # the thread stops at its next frame and removes its partial file
            raise
        files += [mp4, thumb]
        srt_path, vtt_path = write_captions(manifest, stem)
        files += [srt_path, vtt_path]
        manifest_path = save_manifest(manifest, stem.with_suffix(".json"))
        files.append(manifest_path)
    except BaseException:
        if written is None:
            for path in files:
                path.unlink(missing_ok=True)
        raise
    return RenderedVideo(
        aspect=aspect_of(manifest),
        variant=variant,
        video=str(mp4),
        srt=str(srt_path),
        vtt=str(vtt_path),
        thumbnail=str(thumb),
        manifest=str(manifest_path),
        width=manifest.width,
        height=manifest.height,
        frames=stats.frames,
        duration=stats.duration,
        bytes=stats.bytes,
        seconds=stats.seconds,
        attributions=manifest.attributions,
    )


def aspect_of(manifest: Manifest) -> Aspect:
    if manifest.height > manifest.width:
        return Aspect.VERTICAL
    return Aspect.LANDSCAPE if manifest.width > manifest.height else Aspect.SQUARE


def check_inside(path: Path, root: Path, stage: str = "output") -> Path:
    """``path`` resolved, refused unless it lies under ``root``."""
    resolved, base = path.resolve(), root.resolve()
    if not resolved.is_relative_to(base):
        raise MediaInputError(stage, f"output path is outside {base}", file=path)
    return resolved
