"""Footage: where each scene's pictures come from, chosen from the scene's search terms.

Providers are tried in order and the first match wins; :class:`GeneratedBackground` always
matches, so an offline render never lacks a picture. Choices use the job's seeded RNG, so one
seed gives one manifest.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Protocol

from dropkit.media.errors import MediaInputError
from dropkit.media.timeline import KenBurns, Source

__all__ = [
    "FootageProvider",
    "GeneratedBackground",
    "LocalFolderFootage",
    "ProductImageFootage",
    "ken_burns",
]

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})


class FootageProvider(Protocol):
    async def find(
        self, terms: tuple[str, ...], duration: float, size: tuple[int, int], rng: random.Random
    ) -> Source | None:
        """A source for a scene about ``terms`` lasting ``duration`` seconds, or None."""
        ...


def ken_burns(rng: random.Random) -> KenBurns:
    """A gentle random push in or pull out, drifting a little across the picture."""
    zoom_in = rng.random() < 0.5
    lo, hi = 1.0, round(rng.uniform(1.1, 1.25), 3)
    start = (round(rng.uniform(0.4, 0.6), 3), round(rng.uniform(0.4, 0.6), 3))
    end = (round(rng.uniform(0.4, 0.6), 3), round(rng.uniform(0.4, 0.6), 3))
    return KenBurns(
        start_zoom=lo if zoom_in else hi,
        end_zoom=hi if zoom_in else lo,
        start_center=start,
        end_center=end,
    )


class ProductImageFootage:
    """The product's own photos as moving shots, taken in turn."""

    def __init__(self, images: tuple[str, ...] | list[str]) -> None:
        self.images = [Path(p) for p in images]
        for path in self.images:
            if not path.is_file():
                raise MediaInputError("footage", "product image not found", file=path)
        self._next = 0

    async def find(
        self, terms: tuple[str, ...], duration: float, size: tuple[int, int], rng: random.Random
    ) -> Source | None:
        if not self.images:
            return None
        path = self.images[self._next % len(self.images)]
        self._next += 1
        return Source(kind="image", path=str(path), ken_burns=ken_burns(rng))


class LocalFolderFootage:
    """Clips and stills in a folder, matched by file name against the search terms."""

    def __init__(self, folder: Path, *, fallback_any: bool = False) -> None:
        if not folder.is_dir():
            raise MediaInputError("footage", "media folder not found", file=folder)
        self.folder = folder
        self.fallback_any = fallback_any

    def _files(self) -> list[Path]:
        return sorted(
            p for p in self.folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES
        )

    async def find(
        self, terms: tuple[str, ...], duration: float, size: tuple[int, int], rng: random.Random
    ) -> Source | None:
        files = self._files()
        lowered = [t.lower() for t in terms]
        matches = [p for p in files if any(t in p.stem.lower() for t in lowered)]
        if not matches and self.fallback_any:
            matches = files
        if not matches:
            return None
        path = rng.choice(matches)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return Source(kind="image", path=str(path), ken_burns=ken_burns(rng))
        return Source(kind="video", path=str(path))


_PALETTES = (
    ("#0f172a", "#334155"), ("#1e1b4b", "#4338ca"), ("#042f2e", "#0f766e"),
    ("#3f0d12", "#a71d31"), ("#1c1917", "#57534e"), ("#172554", "#0ea5e9"),
)  # fmt: skip


class GeneratedBackground:
    """Slowly moving colour gradients: the offline picture of last resort (always matches)."""

    def __init__(self, palettes: tuple[tuple[str, str], ...] = _PALETTES) -> None:
        self.palettes = palettes

    async def find(
        self, terms: tuple[str, ...], duration: float, size: tuple[int, int], rng: random.Random
    ) -> Source:
        return Source(kind="gradient", colors=rng.choice(self.palettes), ken_burns=ken_burns(rng))
