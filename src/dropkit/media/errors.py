"""Video factory errors: every one is a :class:`~dropkit.core.errors.MediaError`.

Each names the pipeline stage that failed and, where there is one, the file or URL it failed
on, so a failed job tells its owner what to fix. None leaves a half-written output behind.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from dropkit.core.errors import MediaError

__all__ = ["MediaInputError", "ProviderError", "RenderCancelled", "StageError", "invalid_input"]


class StageError(MediaError):
    """A stage (``script``, ``voice``, ``footage``, ``timeline``, ``compose``...) failed."""

    def __init__(self, stage: str, message: str, *, file: str | Path | None = None) -> None:
        self.stage = stage
        self.file = None if file is None else str(file)
        where = f" [{self.file}]" if self.file else ""
        super().__init__(f"{stage}: {message}{where}")


class MediaInputError(StageError):
    """An input is missing, corrupt, unsupported or absurd (sizes, durations, paths)."""


class ProviderError(StageError):
    """A remote provider (LLM, TTS, stock footage) failed or answered nonsense."""


class RenderCancelled(StageError):
    """The render was cancelled; nothing was written."""


def invalid_input(
    stage: str, exc: ValidationError, *, what: str = "", file: str | Path | None = None
) -> MediaInputError:
    """A pydantic validation failure as one readable line: where (dotted path) and why."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    text = f"{where}: {message}" if where else message
    return MediaInputError(stage, f"{what} {text}" if what else text, file=file)
