"""Output file names and atomic writes, shared by every stage that writes a file.

Every file the factory writes goes to a hidden ``.name.partial`` beside its destination and is
renamed into place only when complete, so a crash, a cancel or a full disk never leaves a
half-written video, caption, thumbnail, manifest or cache entry under the real name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "output_stem", "partial_of", "with_ext", "write_atomic"]


def with_ext(stem: Path, ext: str) -> Path:
    """``stem`` + ``ext``, appended: dots in the name stay (``with_suffix`` would eat them)."""
    return stem.with_name(stem.name + ext)


def output_stem(video: Path) -> Path:
    """The stem of a video path: ``out.v2.mp4`` → ``out.v2`` (only ``.mp4`` is removed)."""
    return video.with_name(video.name.removesuffix(".mp4")) if video.name != ".mp4" else video


def partial_of(path: Path) -> Path:
    """The hidden temp file a write to ``path`` goes through."""
    return path.with_name(f".{path.name}.partial")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield the temp path to write; on success rename it to ``path``, on any error (or
    cancellation) remove it and re-raise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_of(path)
    try:
        yield partial
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file and a rename."""
    with atomic_path(path) as partial:
        partial.write_bytes(data)
    return path
