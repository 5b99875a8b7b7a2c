"""What a render produced: per aspect ratio and variant, the MP4 and its companion files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from dropkit.media.spec import Aspect

__all__ = ["Progress", "RenderStats", "RenderedVideo", "TaskStatus", "VideoResult", "VideoTask"]

Progress = Callable[[str, int, int], None]  # (stage, frames done, frames total)


@dataclass(frozen=True)
class RenderStats:
    """What one render_manifest call wrote and how long it took."""

    path: Path
    frames: int
    duration: float
    bytes: int
    seconds: float
    thumbnail: Path | None


class RenderedVideo(BaseModel):
    model_config = ConfigDict(frozen=True)

    aspect: Aspect
    variant: int
    video: str
    srt: str
    vtt: str
    thumbnail: str
    manifest: str
    width: int
    height: int
    frames: int
    duration: float
    bytes: int
    seconds: float
    attributions: tuple[str, ...] = ()


class VideoResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    videos: tuple[RenderedVideo, ...]
    seconds: float


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class VideoTask(BaseModel):
    """A submitted render as stored in ``video_tasks``."""

    model_config = ConfigDict(frozen=True)

    id: str
    job_id: str | None
    status: TaskStatus
    stage: str
    frames_done: int
    frames_total: int
    error: str | None
    failed_stage: str | None

    @property
    def finished(self) -> bool:
        return self.status in (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELLED)
