"""Signals a job function raises to steer its own retries."""

from __future__ import annotations

from datetime import timedelta

from dropkit.core.errors import JobError

__all__ = ["Abort", "Retry"]


class Retry(JobError):
    """Retry this job later: ``raise Retry(after=30)`` (seconds or a timedelta).

    Use it to honour a remote ``Retry-After``. It counts as an attempt, so a job that keeps
    asking to be retried still ends in the dead state after ``max_attempts``.
    """

    def __init__(self, reason: str = "retry requested", *, after: float | timedelta = 0) -> None:
        seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
        if seconds < 0:
            raise ValueError("Retry(after=...) must not be negative")
        self.after = seconds
        self.reason = reason
        super().__init__(f"{reason} (retry after {seconds:g}s)")


class Abort(JobError):
    """Fail this job now, without retrying (for errors no retry can fix)."""
