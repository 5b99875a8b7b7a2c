"""Events of the video factory, published when a submitted render finishes."""

from __future__ import annotations

from dropkit.core.events import Event

__all__ = ["VideoFailed", "VideoRendered"]


class VideoRendered(Event):
    type = "video.rendered"
    subject_field = "task_id"
    task_id: str
    videos: list[str]


class VideoFailed(Event):
    type = "video.failed"
    subject_field = "task_id"
    task_id: str
    stage: str
    error: str
