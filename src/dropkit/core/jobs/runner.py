"""Runs one leased job: heartbeat, timeout, cancellation, and the recorded outcome.

While the function runs, a heartbeat renews the lease. A lost lease (the sweeper gave the job to
another worker) or a cancel request stops the function at its next await. Every outcome is one
fenced ledger write, shielded from cancellation so a shutdown cannot leave a job half-recorded.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import PydanticSchemaGenerationError, TypeAdapter
from pydantic_core import PydanticSerializationError, to_jsonable_python

from dropkit.core.database import Database
from dropkit.core.errors import JobArgumentsError, StorageError, UnknownJobFunctionError
from dropkit.core.jobs.control import Abort, Retry
from dropkit.core.jobs.ledger import Ledger
from dropkit.core.jobs.models import Job, JobState
from dropkit.core.jobs.registry import JobFunction, JobRegistry, RetryPolicy
from dropkit.core.jsontext import dumps_strict, printable

if TYPE_CHECKING:
    from dropkit.core.jobs.service import Jobs

__all__ = ["JobContext", "JobRunner"]

logger = logging.getLogger("dropkit.jobs")
_ERROR_LIMIT = 4000


@dataclass
class JobContext:
    """What a job function receives as ``ctx``."""

    job: Job
    jobs: Jobs
    worker_id: str
    state: Mapping[str, Any] = field(default_factory=dict)

    @property
    def attempt(self) -> int:
        """1 on the first run, 2 on the first retry..."""
        return self.job.attempts

    @property
    def database(self) -> Database:
        return self.jobs.database

    async def progress(self, **data: Any) -> None:
        """Record progress (JSON) on the job row, readable with ``jobs.get(id).progress``."""
        await self.jobs.ledger.set_progress(self.job.id, self.worker_id, data)


@dataclass
class _Attempt:
    lease_lost: bool = False
    cancel_requested: bool = False


def _describe(exc: BaseException) -> str:
    text = printable("".join(traceback.format_exception(exc)))
    return text if len(text) <= _ERROR_LIMIT else "…" + text[-_ERROR_LIMIT:]


def _jsonable(result: Any) -> Any:
    """JSON form of a job's result: models, Money, Decimal, datetime... as pydantic dumps them."""

    def fallback(value: Any) -> Any:
        return TypeAdapter(type(value)).dump_python(value, mode="json")

    try:
        data = to_jsonable_python(result, fallback=fallback)
    except (PydanticSerializationError, PydanticSchemaGenerationError) as exc:
        raise TypeError(str(exc)) from exc
    dumps_strict(data)
    return data


Notify = Callable[[Job], Awaitable[None]]


class JobRunner:
    """Executes leased jobs for one worker identity."""

    def __init__(
        self,
        *,
        jobs: Jobs,
        registry: JobRegistry,
        worker_id: str,
        claim_lease: float,
        on_outcome: Notify,
        state: Mapping[str, Any],
        rng: random.Random | None = None,
    ) -> None:
        self._jobs = jobs
        self._ledger: Ledger = jobs.ledger
        self._registry = registry
        self.worker_id = worker_id
        self._claim_lease = claim_lease
        self._on_outcome = on_outcome
        self._state = state
        self._rng = rng or random.Random()
        self._active: dict[str, tuple[anyio.CancelScope, _Attempt]] = {}

    @property
    def active(self) -> int:
        return len(self._active)

    def cancel_local(self, job_id: str) -> bool:
        """Stop a job running in this process now (its cancel flag is already set)."""
        entry = self._active.get(job_id)
        if entry is None:
            return False
        scope, attempt = entry
        attempt.cancel_requested = True
        scope.cancel()
        return True

    async def run(self, job: Job) -> Job | None:
        """Run a job this worker has leased and record the outcome."""
        try:
            function = self._registry.get(job.function)
        except UnknownJobFunctionError as exc:
            return await self._record_error(job, RetryPolicy(), exc)
        try:
            kwargs = function.bind(job.args)
        except JobArgumentsError as exc:
            error = _describe(exc)
            return await self._record(
                job,
                lambda: self._ledger.end(
                    job.id, self.worker_id, state=JobState.FAILED, error=error
                ),
            )
        attempt = _Attempt()
        scope = anyio.CancelScope()
        self._active[job.id] = (scope, attempt)
        ctx = JobContext(job=job, jobs=self._jobs, worker_id=self.worker_id, state=self._state)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._heartbeat, job, function, scope, attempt)
                outcome = await self._call(function, ctx, kwargs, scope)
                tg.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            # The worker is shutting down: hand the job back without charging an attempt.
            with anyio.CancelScope(shield=True):
                await self._ledger.reschedule(
                    job.id,
                    self.worker_id,
                    error="worker shut down while the job ran",
                    run_at=self._ledger.clock(),
                    refund=True,
                )
            raise
        finally:
            self._active.pop(job.id, None)

        if attempt.lease_lost:
            logger.warning("job %s lost its lease; another worker owns it now", job.id)
            return None
        kind, value = outcome
        if kind == "ok":
            try:
                result = _jsonable(value)
            except (TypeError, ValueError) as exc:
                error = f"result of {job.function!r} is not JSON-serialisable: {exc}"
                return await self._record(
                    job,
                    lambda: self._ledger.end(
                        job.id, self.worker_id, state=JobState.FAILED, error=error
                    ),
                )
            return await self._record(
                job, lambda: self._ledger.succeed(job.id, self.worker_id, result)
            )
        if kind == "cancelled":
            return await self._record(
                job,
                lambda: self._ledger.end(
                    job.id,
                    self.worker_id,
                    state=JobState.CANCELLED,
                    error="cancelled while running",
                ),
            )
        assert isinstance(value, BaseException)
        return await self._record_error(job, function.retry, value)

    async def _call(
        self,
        function: JobFunction,
        ctx: JobContext,
        kwargs: dict[str, Any],
        scope: anyio.CancelScope,
    ) -> tuple[str, Any]:
        with scope:
            try:
                if function.timeout is None:
                    return ("ok", await function.fn(ctx, **kwargs))
                with anyio.move_on_after(function.timeout) as deadline:
                    return ("ok", await function.fn(ctx, **kwargs))
                if deadline.cancelled_caught:
                    return ("error", TimeoutError(f"timed out after {function.timeout:g}s"))
            except Exception as exc:
                return ("error", exc)
        return ("cancelled", None)

    async def _heartbeat(
        self, job: Job, function: JobFunction, scope: anyio.CancelScope, attempt: _Attempt
    ) -> None:
        interval = max(0.05, min(self._claim_lease, function.lease) / 3)
        while True:
            await anyio.sleep(interval)
            try:
                cancel = await self._ledger.renew(
                    job.id, worker_id=self.worker_id, lease=function.lease
                )
            except StorageError:
                logger.warning("could not renew the lease of job %s; will retry", job.id)
                continue
            if cancel is None:
                attempt.lease_lost = True
                scope.cancel()
                return
            if cancel:
                attempt.cancel_requested = True
                scope.cancel()
                return

    async def _record_error(self, job: Job, policy: RetryPolicy, exc: BaseException) -> Job | None:
        error = _describe(exc)
        if isinstance(exc, Abort | JobArgumentsError):
            return await self._record(
                job,
                lambda: self._ledger.end(
                    job.id, self.worker_id, state=JobState.FAILED, error=error
                ),
            )
        max_attempts = job.max_attempts
        if job.attempts >= max_attempts:
            return await self._record(
                job,
                lambda: self._ledger.end(job.id, self.worker_id, state=JobState.DEAD, error=error),
            )
        delay = exc.after if isinstance(exc, Retry) else policy.delay(job.attempts, self._rng)
        run_at = self._ledger.clock() + delay
        return await self._record(
            job, lambda: self._ledger.reschedule(job.id, self.worker_id, error=error, run_at=run_at)
        )

    async def _record(self, job: Job, write: Callable[[], Awaitable[Job | None]]) -> Job | None:
        with anyio.CancelScope(shield=True):
            try:
                updated = await write()
            except StorageError as exc:
                # Left as is, the row would stay "running" until its lease expired and the job
                # would run again: record a failure that says why instead, if the database lets us.
                logger.exception("recording the outcome of job %s failed", job.id)
                try:
                    updated = await self._ledger.end(
                        job.id,
                        self.worker_id,
                        state=JobState.FAILED,
                        error=f"the outcome could not be recorded: {printable(str(exc))}",
                    )
                except StorageError:
                    logger.exception("job %s will be re-driven when its lease expires", job.id)
                    return None
        if updated is None:
            logger.warning("outcome of job %s not recorded: lease no longer ours", job.id)
            return None
        log = logger.info if updated.state is JobState.SUCCEEDED else logger.warning
        log(
            "job %s %s -> %s",
            job.id,
            job.function,
            updated.state.value,
            extra={"job_id": job.id, "function": job.function, "attempt": job.attempts},
        )
        await self._on_outcome(updated)
        return updated
