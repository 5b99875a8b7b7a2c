"""Text drawn once per cue with Pillow: wrapped to fit, stroked, boxed, never cut off.

Wrapping breaks only between words; when a word or the whole cue does not fit the allowed box,
the font shrinks until it does, so no line is ever clipped by the frame or the safe zone.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw, ImageFont

from dropkit.media.errors import MediaInputError

__all__ = ["TextBlock", "default_font", "render_text"]

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/Library/Fonts/Arial Bold.ttf",
    "C:/Windows/Fonts/arialbd.ttf",
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def default_font() -> str | None:
    """The first bold sans font found on this system, or None (Pillow's built-in font)."""
    return next((p for p in _FONT_CANDIDATES if Path(p).is_file()), None)


@lru_cache(maxsize=64)
def _font(path: str | None, size: int) -> Font:
    if path is None:
        return ImageFont.load_default(size=size)
    try:
        return ImageFont.truetype(path, size)
    except OSError as exc:
        raise MediaInputError("subtitles", "cannot load font", file=path) from exc


def _rgba(color: str) -> tuple[int, int, int, int]:
    try:
        value = ImageColor.getcolor(color, "RGBA")
    except ValueError as exc:
        raise MediaInputError("subtitles", f"bad colour {color!r}") from exc
    assert isinstance(value, tuple)
    return (value[0], value[1], value[2], value[3])


def _wrap(words: list[str], font: Font, stroke: int, max_width: int) -> list[list[str]] | None:
    """Greedy word wrap; None when a single word is wider than ``max_width``."""
    lines: list[list[str]] = []
    for word in words:
        if font.getlength(word) + 2 * stroke > max_width:
            return None
        if lines and font.getlength(" ".join([*lines[-1], word])) + 2 * stroke <= max_width:
            lines[-1].append(word)
        else:
            lines.append([word])
    return lines


class TextBlock:
    """A rendered cue: the RGBA image and, per word, its box (for the word highlight)."""

    def __init__(self, image: Image.Image, word_boxes: list[tuple[int, int, int, int]]) -> None:
        self.image = image
        self.word_boxes = word_boxes


def render_text(
    text: str,
    *,
    max_width: int,
    max_height: int,
    size: int,
    font: str | None,
    color: str,
    stroke_color: str,
    stroke: float,
    box_color: str | None = None,
    max_lines: int = 3,
    highlight: tuple[int, str] | None = None,
) -> TextBlock:
    """Render ``text`` centred, wrapped into at most ``max_lines`` lines inside the given box.

    ``highlight`` is (word index, colour): that word is drawn in the highlight colour.
    """
    words = text.split()
    if not words:
        raise MediaInputError("subtitles", "empty text")
    size = max(6, size)
    while True:
        face = _font(font, size)
        stroke_px = round(size * stroke)
        pad = stroke_px + (size // 3 if box_color else 0)
        lines = _wrap(words, face, stroke_px, max_width - 2 * pad)
        ascent, descent = (
            face.getmetrics() if isinstance(face, ImageFont.FreeTypeFont) else (size, 0)
        )
        line_height = int((ascent + descent) * 1.15)
        height = (len(lines) * line_height if lines else 0) + 2 * pad
        if lines is not None and len(lines) <= max_lines and height <= max_height:
            break
        if size <= 6:
            raise MediaInputError("subtitles", f"text does not fit the frame: {text[:40]!r}")
        size = max(6, int(size * 0.9))
    width = int(max(face.getlength(" ".join(line)) for line in lines)) + 2 * pad
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if box_color:
        draw.rounded_rectangle(
            (0, 0, width - 1, height - 1), radius=size // 3, fill=_rgba(box_color)
        )
    fill, outline = _rgba(color), _rgba(stroke_color)
    boxes: list[tuple[int, int, int, int]] = []
    index = 0
    space = face.getlength(" ")
    for row, line in enumerate(lines):
        line_width = face.getlength(" ".join(line))
        x = (width - line_width) / 2
        y = pad + row * line_height
        for word in line:
            word_fill = fill
            if highlight is not None and highlight[0] == index:
                word_fill = _rgba(highlight[1])
            draw.text(
                (x, y), word, font=face, fill=word_fill, stroke_width=stroke_px, stroke_fill=outline
            )
            advance = face.getlength(word)
            boxes.append((int(x), y, int(x + advance), y + line_height))
            x += advance + space
            index += 1
    return TextBlock(image, boxes)
