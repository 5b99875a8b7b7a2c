"""Signals a job function raises to steer its own retries."""

from __future__ import annotations

from datetime import timedelta

from dropkit.core.errors import JobError

__all__ = ["Abort", "Retry"]


_MAX_AFTER = 30 * 86400.0


class Retry(JobError):
    """Retry this job later: ``raise Retry(after=30)`` (seconds or a timedelta).

    Use it to honour a remote ``Retry-After``. It counts as an attempt, so a job that keeps
    asking to be retried still ends in the dead state after ``max_attempts``.
    """

    def __init__(self, reason: str = "retry requested", *, after: float | timedelta = 0) -> None:
        seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
        if not 0 <= seconds <= _MAX_AFTER:  # also refuses NaN and infinity
            raise JobError(f"Retry(after=...) must be 0 to 30 days, not {after!r}")
        self.after = seconds
        self.reason = reason
        super().__init__(f"{reason} (retry after {seconds:g}s)")


class Abort(JobError):
    """Fail this job now, without retrying (for errors no retry can fix)."""
