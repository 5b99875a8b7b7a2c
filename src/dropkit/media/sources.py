"""Frame sources for the compositor: video clips, Ken Burns stills and generated gradients.

Each yields yuv420p planes at the output size for increasing scene times. Video is decoded
once, cropped and scaled in libavfilter (crop first, so swscale never works on more pixels than
it must); stills are cropped in numpy and scaled by swscale, once per frame only when they move.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.filter
import numpy as np
from av.video.reformatter import Colorspace, Interpolation
from PIL import Image, ImageColor

from dropkit.media.errors import MediaInputError
from dropkit.media.images import read_image
from dropkit.media.sprites import Planes, plane_views
from dropkit.media.timeline import KenBurns, Source

__all__ = ["FrameSource", "ImageSource", "VideoSource", "open_source"]


class FrameSource(Protocol):
    def planes_at(self, seconds: float) -> Planes:
        """The picture shown ``seconds`` into the scene (read only; times only increase)."""
        ...

    def frame_at(self, seconds: float, following: float) -> tuple[av.VideoFrame, bool]:
        """The same picture as a frame, and whether it may be drawn on: True when no later
        call (the next one asks for ``following``) can return it again."""
        ...

    def close(self) -> None: ...


def _cover_crop(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The centred (w, h, x, y) window of the source with the output's aspect ratio."""
    target = width / height
    if src_w / src_h > target:
        crop_w, crop_h = max(2, round(src_h * target) & ~1), src_h & ~1
    else:
        crop_w, crop_h = src_w & ~1, max(2, round(src_w / target) & ~1)
    return crop_w, crop_h, (src_w - crop_w) // 2, (src_h - crop_h) // 2


class VideoSource:
    """A clip from ``in_point``: decoded once in order, looped from the start if it runs out."""

    def __init__(self, path: Path, in_point: float, size: tuple[int, int], fit: str) -> None:
        self.path, self.in_point, self.size, self.fit = path, in_point, size, fit
        self._container: av.container.InputContainer | None = None
        self._offset = 0.0  # added to source times after each loop
        self._current: tuple[float, Planes, av.VideoFrame] | None = None
        self._pending: list[tuple[float, av.VideoFrame]] = []
        self._handed: av.VideoFrame | None = None
        self._graph: av.filter.Graph | None = None
        self._frames: Iterator[av.VideoFrame] = iter(())
        self._open(seek=in_point)

    def _fail(self, message: str) -> MediaInputError:
        return MediaInputError("footage", message, file=self.path)

    def _open(self, *, seek: float) -> None:
        self.close()
        try:
            container = av.open(str(self.path))
        except (av.FFmpegError, OSError) as exc:
            raise self._fail(f"cannot open video: {exc}") from exc
        self._container = container
        if not container.streams.video:
            raise self._fail("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if not stream.codec_context.width or not stream.codec_context.height:
            raise self._fail("video stream has no size (unsupported codec?)")
        self._stream = stream
        try:
            self._graph = self._build_graph(stream)
        except av.FFmpegError as exc:
            raise self._fail(f"cannot scale this video: {exc}") from exc
        self._frames = self._decode(container, stream)
        if seek > 0:
            # If seeking fails, decoding from the start and skipping is slower but correct.
            with contextlib.suppress(av.FFmpegError):
                container.seek(
                    int(seek / float(stream.time_base or Fraction(1, 1000))), stream=stream
                )

    def _build_graph(self, stream: av.VideoStream) -> av.filter.Graph:
        width, height = self.size
        ctx = stream.codec_context
        graph = av.filter.Graph()
        nodes = [graph.add_buffer(template=stream)]
        if self.fit == "cover":
            crop_w, crop_h, x, y = _cover_crop(ctx.width, ctx.height, width, height)
            nodes.append(graph.add("crop", f"{crop_w}:{crop_h}:{x}:{y}"))
            nodes.append(graph.add("scale", f"{width}:{height}:flags=bilinear"))
        else:
            nodes.append(
                graph.add(
                    "scale", f"{width}:{height}:force_original_aspect_ratio=decrease:flags=bilinear"
                )
            )
            nodes.append(graph.add("pad", f"{width}:{height}:-1:-1:color=black"))
        nodes.append(graph.add("format", "yuv420p"))
        nodes.append(graph.add("buffersink"))
        graph.link_nodes(*nodes).configure()
        return graph

    def _decode(
        self, container: av.container.InputContainer, stream: av.VideoStream
    ) -> Iterator[av.VideoFrame]:
        try:
            yield from container.decode(stream)
        except av.FFmpegError as exc:
            raise self._fail(f"corrupt video: {exc}") from exc

    def _next(self) -> tuple[float, av.VideoFrame] | None:
        assert self._graph is not None
        for frame in self._frames:
            if frame.time is None:
                continue
            try:
                self._graph.vpush(frame)
                return frame.time, self._graph.vpull()
            except av.FFmpegError as exc:  # the clip's frames, not the output, are at fault
                raise self._fail(f"cannot scale the video's frames: {exc}") from exc
        return None

    def planes_at(self, seconds: float) -> Planes:
        want = self.in_point + seconds
        while True:
            if self._pending:
                upcoming = self._pending[0]
            else:
                decoded = self._next()
                if decoded is None:
                    if self._current is None:
                        raise self._fail("no frames at or after the in point")
                    # Loop the clip: start again from its beginning.
                    self._offset = self._current[0] + 1e-6
                    last = self._current
                    self._open(seek=0)
                    self._current = last
                    decoded = self._next()
                    if decoded is None:
                        raise self._fail("no frames to loop")
                upcoming = (decoded[0] + self._offset, decoded[1])
                self._pending.append(upcoming)
            if self._current is not None and upcoming[0] > want + 1e-6:
                return self._current[1]
            self._pending.pop(0)
            self._current = (upcoming[0], plane_views(upcoming[1]), upcoming[1])

    def frame_at(self, seconds: float, following: float) -> tuple[av.VideoFrame, bool]:
        self.planes_at(seconds)
        assert self._current is not None
        frame = self._current[2]
        replaced = bool(self._pending) and self._pending[0][0] <= self.in_point + following + 1e-6
        exclusive = frame is not self._handed and replaced
        self._handed = frame
        return frame, exclusive

    def close(self) -> None:
        """Release the decoder, the filter graph and the frames now, not at the next GC.

        The decode generator refers back to this object (a cycle): without this, each closed
        clip's buffers would live until a full collection and memory would grow per scene.
        """
        frames, self._frames = self._frames, iter(())
        if isinstance(frames, Generator):
            frames.close()
        self._graph = None
        self._current, self._handed = None, None
        self._pending.clear()
        if self._container is not None:
            self._container.close()
            self._container = None


def gradient(colors: tuple[str, str], size: tuple[int, int]) -> Image.Image:
    """A vertical two-colour gradient (the offline background of last resort)."""
    try:
        top = Image.new("RGB", size, ImageColor.getrgb(colors[0]))
        bottom = Image.new("RGB", size, ImageColor.getrgb(colors[1]))
    except ValueError as exc:
        raise MediaInputError("footage", f"bad gradient colours {colors}") from exc
    blended: Image.Image = Image.composite(bottom, top, Image.linear_gradient("L").resize(size))
    return blended


class ImageSource:
    """A still with an optional pan/zoom; converted to YUV once when it does not move."""

    def __init__(
        self,
        image: Image.Image,
        size: tuple[int, int],
        fit: str,
        duration: float,
        ken_burns: KenBurns | None,
    ) -> None:
        self.size, self.duration, self.ken_burns = size, max(duration, 1e-3), ken_burns
        width, height = size
        zoom = max(ken_burns.start_zoom, ken_burns.end_zoom) if ken_burns else 1.0
        canvas_w, canvas_h = round(width * zoom), round(height * zoom)
        scale = (max if fit == "cover" else min)(canvas_w / image.width, canvas_h / image.height)
        scaled = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
            Image.Resampling.LANCZOS,
        )
        canvas = Image.new("RGB", (canvas_w, canvas_h), (0, 0, 0))
        canvas.paste(scaled, ((canvas_w - scaled.width) // 2, (canvas_h - scaled.height) // 2))
        self._pixels = np.asarray(canvas)
        self._zoom = zoom
        self._static: Planes | None = None
        self._frame: av.VideoFrame | None = None
        if ken_burns is None or (
            ken_burns.start_zoom == ken_burns.end_zoom
            and ken_burns.start_center == ken_burns.end_center
        ):
            self._static = self._convert(0.0)

    def _convert(self, progress: float) -> Planes:
        kb = self.ken_burns or KenBurns(start_zoom=1, end_zoom=1)
        zoom = kb.start_zoom + (kb.end_zoom - kb.start_zoom) * progress
        cx = kb.start_center[0] + (kb.end_center[0] - kb.start_center[0]) * progress
        cy = kb.start_center[1] + (kb.end_center[1] - kb.start_center[1]) * progress
        full_h, full_w = self._pixels.shape[:2]
        win_w = min(full_w, max(2, round(self.size[0] * self._zoom / zoom)))
        win_h = min(full_h, max(2, round(self.size[1] * self._zoom / zoom)))
        x = min(max(0, round(cx * full_w - win_w / 2)), full_w - win_w)
        y = min(max(0, round(cy * full_h - win_h / 2)), full_h - win_h)
        window = np.ascontiguousarray(self._pixels[y : y + win_h, x : x + win_w])
        frame = av.VideoFrame.from_ndarray(window, format="rgb24").reformat(
            self.size[0],
            self.size[1],
            "yuv420p",
            dst_colorspace=Colorspace.ITU709,
            interpolation=Interpolation.BILINEAR,
        )
        self._frame = frame  # keep the planes' memory alive
        return plane_views(frame)

    def planes_at(self, seconds: float) -> Planes:
        if self._static is not None:
            return self._static
        return self._convert(min(1.0, max(0.0, seconds / self.duration)))

    def frame_at(self, seconds: float, following: float) -> tuple[av.VideoFrame, bool]:
        fresh = self._static is None  # a moving still is converted anew for every call
        self.planes_at(seconds)
        assert self._frame is not None
        return self._frame, fresh

    def close(self) -> None:
        self._frame = None


def open_source(source: Source, size: tuple[int, int], duration: float) -> FrameSource:
    """The frame source for a manifest :class:`Source`; missing files fail naming the file."""
    if source.kind == "gradient":
        background = gradient(source.colors, (max(2, size[0] // 4), max(2, size[1] // 4)))
        return ImageSource(background, size, "cover", duration, source.ken_burns)
    if source.path is None:
        raise MediaInputError("footage", f"a {source.kind} source needs a path")
    path = Path(source.path)
    if not path.is_file():
        raise MediaInputError("footage", "file not found", file=path)
    if source.kind == "image":
        return ImageSource(
            read_image(path, "footage"), size, source.fit, duration, source.ken_burns
        )
    return VideoSource(path, source.in_point, size, source.fit)
