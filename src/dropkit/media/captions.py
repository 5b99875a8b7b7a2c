"""Subtitle files (SRT and WebVTT) written from the manifest's subtitle cues.

The burnt-in cues and these files come from the same :class:`TextLayer` objects, so they agree
to the millisecond.
"""

from __future__ import annotations

from pathlib import Path

from dropkit.media.files import with_ext, write_atomic
from dropkit.media.timeline import Manifest, TextLayer

__all__ = ["srt", "vtt", "write_captions"]


def _stamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(manifest: Manifest) -> list[TextLayer]:
    return sorted((t for t in manifest.texts if t.role == "subtitle"), key=lambda t: t.start)


def srt(manifest: Manifest) -> str:
    blocks = [
        f"{n}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{c.text}\n"
        for n, c in enumerate(_cues(manifest), start=1)
    ]
    return "\n".join(blocks)


def vtt(manifest: Manifest) -> str:
    blocks = [
        f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{c.text}\n" for c in _cues(manifest)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def write_captions(manifest: Manifest, stem: Path) -> tuple[Path, Path]:
    """``stem``.srt and ``stem``.vtt, each written atomically."""
    return (
        write_atomic(with_ext(stem, ".srt"), srt(manifest).encode()),
        write_atomic(with_ext(stem, ".vtt"), vtt(manifest).encode()),
    )
