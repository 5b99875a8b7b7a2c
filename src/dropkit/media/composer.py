"""Composing one output frame: the visible scene (or two, crossfading) plus the overlays.

Frames stay yuv420p: a decoded and scaled clip frame shown once is drawn on in place; anything
shown twice (a still, a slower clip) is copied first; a crossfade is an integer blend.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from av.video.frame import PictureType

from dropkit.media.layers import TimedSprite
from dropkit.media.sources import FrameSource, open_source
from dropkit.media.sprites import Planes, plane_views
from dropkit.media.timeline import Manifest

__all__ = ["Composer", "SceneWindow"]


class SceneWindow:
    """The frames a scene is visible on (its span widened by half a crossfade at each cut)."""

    def __init__(self, manifest: Manifest, index: int) -> None:
        scene = manifest.scenes[index]
        half = manifest.crossfade / 2
        self.lead = half if index > 0 else 0.0
        tail = half if index < len(manifest.scenes) - 1 else 0.0
        self.first = manifest.frame_of(scene.start - self.lead)
        self.last = manifest.frame_of(scene.start + scene.duration + tail) - 1
        self.scene = scene
        self.source: FrameSource | None = None

    def _source(self, manifest: Manifest) -> FrameSource:
        if self.source is None:
            self.source = open_source(
                self.scene.source, (manifest.width, manifest.height), self.last_time(manifest)
            )
        return self.source

    def _time(self, manifest: Manifest, frame: int) -> float:
        return frame / manifest.fps - (self.scene.start - self.lead)

    def planes(self, manifest: Manifest, frame: int) -> Planes:
        return self._source(manifest).planes_at(self._time(manifest, frame))

    def frame(self, manifest: Manifest, frame: int) -> tuple[av.VideoFrame, bool]:
        time = self._time(manifest, frame)
        return self._source(manifest).frame_at(time, time + 1 / manifest.fps)

    def last_time(self, manifest: Manifest) -> float:
        return (self.last - self.first + 1) / manifest.fps

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None


def _blend(out: Planes, a: Planes, b: Planes, weight: float) -> None:
    w = np.uint16(round(weight * 128))
    for dst, pa, pb in zip(out, a, b, strict=True):
        dst[...] = (pa * (128 - w) + pb * w) >> 7


class Composer:
    """Produces frame ``index`` for increasing indices; sources open and close as scenes pass."""

    def __init__(self, manifest: Manifest, sprites: list[TimedSprite]) -> None:
        self.manifest = manifest
        self.sprites = sprites
        self.windows = [SceneWindow(manifest, i) for i in range(len(manifest.scenes))]
        self.time_base = Fraction(1, manifest.fps)

    def frame(self, index: int) -> av.VideoFrame:
        manifest = self.manifest
        visible = [w for w in self.windows if w.first <= index <= w.last]
        for window in self.windows:
            if window.source is not None and index > window.last:
                window.close()
        if len(visible) >= 2:
            frame = av.VideoFrame(manifest.width, manifest.height, "yuv420p")
            a, b = visible[0], visible[1]
            weight = (index - b.first + 0.5) / max(1, a.last - b.first + 1)
            _blend(plane_views(frame), a.planes(manifest, index), b.planes(manifest, index), weight)
        else:
            source, exclusive = visible[0].frame(manifest, index)
            if exclusive:  # a decoded/scaled frame shown once: draw on it, no copy
                source.make_writable()
                frame = source
            else:  # shown before (a still, a slower clip): draw on a copy
                frame = av.VideoFrame(manifest.width, manifest.height, "yuv420p")
                for dst, src in zip(plane_views(frame), plane_views(source), strict=True):
                    np.copyto(dst, src)
        out = plane_views(frame)
        for timed in self.sprites:
            if timed.first <= index <= timed.last:
                timed.sprite.blend(out)
            elif index == timed.last + 1:
                timed.release()
        frame.pts, frame.time_base = index, self.time_base
        # A decoded frame keeps its source picture type, and libx264 obeys a frame's type: an
        # all-intra clip would force an all-intra output. The encoder chooses, as for any frame.
        frame.pict_type = PictureType.NONE
        return frame

    def close(self) -> None:
        for window in self.windows:
            window.close()
