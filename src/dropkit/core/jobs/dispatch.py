"""Dispatchers wake workers; the ledger, not the dispatcher, decides who runs what.

A dispatcher only says "look, there is work": the in-process :class:`LocalDispatcher` runs jobs
in this process with bounded concurrency, polling the ledger and woken early by ``notify``.
:class:`~dropkit.core.jobs.arq_dispatch.ArqDispatcher` publishes the same wake-ups to Redis for
worker processes elsewhere. Losing a wake-up never loses a job: the sweeper re-drives it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio
from anyio.abc import TaskGroup

from dropkit.core.errors import ConfigurationError
from dropkit.core.jobs.models import Job

if TYPE_CHECKING:
    from dropkit.core.jobs.service import Jobs

__all__ = ["Dispatcher", "LedgerOnlyDispatcher", "LocalDispatcher", "Wakeup"]

logger = logging.getLogger("dropkit.jobs")


@dataclass(frozen=True)
class Wakeup:
    """A job that became runnable at ``run_at`` (epoch seconds) for its ``attempt``-th run."""

    job_id: str
    attempt: int
    run_at: float
    queue: str

    @classmethod
    def of(cls, job: Job) -> Wakeup:
        return cls(job.id, job.attempts + 1, job.run_at.timestamp(), job.queue)


class Dispatcher(Protocol):
    """How jobs written to the ledger reach a worker."""

    #: True when this dispatcher executes jobs in this process.
    executes_locally: bool

    async def start(self, jobs: Jobs, task_group: TaskGroup) -> None:
        """Begin (background tasks go in ``task_group``)."""

    async def notify(self, wakeups: Sequence[Wakeup]) -> None:
        """Jobs became runnable (new, retried, re-driven or replayed)."""

    async def aclose(self) -> None:
        """Stop; running jobs are handed back to the ledger."""


class LocalDispatcher:
    """Runs jobs in this process: at most ``concurrency`` at once, from ``queues``.

    Several processes may each run a LocalDispatcher on one shared database; the ledger's
    claims (``SKIP LOCKED`` on PostgreSQL) make sure each job runs once at a time.
    """

    executes_locally = True

    def __init__(
        self,
        *,
        concurrency: int = 8,
        queues: Sequence[str] = ("default",),
        poll_interval: float = 1.0,
        sweep_interval: float = 5.0,
        claim_lease: float = 30.0,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if not queues:
            raise ConfigurationError("a dispatcher needs at least one queue")
        self.concurrency = concurrency
        self.queues = tuple(queues)
        self.poll_interval = poll_interval
        self.sweep_interval = sweep_interval
        self.claim_lease = claim_lease
        self._wake = anyio.Event()
        self._jobs: Jobs | None = None
        self._running = 0

    async def start(self, jobs: Jobs, task_group: TaskGroup) -> None:
        self._jobs = jobs
        task_group.start_soon(self._poll_loop, task_group)
        task_group.start_soon(self._sweep_loop)

    async def notify(self, wakeups: Sequence[Wakeup]) -> None:
        if any(w.queue in self.queues for w in wakeups):
            self.wake()

    def wake(self) -> None:
        """Look at the ledger now instead of at the next poll."""
        self._wake.set()

    async def aclose(self) -> None:
        self._jobs = None

    async def _poll_loop(self, task_group: TaskGroup) -> None:
        assert self._jobs is not None
        jobs = self._jobs
        ledger = jobs.ledger
        while True:
            self._wake = anyio.Event()
            free = self.concurrency - self._running
            claimed: list[Job] = []
            if free > 0:
                try:
                    claimed = await ledger.claim_batch(
                        queues=self.queues,
                        limit=free,
                        worker_id=jobs.worker_id,
                        lease=self.claim_lease,
                    )
                except Exception:  # a background loop must never die (nor cancel its host)
                    logger.exception("claiming jobs failed; retrying")
                    await anyio.sleep(self.poll_interval)
                for job in claimed:
                    self._running += 1
                    task_group.start_soon(self._run_one, job)
                if claimed and len(claimed) == free:
                    continue
            timeout = self.poll_interval
            if free > len(claimed):
                try:
                    due = await ledger.next_run_at(self.queues)
                except Exception:
                    logger.exception("reading the next due time failed")
                    due = None
                if due is not None:
                    timeout = min(timeout, max(0.0, due - ledger.clock()))
            with anyio.move_on_after(timeout):
                await self._wake.wait()

    async def _run_one(self, job: Job) -> None:
        assert self._jobs is not None
        try:
            await self._jobs.runner.run(job)
        except Exception:
            logger.exception("job %s crashed the runner", job.id)
        finally:
            self._running -= 1
            self._wake.set()

    async def _sweep_loop(self) -> None:
        assert self._jobs is not None
        jobs = self._jobs
        while True:
            await anyio.sleep(self.sweep_interval)
            try:
                await jobs.sweep()
            except Exception:  # a background loop must never die (nor cancel its host)
                logger.exception("sweeping failed; retrying")


class LedgerOnlyDispatcher:
    """Writes jobs to the ledger and wakes nobody: workers sharing the database poll for them.

    For processes that enqueue but never run jobs (a web app beside ``dropkit worker``
    processes on the same database, operator commands).
    """

    executes_locally = False

    async def start(self, jobs: Jobs, task_group: TaskGroup) -> None:
        return None

    async def notify(self, wakeups: Sequence[Wakeup]) -> None:
        return None

    async def aclose(self) -> None:
        return None
