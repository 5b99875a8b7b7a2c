"""The hot path: one decode per source, one encode, frames kept in yuv420p throughout.

A composing thread decodes, scales and draws frames (see :mod:`dropkit.media.composer`) a few
frames ahead of this one, which feeds libx264 (running its own threads) and the AAC encoder;
PyAV and numpy release the GIL, so the two overlap. The audio track is mixed in a third thread
while the first second of video is encoded: its packets follow the video by a fixed number of
frames, so the file is the same bytes whichever thread finishes first. Nothing is kept per
frame, so memory does not grow with the video's length. The MP4 is written to a hidden temp
file beside the destination and renamed only on success.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from dropkit.media.audio import F32, SAMPLE_RATE, load_audio, mix
from dropkit.media.composer import Composer
from dropkit.media.errors import MediaInputError, RenderCancelled, StageError
from dropkit.media.files import atomic_path, partial_of
from dropkit.media.layers import TimedSprite, build_sprites
from dropkit.media.results import Progress, RenderStats
from dropkit.media.timeline import Manifest

__all__ = ["render_manifest"]

_AUDIO_CHUNK = 1024
_AHEAD = 6  # frames composed ahead of the encoder (absorbs a scene's decoder start-up)
_AUDIO_LAG = 1.0  # seconds of video encoded before the audio that goes with it


def _produce(
    composer: Composer,
    total: int,
    frames: queue.Queue[av.VideoFrame | BaseException],
    stop: threading.Event,
) -> None:
    """Compose frames ahead of the encoder, in this thread (PyAV and numpy release the GIL)."""
    try:
        for index in range(total):
            if not _offer(frames, composer.frame(index), stop):
                return
    except av.FFmpegError as exc:  # a composing failure, not the encoder's nor the output's
        _offer(frames, StageError("compose", f"composing frames failed: {exc}"), stop)
    except BaseException as exc:  # handed to the encoding thread, which raises it
        _offer(frames, exc, stop)


def _offer(
    frames: queue.Queue[av.VideoFrame | BaseException],
    item: av.VideoFrame | BaseException,
    stop: threading.Event,
) -> bool:
    """Put ``item`` unless the encoder stopped (False then)."""
    while not stop.is_set():
        try:
            frames.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _check(manifest: Manifest) -> None:
    if manifest.width % 2 or manifest.height % 2:
        raise MediaInputError("compose", f"size {manifest.width}x{manifest.height} must be even")
    if manifest.width * manifest.height > 4096 * 2304:
        raise MediaInputError("compose", f"size {manifest.width}x{manifest.height} is too large")


def _video_stream(container: av.container.OutputContainer, manifest: Manifest) -> av.VideoStream:
    stream = container.add_stream(
        "libx264",
        rate=manifest.fps,
        options={"crf": str(manifest.quality.crf), "preset": manifest.quality.preset},
    )
    stream.width, stream.height = manifest.width, manifest.height
    stream.pix_fmt = "yuv420p"
    ctx = stream.codec_context
    ctx.color_primaries = 1  # BT.709
    ctx.color_trc = 1
    ctx.colorspace = 1
    ctx.color_range = 1  # limited ("tv")
    return stream


def render_manifest(
    manifest: Manifest,
    destination: Path,
    *,
    thumbnail: Path | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> RenderStats:
    """Render ``manifest`` to ``destination`` (MP4); blocking, meant for a worker thread."""
    started = time.perf_counter()
    _check(manifest)
    report = progress or (lambda stage, done, total: None)
    total = manifest.frames
    report("audio", 0, total)
    mixing = _Mixing(manifest) if manifest.audio.voice or manifest.audio.music else None
    try:
        report("overlays", 0, total)
        sprites = build_sprites(manifest)
        stats = _render(manifest, destination, sprites, mixing, thumbnail, report, cancel)
    finally:
        if mixing is not None:
            mixing.join()
    report("done", total, total)
    return replace(stats, seconds=time.perf_counter() - started)


class _Mixing:
    """The audio track, mixed in its own thread; :meth:`result` waits for it."""

    def __init__(self, manifest: Manifest) -> None:
        self._manifest = manifest
        self._track: F32 | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dropkit-mix", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        manifest = self._manifest
        try:
            voices = [load_audio(Path(v.path), "voice") for v in manifest.audio.voice]
            samples = round(manifest.frames * SAMPLE_RATE / manifest.fps)
            self._track = mix(manifest.audio, samples, voices)
        except BaseException as exc:  # raised in the encoding thread by result()
            self._error = exc

    def result(self) -> F32:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._track is not None
        return self._track

    def join(self) -> None:
        self._thread.join()


def _render(
    manifest: Manifest,
    destination: Path,
    sprites: list[TimedSprite],
    mixing: _Mixing | None,
    thumbnail: Path | None,
    report: Progress,
    cancel: threading.Event | None,
) -> RenderStats:
    total = manifest.frames
    composer = Composer(manifest, sprites)
    first = composer.windows[0].first
    thumb_frame = first + min(total - 1, round(manifest.scenes[0].duration * manifest.fps / 3))
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_of(destination)
    container: av.container.OutputContainer | None = None
    thumb_saved = False
    frames: queue.Queue[av.VideoFrame | BaseException] = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()
    producer = threading.Thread(
        target=_produce, args=(composer, total, frames, stop), name="dropkit-compose", daemon=True
    )
    try:
        container = av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"})
        video = _video_stream(container, manifest)
        sound = None
        audio: F32 | None = None
        lag = round(_AUDIO_LAG * manifest.fps)
        if mixing is not None:
            sound = container.add_stream(
                "aac", rate=SAMPLE_RATE, layout="stereo", options={"aac_coder": "fast"}
            )
            sound.bit_rate = manifest.quality.audio_bitrate
        audio_done = 0
        report("compose", 0, total)
        producer.start()
        for index in range(total):
            if cancel is not None and cancel.is_set():
                raise RenderCancelled("compose", f"cancelled at frame {index}", file=destination)
            item = frames.get()
            if isinstance(item, BaseException):
                raise item
            if thumbnail is not None and index == thumb_frame:
                _save_thumbnail(item, thumbnail)
                thumb_saved = True
            for packet in video.encode(item):
                container.mux(packet)
            if sound is not None and mixing is not None and index >= lag:
                audio = mixing.result() if audio is None else audio
                until = round((index + 1 - lag) * SAMPLE_RATE / manifest.fps)
                audio_done = _encode_audio(container, sound, audio, audio_done, until)
            if index % 10 == 0 or index == total - 1:
                report("compose", index + 1, total)
        if sound is not None and mixing is not None:
            audio = mixing.result() if audio is None else audio
            _encode_audio(container, sound, audio, audio_done, len(audio))
        for packet in video.encode(None):
            container.mux(packet)
        if sound is not None:
            for packet in sound.encode(None):
                container.mux(packet)
        container.close()  # writes the index: can fail (disk full) like any write
        container = None
        if cancel is not None and cancel.is_set():  # an abandoned thread renames nothing
            raise RenderCancelled("compose", "cancelled before the file was kept", file=destination)
        partial.replace(destination)
    except BaseException as exc:
        if container is not None:
            with contextlib.suppress(av.FFmpegError, OSError):
                container.close()
        with contextlib.suppress(OSError):  # e.g. the temp name is a directory: not ours
            partial.unlink(missing_ok=True)
        if thumbnail is not None and thumb_saved:  # only ours: never a file already there
            thumbnail.unlink(missing_ok=True)
        if isinstance(exc, av.FFmpegError | OSError):
            raise StageError(
                "encode", f"writing the video failed: {exc}", file=destination
            ) from exc
        raise
    finally:
        stop.set()
        if producer.is_alive():
            producer.join()
        composer.close()
    return RenderStats(
        path=destination,
        frames=total,
        duration=total / manifest.fps,
        bytes=destination.stat().st_size,
        seconds=0.0,  # set by render_manifest, which started the clock
        thumbnail=thumbnail,
    )


def _encode_audio(
    container: av.container.OutputContainer,
    stream: av.AudioStream,
    audio: np.ndarray,
    done: int,
    until: int,
) -> int:
    until = min(until, len(audio))
    while done < until:
        end = min(done + _AUDIO_CHUNK, len(audio))
        if end - done < _AUDIO_CHUNK and end < len(audio):
            break
        chunk = audio[done:end]
        frame = av.AudioFrame.from_ndarray(np.stack((chunk, chunk)), format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = done
        for packet in stream.encode(frame):
            container.mux(packet)
        done = end
    return done


def _save_thumbnail(frame: av.VideoFrame, path: Path) -> None:
    image = frame.to_image()  # type: ignore[no-untyped-call]
    try:
        with atomic_path(path) as partial:
            image.save(partial, format="JPEG", quality=88)
    except OSError as exc:
        raise StageError("thumbnail", f"cannot write the thumbnail: {exc}", file=path) from exc
