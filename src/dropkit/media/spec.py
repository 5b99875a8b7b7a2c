"""What a caller asks for: a :class:`VideoSpec` (product or prompt or script, formats, style).

Validated with pydantic at the boundary so absurd sizes, durations or empty scripts are refused
before any work starts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dropkit.media.errors import invalid_input

__all__ = [
    "Aspect",
    "Fit",
    "Position",
    "ProductBrief",
    "Quality",
    "SubtitleStyle",
    "VideoSpec",
    "frame_size",
]


class Aspect(StrEnum):
    """Output aspect ratios of the platforms: vertical stories, square feed, landscape."""

    VERTICAL = "9:16"
    SQUARE = "1:1"
    LANDSCAPE = "16:9"


Fit = Literal["cover", "contain"]
Position = Literal["top", "center", "bottom"]


def frame_size(aspect: Aspect, resolution: int) -> tuple[int, int]:
    """(width, height) with ``resolution`` as the short side, both even (yuv420p needs it)."""
    long_side = round(resolution * 16 / 9 / 2) * 2
    if aspect is Aspect.VERTICAL:
        return resolution, long_side
    if aspect is Aspect.LANDSCAPE:
        return long_side, resolution
    return resolution, resolution


class ProductBrief(BaseModel):
    """The product facts a script is written from (title, features, price, offer, images)."""

    model_config = ConfigDict(frozen=True)

    title: str = Field(min_length=1, max_length=200)
    features: tuple[str, ...] = ()
    description: str = ""
    price: str | None = None  # already formatted, e.g. "$31.00"
    compare_at: str | None = None
    offer: str | None = None
    call_to_action: str = "Order yours today"
    images: tuple[str, ...] = ()  # local image files, used as Ken Burns shots
    sku: str | None = None


class SubtitleStyle(BaseModel):
    """How cues look: font, size (fraction of frame height), colours, stroke, box, position."""

    model_config = ConfigDict(frozen=True)

    font: str | None = None  # a .ttf path; DejaVu Sans Bold when installed
    size: float = Field(default=0.045, gt=0.005, le=0.2)
    color: str = "#ffffff"
    stroke_color: str = "#000000"
    stroke: float = Field(default=0.12, ge=0, le=0.5)  # fraction of the font size
    box_color: str | None = None  # e.g. "#000000a0" draws a rounded box behind the text
    highlight_color: str | None = "#ffd400"  # word-by-word highlight; None turns it off
    position: Position = "bottom"
    max_lines: int = Field(default=3, ge=1, le=6)


class Quality(BaseModel):
    """x264 settings: constant rate factor and speed preset."""

    model_config = ConfigDict(frozen=True)

    crf: int = Field(default=23, ge=0, le=51)
    preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"
    ] = "medium"
    audio_bitrate: int = Field(default=128_000, ge=32_000, le=320_000)


class VideoSpec(BaseModel):
    """One render job: what to say (product, prompt or script), in which formats, how it looks."""

    model_config = ConfigDict(frozen=True)

    product: ProductBrief | None = None
    prompt: str | None = None
    script: tuple[str, ...] | None = None  # user-written sentences, used as they are
    language: str = "en"
    tone: str = "upbeat"
    aspects: tuple[Aspect, ...] = (Aspect.VERTICAL,)
    resolution: int = Field(default=1080, ge=64, le=2160)
    fps: int = Field(default=30, ge=1, le=60)
    variants: int = Field(default=1, ge=1, le=8)
    seed: int = 0
    fit: Fit = "cover"
    crossfade: float = Field(default=0.4, ge=0, le=2)
    subtitles: SubtitleStyle = SubtitleStyle()
    quality: Quality = Quality()
    music: str | None = None  # an audio file, looped under the voice
    music_volume: float = Field(default=0.25, ge=0, le=1)
    logo: str | None = None
    overlays: bool = True  # price and call-to-action overlays
    end_card: bool = True  # the last scene becomes a card with title, price and call to action
    voice_rate: int = Field(default=170, ge=80, le=400)  # words per minute
    voice_volume: float = Field(default=1.0, gt=0, le=2)  # voice against music (then normalised)
    target_lufs: float = Field(default=-14.0, ge=-40, le=-5)
    max_duration: float = Field(default=180.0, gt=0, le=600)
    name: str = Field(default="video", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")

    @classmethod
    def parse(cls, data: object) -> VideoSpec:
        """Validate a spec from JSON text or a mapping; bad input is a :class:`MediaInputError`."""
        try:
            if isinstance(data, str | bytes):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_input("spec", exc) from exc

    @model_validator(mode="after")
    def _has_content(self) -> VideoSpec:
        if self.product is None and not (self.prompt or "").strip() and not self.script:
            raise ValueError("give a product, a prompt or a script")
        if self.script is not None and not any(s.strip() for s in self.script):
            raise ValueError("the script is empty")
        if not self.aspects:
            raise ValueError("give at least one aspect ratio")
        if self.resolution % 2:
            raise ValueError("resolution must be even")
        return self
