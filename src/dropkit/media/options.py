"""``MediaOptions``: what ``Dropkit(media={...})`` may pass on to :class:`VideoFactory`.

The kit wires the data directory, database, jobs and event bus itself; these are the rest of
``VideoFactory``'s keyword arguments, typed, so mypy checks a kit's ``media`` dict.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from dropkit.media.footage import FootageProvider
from dropkit.media.script import ScriptWriter
from dropkit.media.voice import Voice

__all__ = ["MediaOptions"]


class MediaOptions(TypedDict, total=False):
    """Keyword arguments of :class:`VideoFactory` that ``Dropkit`` does not wire itself."""

    script_writer: ScriptWriter | None
    voice: Voice | None
    footage: list[FootageProvider] | None
    output_root: str | Path | None
