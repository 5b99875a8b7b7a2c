"""Overlays in YUV: an RGBA picture converted once to BT.709 planes and blended per frame.

Frames stay yuv420p from decoder to encoder; a sprite (a subtitle cue, a price tag, a logo)
touches only its own rectangle of the three planes, with integer arithmetic, so its per-frame
cost is proportional to its area, not to the frame's.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["Planes", "SafeZone", "Sprite", "place", "plane_views", "safe_zone"]

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
Planes = tuple[U8, U8, U8]

# BT.709, limited range (what the output's colour tags say).
_Y = np.array([0.2126, 0.7152, 0.0722]) * 219 / 255
_CB = np.array([-0.1146, -0.3854, 0.5]) * 224 / 255
_CR = np.array([0.5, -0.4542, -0.0458]) * 224 / 255


def plane_views(frame: av.VideoFrame) -> Planes:
    """Writable numpy views of a yuv420p frame's Y, U and V planes (no copy)."""
    sizes = ((frame.width, frame.height), (frame.width // 2, frame.height // 2))
    views = []
    for index in range(3):
        w, h = sizes[min(index, 1)]
        plane = frame.planes[index]
        array = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(
            plane.height, plane.line_size
        )
        views.append(array[:h, :w])
    return views[0], views[1], views[2]


@dataclass(frozen=True)
class SafeZone:
    """The frame rectangle platforms do not cover with their buttons and captions."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


def safe_zone(width: int, height: int) -> SafeZone:
    """Vertical video loses more at the bottom (captions, buttons) than square or landscape."""
    if height > width:
        top, bottom, side = 0.12, 0.20, 0.06
    else:
        top, bottom, side = 0.08, 0.10, 0.05
    return SafeZone(
        int(width * side),
        int(height * top),
        width - int(width * side),
        height - int(height * bottom),
    )


def place(size: tuple[int, int], zone: SafeZone, position: str) -> tuple[int, int]:
    """Top-left corner of a (w, h) picture, centred, at top/centre/bottom of the zone."""
    w, h = size
    x = zone.left + (zone.width - w) // 2
    if position == "top":
        y = zone.top
    elif position == "center":
        y = zone.top + (zone.height - h) // 2
    else:
        y = zone.bottom - h
    return max(0, x), max(0, y)


class Sprite:
    """A picture in YUV with 7-bit alpha, premultiplied, ready to blend at (x, y)."""

    def __init__(self, image: Image.Image, x: int, y: int, frame_size: tuple[int, int]) -> None:
        rgba = image.convert("RGBA")
        bbox = rgba.getchannel("A").getbbox()
        if bbox is None:
            bbox = (0, 0, 2, 2)
        # Even-aligned crop to what is visible and to the frame.
        left = (x + bbox[0]) & ~1
        top = (y + bbox[1]) & ~1
        right = min(frame_size[0], x + bbox[2] + 1) & ~1
        bottom = min(frame_size[1], y + bbox[3] + 1) & ~1
        left, top = max(0, left), max(0, top)
        right, bottom = max(right, left + 2), max(bottom, top + 2)
        canvas = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
        canvas.paste(rgba, (x - left, y - top))
        pixels = np.asarray(canvas, dtype=np.float64)
        rgb, alpha = pixels[..., :3], pixels[..., 3] / 255.0
        self.x, self.y = left, top
        self.width, self.height = right - left, bottom - top
        a7 = np.rint(alpha * 128).astype(np.uint16)
        luma = np.rint(16 + rgb @ _Y).astype(np.uint16)
        sub = rgb.reshape(self.height // 2, 2, self.width // 2, 2, 3).mean(axis=(1, 3))
        sub_alpha = alpha.reshape(self.height // 2, 2, self.width // 2, 2).mean(axis=(1, 3))
        a7c = np.rint(sub_alpha * 128).astype(np.uint16)
        cb = np.rint(128 + sub @ _CB).astype(np.uint16)
        cr = np.rint(128 + sub @ _CR).astype(np.uint16)
        self._inverse = (128 - a7, 128 - a7c)
        self._premultiplied = (luma * a7, cb * a7c, cr * a7c)

    def blend(self, planes: Planes) -> None:
        """Blend into the frame's planes in place (only this sprite's rectangle)."""
        y_plane, u_plane, v_plane = planes
        x, y, w, h = self.x, self.y, self.width, self.height
        inv, inv_c = self._inverse
        pre_y, pre_u, pre_v = self._premultiplied
        region = y_plane[y : y + h, x : x + w]
        region[...] = (region * inv + pre_y) >> 7
        cx, cy = x // 2, y // 2
        for plane, pre in ((u_plane, pre_u), (v_plane, pre_v)):
            chroma = plane[cy : cy + h // 2, cx : cx + w // 2]
            chroma[...] = (chroma * inv_c + pre) >> 7
