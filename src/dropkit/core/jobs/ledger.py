"""The job ledger: every state change of a job is one guarded SQL statement.

Guards make the ledger safe under at-least-once delivery: a claim only takes a ``queued`` row
whose time has come; completion, renewal and failure only touch a row still ``running`` under
the same ``worker_id`` (a fencing token), so a worker that lost its lease cannot overwrite the
outcome of the worker that took the job over. On PostgreSQL batch claims use
``FOR UPDATE SKIP LOCKED``; on SQLite the write lock serialises them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dropkit.core.database import Database, Row, param_list
from dropkit.core.jobs.models import Job, JobState
from dropkit.core.jsontext import dumps_strict

__all__ = ["Ledger", "NewJob"]

_CHUNK = 500  # rows per INSERT: 5,500 parameters, far below both engines' limits
_RUNNING = JobState.RUNNING.value
_QUEUED = JobState.QUEUED.value


@dataclass(frozen=True)
class NewJob:
    """A validated job about to be written."""

    function: str
    args: dict[str, Any]
    queue: str
    max_attempts: int
    run_at: float
    priority: int = 0
    idempotency_key: str | None = None
    id: str = ""


def new_job_id() -> str:
    return uuid.uuid4().hex


class Ledger:
    """SQL for the ``dropkit_jobs`` table."""

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = database
        self._local_clock = clock
        self._offset = 0.0

    def clock(self) -> float:
        """Now, in epoch seconds, on the database's clock (see :meth:`sync_clock`)."""
        return self._local_clock() + self._offset

    async def sync_clock(self) -> float:
        """Align with the PostgreSQL server's clock; returns the offset applied.

        Leases written by one machine are judged expired by another: with the database's clock
        as the common reference, a worker whose own clock runs ahead cannot steal live jobs.
        SQLite lives on one machine, so there the local clock already is the common one.
        """
        if self.db.dialect != "postgres":
            return 0.0
        before = self._local_clock()
        server = float(await self.db.fetchval("SELECT EXTRACT(EPOCH FROM clock_timestamp())"))
        after = self._local_clock()
        self._offset = server - (before + after) / 2
        return self._offset

    # -- writing new jobs -----------------------------------------------------------------

    async def insert(self, jobs: Sequence[NewJob]) -> list[tuple[Job, bool]]:
        """Insert jobs; a job whose idempotency key exists yields the existing row.

        Returns ``(job, created)`` pairs in input order. One multi-row statement per chunk; a
        single job needs no explicit transaction, since one statement is atomic on its own.
        """
        if len(jobs) == 1:
            return await self._insert_chunk(jobs)
        out: list[tuple[Job, bool]] = []
        async with self.db.transaction():
            for start in range(0, len(jobs), _CHUNK):
                out.extend(await self._insert_chunk(jobs[start : start + _CHUNK]))
        return out

    async def _insert_chunk(self, jobs: Sequence[NewJob]) -> list[tuple[Job, bool]]:
        now = self.clock()
        ids = [new.id or new_job_id() for new in jobs]
        values: list[Any] = []
        for job_id, new in zip(ids, jobs, strict=True):
            values += [
                job_id,
                new.function,
                new.queue,
                json.dumps(new.args),
                _QUEUED,
                new.priority,
                new.max_attempts,
                new.run_at,
                new.idempotency_key,
                now,
                now,
            ]
        row_sql = f"({param_list(11)})"
        rows = await self.db.fetch(
            "INSERT INTO dropkit_jobs (id, function, queue, args, state, priority,"
            " max_attempts, run_at, idempotency_key, created_at, updated_at)"
            f" VALUES {', '.join([row_sql] * len(jobs))}"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
            *values,
        )
        created = {row["id"]: Job.from_row(row) for row in rows}
        out: list[tuple[Job, bool]] = []
        for job_id, new in zip(ids, jobs, strict=True):
            job = created.get(job_id)
            if job is not None:
                out.append((job, True))
                continue
            # The key existed (or repeats within this batch): return the job that holds it.
            assert new.idempotency_key is not None
            existing = await self.get_by_key(new.idempotency_key)
            assert existing is not None  # a conflicting row is committed and visible
            out.append((existing, False))
        return out

    # -- claiming -------------------------------------------------------------------------

    def _claim_set(self, worker_id: str, lease: float) -> tuple[str, list[Any]]:
        now = self.clock()
        return (
            "state = {}, attempts = attempts + 1, worker_id = {}, lease_expires_at = {},"
            " started_at = {}, updated_at = {}",
            [_RUNNING, worker_id, now + lease, now, now],
        )

    async def claim_batch(
        self, *, queues: Sequence[str], limit: int, worker_id: str, lease: float
    ) -> list[Job]:
        """Lease up to ``limit`` due jobs from ``queues``, highest priority first."""
        if limit <= 0:
            return []
        now = self.clock()
        assignments, values = self._claim_set(worker_id, lease)
        queue_list = param_list(len(queues))
        if self.db.dialect == "postgres":
            sql = (
                f"UPDATE dropkit_jobs AS j SET {assignments} FROM ("
                " SELECT id FROM dropkit_jobs WHERE state = {} AND run_at <= {}"
                f" AND queue IN ({queue_list}) ORDER BY priority DESC, run_at LIMIT {{}}"
                " FOR UPDATE SKIP LOCKED) AS c WHERE j.id = c.id RETURNING j.*"
            )
        else:
            sql = (
                f"UPDATE dropkit_jobs SET {assignments} WHERE id IN ("
                " SELECT id FROM dropkit_jobs WHERE state = {} AND run_at <= {}"
                f" AND queue IN ({queue_list}) ORDER BY priority DESC, run_at LIMIT {{}})"
                " RETURNING *"
            )
        rows = await self.db.fetch(sql, *values, _QUEUED, now, *queues, limit)
        return [Job.from_row(row) for row in rows]

    async def claim(self, job_id: str, *, worker_id: str, lease: float) -> Job | None:
        """Lease one specific job if it is queued and due (the ARQ path)."""
        assignments, values = self._claim_set(worker_id, lease)
        row = await self.db.fetchrow(
            f"UPDATE dropkit_jobs SET {assignments}"
            " WHERE id = {} AND state = {} AND run_at <= {} RETURNING *",
            *values,
            job_id,
            _QUEUED,
            self.clock(),
        )
        return Job.from_row(row) if row else None

    async def renew(self, job_id: str, *, worker_id: str, lease: float) -> bool | None:
        """Extend a lease. Returns ``cancel_requested``, or ``None`` when the lease was lost."""
        now = self.clock()
        row = await self.db.fetchrow(
            "UPDATE dropkit_jobs SET lease_expires_at = {}, updated_at = {}"
            " WHERE id = {} AND state = {} AND worker_id = {} RETURNING cancel_requested",
            now + lease,
            now,
            job_id,
            _RUNNING,
            worker_id,
        )
        return None if row is None else bool(row["cancel_requested"])

    async def set_progress(self, job_id: str, worker_id: str, progress: dict[str, Any]) -> bool:
        row = await self.db.fetchrow(
            "UPDATE dropkit_jobs SET progress = {}, updated_at = {}"
            " WHERE id = {} AND state = {} AND worker_id = {} RETURNING id",
            dumps_strict(progress),
            self.clock(),
            job_id,
            _RUNNING,
            worker_id,
        )
        return row is not None

    # -- outcomes (fenced by worker_id) ---------------------------------------------------

    async def _finish(
        self, job_id: str, worker_id: str, assignments: str, *values: Any
    ) -> Job | None:
        row = await self.db.fetchrow(
            f"UPDATE dropkit_jobs SET {assignments}, worker_id = NULL, lease_expires_at = NULL,"
            " updated_at = {} WHERE id = {} AND state = {} AND worker_id = {} RETURNING *",
            *values,
            self.clock(),
            job_id,
            _RUNNING,
            worker_id,
        )
        return Job.from_row(row) if row else None

    async def succeed(self, job_id: str, worker_id: str, result: Any) -> Job | None:
        return await self._finish(
            job_id,
            worker_id,
            "state = {}, result = {}, last_error = NULL, finished_at = {}",
            JobState.SUCCEEDED.value,
            dumps_strict(result),
            self.clock(),
        )

    async def reschedule(
        self, job_id: str, worker_id: str, *, error: str, run_at: float, refund: bool = False
    ) -> Job | None:
        """Back to ``queued`` at ``run_at``; ``refund`` gives the attempt back (shutdown).

        A job whose cancellation was requested meanwhile ends ``cancelled`` instead: a cancel
        request is never lost to a retry.
        """
        return await self._finish(
            job_id,
            worker_id,
            "state = CASE WHEN cancel_requested THEN {} ELSE {} END,"
            " finished_at = CASE WHEN cancel_requested THEN CAST({} AS DOUBLE PRECISION)"
            " ELSE NULL END, last_error = {}, run_at = {}, attempts = attempts - {}",
            JobState.CANCELLED.value,
            _QUEUED,
            self.clock(),
            error,
            run_at,
            1 if refund else 0,
        )

    async def end(self, job_id: str, worker_id: str, *, state: JobState, error: str) -> Job | None:
        """Terminal failure: ``failed``, ``dead`` or ``cancelled``."""
        return await self._finish(
            job_id,
            worker_id,
            "state = {}, last_error = {}, finished_at = {}",
            state.value,
            error,
            self.clock(),
        )

    # -- operator actions -----------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        row = await self.db.fetchrow("SELECT * FROM dropkit_jobs WHERE id = {}", job_id)
        return Job.from_row(row) if row else None

    async def get_by_key(self, key: str) -> Job | None:
        row = await self.db.fetchrow("SELECT * FROM dropkit_jobs WHERE idempotency_key = {}", key)
        return Job.from_row(row) if row else None

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job outright, or flag a running one; ``None`` if not cancellable."""
        now = self.clock()
        row = await self.db.fetchrow(
            "UPDATE dropkit_jobs SET state = {}, finished_at = {}, updated_at = {},"
            " last_error = {} WHERE id = {} AND state = {} RETURNING *",
            JobState.CANCELLED.value,
            now,
            now,
            "cancelled before it ran",
            job_id,
            _QUEUED,
        )
        if row is None:
            row = await self.db.fetchrow(
                "UPDATE dropkit_jobs SET cancel_requested = {}, updated_at = {}"
                " WHERE id = {} AND state = {} RETURNING *",
                True,
                now,
                job_id,
                _RUNNING,
            )
        return Job.from_row(row) if row else None

    async def replay(self, job_id: str, *, run_at: float | None = None) -> Job | None:
        """Put a failed, dead or cancelled job back in the queue with a fresh attempt budget."""
        now = self.clock()
        row = await self.db.fetchrow(
            "UPDATE dropkit_jobs SET state = {}, attempts = 0, run_at = {}, finished_at = NULL,"
            " cancel_requested = {}, result = NULL, updated_at = {}"
            " WHERE id = {} AND state IN ({}, {}, {}) RETURNING *",
            _QUEUED,
            now if run_at is None else run_at,
            False,
            now,
            job_id,
            JobState.FAILED.value,
            JobState.DEAD.value,
            JobState.CANCELLED.value,
        )
        return Job.from_row(row) if row else None

    async def find(
        self,
        *,
        states: Sequence[JobState] = (),
        function: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Job]:
        clauses: list[str] = []
        args: list[Any] = []
        if states:
            clauses.append(f"state IN ({param_list(len(states))})")
            args.extend(s.value for s in states)
        if function:
            clauses.append("function = {}")
            args.append(function)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.db.fetch(
            f"SELECT * FROM dropkit_jobs{where}"
            " ORDER BY created_at DESC, id LIMIT {} OFFSET {}",
            *args,
            limit,
            offset,
        )
        return [Job.from_row(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetch("SELECT state, COUNT(*) AS n FROM dropkit_jobs GROUP BY state")
        return {row["state"]: int(row["n"]) for row in rows}

    # -- sweeping -------------------------------------------------------------------------

    async def sweep_expired(self) -> list[Row]:
        """Re-drive jobs whose lease expired (their worker died); dead when out of attempts."""
        now = self.clock()
        return await self.db.fetch(
            "UPDATE dropkit_jobs SET state = CASE WHEN cancel_requested THEN {}"
            " WHEN attempts >= max_attempts THEN {} ELSE {}"
            " END, finished_at = CASE WHEN cancel_requested OR attempts >= max_attempts"
            " THEN CAST({} AS DOUBLE PRECISION) ELSE NULL END,"
            " worker_id = NULL, lease_expires_at = NULL, run_at = {}, updated_at = {},"
            " last_error = {} WHERE state = {} AND lease_expires_at < {}"
            " RETURNING id, state, attempts, run_at, queue",
            JobState.CANCELLED.value,
            JobState.DEAD.value,
            _QUEUED,
            now,
            now,
            now,
            "lease expired: the worker stopped renewing it (crashed or hung)",
            _RUNNING,
            now,
        )

    async def next_run_at(self, queues: Sequence[str]) -> float | None:
        """When the earliest queued job of ``queues`` becomes due."""
        value = await self.db.fetchval(
            f"SELECT MIN(run_at) FROM dropkit_jobs WHERE state = {{}}"
            f" AND queue IN ({param_list(len(queues))})",
            _QUEUED,
            *queues,
        )
        return None if value is None else float(value)
