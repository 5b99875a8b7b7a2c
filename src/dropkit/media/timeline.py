"""The timeline manifest: everything a render needs, as JSON that can be saved, edited, re-run.

The planner builds it deterministically from a seed; the compositor reads only this. Two
renders of one manifest produce identical files, so an edited manifest re-renders exactly.
Times are seconds; the compositor turns them into frame indices with one rounding rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dropkit.media.errors import MediaInputError, invalid_input
from dropkit.media.files import write_atomic
from dropkit.media.spec import Fit, Position, Quality, SubtitleStyle

__all__ = [
    "AudioPlan",
    "ImageLayer",
    "KenBurns",
    "Manifest",
    "Scene",
    "Source",
    "TextLayer",
    "VoiceSegment",
    "WordTiming",
    "load_manifest",
    "save_manifest",
]

MANIFEST_VERSION = 1


class KenBurns(BaseModel):
    """A pan/zoom: the visible window moves from ``start`` to ``end`` (zoom >= 1, centre 0..1)."""

    model_config = ConfigDict(frozen=True)

    start_zoom: float = Field(default=1.0, ge=1, le=4)
    end_zoom: float = Field(default=1.15, ge=1, le=4)
    start_center: tuple[float, float] = (0.5, 0.5)
    end_center: tuple[float, float] = (0.5, 0.5)


class Source(BaseModel):
    """Where a scene's pictures come from: a video clip, a still image or generated colours."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["video", "image", "gradient"]
    path: str | None = None
    in_point: float = Field(default=0.0, ge=0)
    colors: tuple[str, str] = ("#1e293b", "#0f172a")
    ken_burns: KenBurns | None = None
    fit: Fit = "cover"
    attribution: str | None = None


class Scene(BaseModel):
    """One narrated sentence on screen from ``start`` for ``duration`` seconds."""

    model_config = ConfigDict(frozen=True)

    text: str
    start: float = Field(ge=0)
    duration: float = Field(gt=0)
    source: Source


class WordTiming(BaseModel):
    model_config = ConfigDict(frozen=True)

    word: str
    start: float
    end: float


class TextLayer(BaseModel):
    """Text on screen between ``start`` and ``end``: a subtitle cue or a price/CTA/title label."""

    model_config = ConfigDict(frozen=True)

    role: Literal["subtitle", "price", "cta", "title"]
    text: str = Field(min_length=1)
    start: float = Field(ge=0)
    end: float = Field(gt=0)
    position: Position = "bottom"
    style: SubtitleStyle = SubtitleStyle()
    words: tuple[WordTiming, ...] = ()


class ImageLayer(BaseModel):
    """A still picture (a logo) placed in a corner between ``start`` and ``end``."""

    model_config = ConfigDict(frozen=True)

    path: str
    start: float = Field(ge=0)
    end: float = Field(gt=0)
    corner: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "top-right"
    width: float = Field(default=0.2, gt=0, le=1)  # fraction of the frame width


class VoiceSegment(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    start: float = Field(ge=0)


class AudioPlan(BaseModel):
    """Voice segments at their scene starts, optional looped music ducked under them."""

    model_config = ConfigDict(frozen=True)

    voice: tuple[VoiceSegment, ...] = ()
    volume: float = Field(default=1.0, gt=0, le=2)
    music: str | None = None
    music_volume: float = Field(default=0.25, ge=0, le=1)
    duck: float = Field(default=0.35, ge=0, le=1)  # music gain while the voice speaks
    fade_out: float = Field(default=1.0, ge=0, le=10)
    target_lufs: float = Field(default=-14.0, ge=-40, le=-5)


class Manifest(BaseModel):
    """A complete, deterministic description of one video."""

    model_config = ConfigDict(frozen=True)

    version: int = MANIFEST_VERSION
    seed: int = 0
    width: int = Field(ge=16, le=4096)
    height: int = Field(ge=16, le=4096)
    fps: int = Field(ge=1, le=60)
    duration: float = Field(gt=0, le=600)
    crossfade: float = Field(default=0.4, ge=0, le=2)
    scenes: tuple[Scene, ...] = Field(min_length=1)
    texts: tuple[TextLayer, ...] = ()
    images: tuple[ImageLayer, ...] = ()
    audio: AudioPlan = AudioPlan()
    quality: Quality = Quality()
    attributions: tuple[str, ...] = ()

    @classmethod
    def parse(cls, data: object, *, file: str | Path | None = None) -> Manifest:
        """Validate a manifest from JSON text or a mapping; bad input is a
        :class:`MediaInputError` (stage ``timeline``) naming the field."""
        try:
            if isinstance(data, str | bytes):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_input("timeline", exc, what="invalid manifest at", file=file) from exc

    @property
    def frames(self) -> int:
        return max(1, round(self.duration * self.fps))

    def frame_of(self, seconds: float) -> int:
        """The first frame shown at or after ``seconds`` (the one rounding rule)."""
        return max(0, min(self.frames, round(seconds * self.fps)))


def save_manifest(manifest: Manifest, path: Path) -> Path:
    """Write the manifest as indented JSON (atomically: a temp file renamed into place)."""
    return write_atomic(path, manifest.model_dump_json(indent=2).encode())


def load_manifest(path: Path) -> Manifest:
    """Read a manifest; a missing or malformed file is a :class:`MediaInputError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MediaInputError(
            "timeline", f"cannot read manifest: {exc.strerror}", file=path
        ) from exc
    return Manifest.parse(text, file=path)
