"""``Jobs``: enqueue, inspect, cancel, replay and run durable jobs.

The ledger row is written first (inside the caller's transaction when there is one); the
dispatcher is told only after commit, so a worker never looks for a row it cannot see yet.
"""

from __future__ import annotations

import builtins
import math
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import anyio
from anyio.abc import TaskGroup
from pydantic import BaseModel

from dropkit.core.database import Database
from dropkit.core.errors import ConflictError, JobError, NotFoundError
from dropkit.core.jobs.dispatch import Dispatcher, LocalDispatcher, Wakeup
from dropkit.core.jobs.ledger import Ledger, NewJob
from dropkit.core.jobs.models import Job, JobState
from dropkit.core.jobs.registry import JobCallable, JobRegistry
from dropkit.core.jobs.runner import JobRunner

__all__ = ["Jobs"]

Args = Mapping[str, Any] | BaseModel | None


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


_HORIZON = 10 * 365 * 86400.0  # no job is scheduled further than ten years ahead
_INT32 = 2**31


def _epoch(run_at: datetime | None, defer_by: timedelta | float | None, now: float) -> float:
    if run_at is not None and defer_by is not None:
        raise JobError("give run_at or defer_by, not both")
    if run_at is not None:
        if run_at.tzinfo is None:
            raise JobError("run_at must be timezone-aware")
        when = run_at.timestamp()
        if when > now + _HORIZON:
            raise JobError(f"run_at {run_at.isoformat()} is more than ten years ahead")
        return when
    if defer_by is not None:
        seconds = defer_by.total_seconds() if isinstance(defer_by, timedelta) else defer_by
        if not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise JobError(f"defer_by must be a finite number of seconds, not {defer_by!r}")
        if not 0 <= seconds <= _HORIZON:
            raise JobError(f"defer_by must be between 0 and ten years, not {seconds:g} s")
        return now + seconds
    return now


class Jobs:
    """The durable job service over one database.

    ``Jobs(database, registry)`` runs jobs in this process (a :class:`LocalDispatcher`); pass
    ``dispatcher=ArqDispatcher(...)`` to hand them to ``dropkit worker`` processes instead.
    """

    def __init__(
        self,
        database: Database,
        registry: JobRegistry | None = None,
        *,
        dispatcher: Dispatcher | None = None,
        state: Mapping[str, Any] | None = None,
        worker_id: str | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.registry = registry if registry is not None else JobRegistry()
        self.dispatcher: Dispatcher = dispatcher if dispatcher is not None else LocalDispatcher()
        self.ledger = Ledger(database, clock=clock)
        self.worker_id = worker_id or default_worker_id()
        self.state: dict[str, Any] = dict(state or {})
        self._rng = rng
        self._task_group: TaskGroup | None = None
        self._waiters: dict[str, anyio.Event] = {}
        self._schedule_slots: dict[str, datetime] = {}
        claim_lease = getattr(self.dispatcher, "claim_lease", 30.0)
        self.runner = JobRunner(
            jobs=self,
            registry=self.registry,
            worker_id=self.worker_id,
            claim_lease=claim_lease,
            on_outcome=self._on_outcome,
            state=self.state,
            rng=rng,
        )

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the dispatcher (and, for the local one, the workers and the sweeper)."""
        if self._task_group is not None:
            return
        await self.ledger.sync_clock()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            await self.dispatcher.start(self, task_group)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop: running local jobs are handed back to the ledger for another worker."""
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return
        task_group.cancel_scope.cancel()
        try:
            await task_group.__aexit__(None, None, None)
        finally:
            await self.dispatcher.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- enqueueing -----------------------------------------------------------------------

    def _new_job(
        self,
        function: str | JobCallable,
        args: Args,
        *,
        key: str | None,
        run_at: datetime | None,
        defer_by: timedelta | float | None,
        priority: int,
        queue: str | None,
        max_attempts: int | None,
    ) -> NewJob:
        registered = self.registry.get(function)
        if max_attempts is not None and not 1 <= max_attempts <= 1000:
            raise JobError(f"max_attempts must be between 1 and 1000, not {max_attempts}")
        if not -_INT32 < priority < _INT32:
            raise JobError(f"priority must fit in 32 bits, not {priority}")
        if key is not None and not (0 < len(key) <= 200):
            raise JobError("idempotency key must be 1 to 200 characters")
        return NewJob(
            function=registered.name,
            args=registered.validate(args),
            queue=queue or registered.queue,
            max_attempts=max_attempts or registered.retry.max_attempts,
            run_at=_epoch(run_at, defer_by, self.ledger.clock()),
            priority=priority,
            idempotency_key=key,
        )

    async def enqueue(
        self,
        function: str | JobCallable,
        args: Args = None,
        *,
        key: str | None = None,
        run_at: datetime | None = None,
        defer_by: timedelta | float | None = None,
        priority: int = 0,
        queue: str | None = None,
        max_attempts: int | None = None,
    ) -> Job:
        """Write a job to the ledger and wake a worker once it is committed.

        ``args`` are the function's keyword arguments (a mapping or a pydantic model), checked
        against its signature here. With ``key``, enqueueing again returns the existing job.
        """
        new = self._new_job(
            function,
            args,
            key=key,
            run_at=run_at,
            defer_by=defer_by,
            priority=priority,
            queue=queue,
            max_attempts=max_attempts,
        )
        ((job, _created),) = await self._write([new])
        return job

    async def enqueue_many(
        self,
        function: str | JobCallable,
        many_args: Sequence[Args],
        *,
        keys: Sequence[str | None] | None = None,
        run_at: datetime | None = None,
        defer_by: timedelta | float | None = None,
        priority: int = 0,
        queue: str | None = None,
        max_attempts: int | None = None,
    ) -> list[Job]:
        """Enqueue one job per argument set in a single transaction (same options for all)."""
        if keys is not None and len(keys) != len(many_args):
            raise JobError("keys and arguments differ in length")
        new = [
            self._new_job(
                function,
                args,
                key=keys[i] if keys else None,
                run_at=run_at,
                defer_by=defer_by,
                priority=priority,
                queue=queue,
                max_attempts=max_attempts,
            )
            for i, args in enumerate(many_args)
        ]
        return [job for job, _ in await self._write(new)]

    async def _write(self, new: Sequence[NewJob]) -> list[tuple[Job, bool]]:
        written = await self.ledger.insert(new)
        wakeups = [Wakeup.of(job) for job, created in written if created]
        if wakeups:

            async def wake() -> None:
                await self.dispatcher.notify(wakeups)

            await self.database.after_commit(wake)
        return written

    # -- reading --------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        job = await self.ledger.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r}")
        return job

    async def get_by_key(self, key: str) -> Job:
        job = await self.ledger.get_by_key(key)
        if job is None:
            raise NotFoundError(f"no job with idempotency key {key!r}")
        return job

    async def result(self, job_id: str) -> Any:
        """The result of a succeeded job; a clear error for any other state."""
        job = await self.get(job_id)
        if job.state is not JobState.SUCCEEDED:
            raise ConflictError(f"job {job_id} is {job.state.value}, it has no result")
        return job.result

    async def wait(self, job_id: str, *, timeout: float | None = None) -> Job:
        """Wait until the job is done (any terminal state) and return it."""
        delay = 0.01
        try:
            with anyio.fail_after(timeout):
                while True:
                    job = await self.get(job_id)
                    if job.done:
                        return job
                    event = self._waiters.setdefault(job_id, anyio.Event())
                    with anyio.move_on_after(delay):
                        await event.wait()
                    delay = min(delay * 2, 0.5)
        finally:
            self._waiters.pop(job_id, None)  # also when it finished in another process

    async def list(
        self,
        *,
        states: Sequence[JobState | str] = (),
        function: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Job]:
        if not 1 <= limit <= 10_000 or offset < 0:
            raise JobError("limit must be 1 to 10000 and offset at least 0")
        known = {s.value for s in JobState}
        unknown = [s for s in states if str(s) not in known]
        if unknown:
            raise JobError(f"unknown job state(s) {unknown}; known: {sorted(known)}")
        return await self.ledger.find(
            states=[JobState(s) for s in states], function=function, limit=limit, offset=offset
        )

    async def counts(self) -> dict[str, int]:
        """Number of jobs per state."""
        return await self.ledger.counts()

    # -- operator actions -----------------------------------------------------------------

    async def cancel(self, job_id: str) -> Job:
        """Cancel a queued job, or ask a running one to stop at its next await."""
        job = await self.ledger.cancel(job_id)
        if job is None:
            current = await self.get(job_id)
            raise ConflictError(f"job {job_id} is {current.state.value} and cannot be cancelled")
        if job.state is JobState.RUNNING:
            self.runner.cancel_local(job_id)
        else:
            await self._on_outcome(job)
        return job

    async def retry(self, job_id: str) -> Job:
        """Replay a failed, dead or cancelled job with a fresh attempt budget."""
        job = await self.ledger.replay(job_id)
        if job is None:
            current = await self.get(job_id)
            raise ConflictError(
                f"job {job_id} is {current.state.value}; only failed, dead or cancelled jobs "
                "can be retried"
            )
        wakeups = [Wakeup.of(job)]

        async def wake() -> None:
            await self.dispatcher.notify(wakeups)

        await self.database.after_commit(wake)
        return job

    async def enqueue_due_schedules(self) -> builtins.list[Job]:
        """Enqueue the latest run of every schedule (deduplicated by key across workers)."""
        now = datetime.fromtimestamp(self.ledger.clock(), UTC)
        out: builtins.list[Job] = []
        for schedule in self.registry.schedules:
            slot = schedule.latest_slot(now)
            if self._schedule_slots.get(schedule.name) == slot:
                continue
            out.append(
                await self.enqueue(
                    schedule.function, schedule.args, key=schedule.key(slot), run_at=slot
                )
            )
            self._schedule_slots[schedule.name] = slot
        return out

    async def sweep(self) -> int:
        """Re-drive expired leases and enqueue due schedules (run by every executing process)."""
        await self.ledger.sync_clock()
        await self.enqueue_due_schedules()
        rows = await self.ledger.sweep_expired()
        wakeups = [
            Wakeup(r["id"], int(r["attempts"]) + 1, float(r["run_at"]), r["queue"])
            for r in rows
            if r["state"] == JobState.QUEUED.value
        ]
        if wakeups:
            await self.dispatcher.notify(wakeups)
        return len(rows)

    # -- running (used by dispatchers) ----------------------------------------------------

    async def run_claimed(self, job_id: str, *, lease: float = 30.0) -> Job | None:
        """Claim the given job if it is due and run it here (the remote-worker path)."""
        job = await self.ledger.claim(job_id, worker_id=self.worker_id, lease=lease)
        if job is None:
            return None
        return await self.runner.run(job)

    async def _on_outcome(self, job: Job) -> None:
        if job.done:
            event = self._waiters.pop(job.id, None)
            if event is not None:
                event.set()
        elif job.state is JobState.QUEUED:
            await self.dispatcher.notify([Wakeup.of(job)])
