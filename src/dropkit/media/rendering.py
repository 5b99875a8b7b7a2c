"""The rendering entry points, importable without PyAV or numpy (loaded on first call).

``import dropkit`` wires ``kit.media`` without the media extra installed; these functions import
the compositor and the audio code when a render actually starts.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from dropkit.core.errors import MissingDependencyError
from dropkit.media.results import Progress, RenderStats
from dropkit.media.timeline import Manifest

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["integrated_loudness", "load_audio", "render_manifest"]


def _require() -> None:
    for module, package in (("av", "av"), ("numpy", "numpy"), ("PIL", "pillow")):
        try:
            __import__(module)
        except ImportError as exc:
            raise MissingDependencyError(package, "media") from exc


def render_manifest(
    manifest: Manifest,
    destination: Path,
    *,
    thumbnail: Path | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> RenderStats:
    """Render ``manifest`` to ``destination`` (MP4), blocking: call it from a worker thread."""
    _require()
    from dropkit.media import compositor

    return compositor.render_manifest(
        manifest, destination, thumbnail=thumbnail, progress=progress, cancel=cancel
    )


def load_audio(
    path: Path, stage: str = "audio", *, max_samples: int | None = None
) -> npt.NDArray[np.float32]:
    """Decode the first audio stream of ``path`` to mono float32 at 48 kHz (at most
    ``max_samples`` of it)."""
    _require()
    from dropkit.media import audio

    return audio.load_audio(path, stage, max_samples=max_samples)


def integrated_loudness(channels: npt.NDArray[np.floating], rate: int = 48_000) -> float:
    """ITU-R BS.1770 integrated loudness (LUFS) of (channels, samples) audio at 48 kHz."""
    _require()
    from dropkit.media import audio

    return audio.integrated_loudness(channels, rate)
