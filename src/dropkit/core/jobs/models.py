"""What a job is: its state machine and the typed view of one ledger row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["TERMINAL_STATES", "Job", "JobState"]


class JobState(StrEnum):
    """Where a job is in its life.

    ``queued`` (waiting for ``run_at``; also between retries) → ``running`` (leased by a worker)
    → ``succeeded``; or ``failed`` (a non-retryable error), ``dead`` (retries exhausted) or
    ``cancelled``. The last three can be replayed, which puts the job back to ``queued``.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.DEAD, JobState.CANCELLED}
)


def _when(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class Job(BaseModel):
    """A snapshot of one job in the ledger."""

    model_config = ConfigDict(frozen=True)

    id: str
    function: str
    queue: str
    args: dict[str, Any]
    state: JobState
    priority: int
    attempts: int
    max_attempts: int
    run_at: datetime
    lease_expires_at: datetime | None
    worker_id: str | None
    result: Any
    last_error: str | None
    idempotency_key: str | None
    cancel_requested: bool
    progress: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def done(self) -> bool:
        """True once the job reached a terminal state."""
        return self.state in TERMINAL_STATES

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(
            id=row["id"],
            function=row["function"],
            queue=row["queue"],
            args=_json(row["args"]),
            state=JobState(row["state"]),
            priority=row["priority"],
            attempts=row["attempts"],
            max_attempts=row["max_attempts"],
            run_at=_when(row["run_at"]),
            lease_expires_at=_when(row["lease_expires_at"]),
            worker_id=row["worker_id"],
            result=_json(row["result"]),
            last_error=row["last_error"],
            idempotency_key=row["idempotency_key"],
            cancel_requested=bool(row["cancel_requested"]),
            progress=_json(row["progress"]),
            created_at=_when(row["created_at"]),
            updated_at=_when(row["updated_at"]),
            started_at=_when(row["started_at"]),
            finished_at=_when(row["finished_at"]),
        )
