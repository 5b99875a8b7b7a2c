"""Text and image layers turned into sprites once, before the first frame is encoded.

A subtitle cue is drawn once; with the word highlight, once per word (the cue with that word
coloured), and the compositor swaps sprites at the word times. Nothing is drawn per frame.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PIL import Image

from dropkit.media.images import read_image
from dropkit.media.sprites import SafeZone, Sprite, place, safe_zone
from dropkit.media.textimage import TextBlock, default_font, render_text
from dropkit.media.timeline import ImageLayer, Manifest, TextLayer

__all__ = ["TimedSprite", "build_sprites"]


class TimedSprite:
    """A sprite shown on frames ``first`` to ``last`` (inclusive), drawn in list order.

    It is drawn when its first frame comes and released after its last, so only the sprites
    on screen are held: memory does not grow with the number of cues.
    """

    def __init__(self, first: int, last: int, draw: Callable[[], Sprite]) -> None:
        self.first, self.last = first, last
        self._draw = draw
        self._sprite: Sprite | None = None

    @property
    def sprite(self) -> Sprite:
        if self._sprite is None:
            self._sprite = self._draw()
        return self._sprite

    def release(self) -> None:
        self._sprite = None


_SCALE = {"title": 1.6, "price": 1.6, "cta": 1.25}  # font size relative to subtitles


def _text_sprites(manifest: Manifest, layer: TextLayer, zone: SafeZone) -> list[TimedSprite]:
    style = layer.style
    size = (manifest.width, manifest.height)
    font_size = round(style.size * manifest.height * _SCALE.get(layer.role, 1.0))
    band = zone.height // 3 if layer.role == "subtitle" else zone.height // 4

    def layout(highlight: int | None) -> TextBlock:
        return render_text(
            layer.text,
            max_width=zone.width,
            max_height=band,
            size=font_size,
            font=style.font or default_font(),
            color=style.color,
            stroke_color=style.stroke_color,
            stroke=style.stroke,
            box_color=style.box_color,
            max_lines=style.max_lines,
            highlight=None
            if highlight is None or not style.highlight_color
            else (highlight, style.highlight_color),
        )

    def draw(highlight: int | None) -> Sprite:
        block = layout(highlight)
        x, y = place(block.image.size, zone, layer.position)
        if layer.role == "cta" and layer.position == "center":
            # Below a centred price, above the subtitles: centred at 70% of the safe zone.
            y = zone.top + zone.height * 7 // 10 - block.image.height // 2
        return Sprite(block.image, x, y, size)

    first, last = manifest.frame_of(layer.start), manifest.frame_of(layer.end) - 1
    if last < first:
        return []
    layout(None)  # fail now, not mid-render, if the text cannot be laid out
    if not layer.words or not style.highlight_color:
        return [TimedSprite(first, last, partial(draw, None))]
    sprites: list[TimedSprite] = []
    for index, word in enumerate(layer.words):
        start = first if index == 0 else manifest.frame_of(word.start)
        end = (
            last
            if index == len(layer.words) - 1
            else manifest.frame_of(layer.words[index + 1].start) - 1
        )
        if end >= start:
            sprites.append(TimedSprite(start, min(end, last), partial(draw, index)))
    return sprites


def _image_sprite(manifest: Manifest, layer: ImageLayer, zone: SafeZone) -> TimedSprite | None:
    path = Path(layer.path)
    picture = read_image(path, "overlays", "RGBA")
    width = max(2, round(manifest.width * layer.width))
    height = max(2, round(picture.height * width / picture.width))
    picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    vertical, horizontal = layer.corner.split("-")
    x = zone.left if horizontal == "left" else zone.right - width
    y = zone.top if vertical == "top" else zone.bottom - height
    first, last = manifest.frame_of(layer.start), manifest.frame_of(layer.end) - 1
    if last < first:
        return None
    return TimedSprite(
        first, last, partial(Sprite, picture, x, y, (manifest.width, manifest.height))
    )


def build_sprites(manifest: Manifest) -> list[TimedSprite]:
    """Every overlay of the manifest, drawn and converted to YUV once."""
    zone = safe_zone(manifest.width, manifest.height)
    sprites: list[TimedSprite] = []
    for layer in manifest.images:
        sprite = _image_sprite(manifest, layer, zone)
        if sprite is not None:
            sprites.append(sprite)
    for text in manifest.texts:
        sprites.extend(_text_sprites(manifest, text, zone))
    return sprites
