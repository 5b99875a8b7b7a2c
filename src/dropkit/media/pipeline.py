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
from dropkit.media.errors import MediaInputError, RenderCancelled
from dropkit.media.files import with_ext
from dropkit.media.footage import FootageProvider, ProductImageFootage
from dropkit.media.results import Progress, RenderedVideo, VideoResult
from dropkit.media.script import ScriptWriter
from dropkit.media.spec import Aspect, VideoSpec
from dropkit.media.timeline import Manifest, save_manifest
from dropkit.media.voice import EspeakVoice, RateAdjustable, Voice

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
        from dropkit.media.planner import plan_manifest, voice_duration  # the media extra

        started = time.perf_counter()
        report = progress or (lambda stage, done, total: None)
        written: list[Path] = []
        videos: list[RenderedVideo] = []
        stop = cancel or threading.Event()

        def stage(name: str) -> None:
            """Report the next stage; a cancel between stages stops here, before its work."""
            if stop.is_set():
                raise RenderCancelled(name, f"cancelled before the {name} stage")
            report(name, 0, 0)

        try:
            for variant in range(spec.variants):
                stage("script")
                script = await self.script_writer.write(spec, variant=variant)
                stage("voice")
                voice = _voice_for(self.voice, spec, self.voice_cache)
                voices = [await voice.speak(s.sentence) for s in script.scenes]
                durations = [voice_duration(path) for path in voices]  # once, for every aspect
                footage = list(self.footage)
                if spec.product is not None and spec.product.images:
                    footage.insert(0, ProductImageFootage(spec.product.images))
                for aspect in spec.aspects:
                    stage("footage")
                    manifest = await plan_manifest(
                        spec, aspect, variant, script, voices, footage, durations
                    )
                    stage("compose")
                    stem = out_dir / f"{spec.name}-{aspect.value.replace(':', 'x')}-v{variant + 1}"
                    videos.append(
                        await render_outputs(
                            manifest,
                            stem,
                            variant=variant,
                            written=written,
                            progress=report,
                            cancel=stop,
                        )
                    )
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return VideoResult(videos=tuple(videos), seconds=time.perf_counter() - started)


def _voice_for(voice: Voice | None, spec: VideoSpec, cache: Path) -> Voice:
    """The configured voice at the spec's rate, or espeak-ng in the spec's language.

    The spec's ``voice_volume`` is applied in the mix, for every voice alike: it sets the
    voice against the music (the whole track is then normalised to ``target_lufs``)."""
    if voice is None:
        return EspeakVoice(cache, voice=spec.language, rate=spec.voice_rate)
    if isinstance(voice, RateAdjustable):
        return voice.at_rate(spec.voice_rate)
    return voice


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
    mp4, thumb = with_ext(stem, ".mp4"), with_ext(stem, ".jpg")
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
        manifest_path = save_manifest(manifest, with_ext(stem, ".json"))
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
