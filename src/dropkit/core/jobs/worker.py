"""The ``dropkit worker`` process: runs jobs from ARQ (with Redis) or straight from the ledger.

With Redis, an ARQ worker in this process receives wake-ups (``dropkit_run(job_id)``) and runs
each job through :meth:`Jobs.run_claimed`, so the ledger's claim, lease and fencing apply as
they do in-process. A sweeper task re-drives expired leases (a worker died), re-publishes
queued jobs whose wake-up was lost, and frees ARQ entries a dead worker left "in progress".
Without Redis, the jobs' :class:`LocalDispatcher` polls the ledger itself.

SIGTERM or SIGINT stops the worker gracefully: it takes no new job, and jobs still running are
handed back to the ledger (their attempt refunded) and re-published for another worker.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from dropkit.core.database import Database
from dropkit.core.errors import ConfigurationError, StorageError
from dropkit.core.jobs.arq_dispatch import (
    DEFAULT_QUEUE,
    RUN_FUNCTION,
    RUN_TIMEOUT,
    ArqDispatcher,
    dumps,
    loads,
)
from dropkit.core.jobs.dispatch import LocalDispatcher, Wakeup
from dropkit.core.jobs.models import JobState
from dropkit.core.jobs.registry import JobRegistry
from dropkit.core.jobs.service import Jobs

__all__ = ["build_worker_jobs", "run_worker"]

logger = logging.getLogger("dropkit.worker")

_SHUTDOWN_TIMEOUT = 30.0
_BURST_CHECK = 0.1


def build_worker_jobs(
    database: Database, registry: JobRegistry, *, redis_url: str | None, concurrency: int
) -> Jobs:
    """The :class:`Jobs` a worker process needs: ARQ dispatch with Redis, else local."""
    if redis_url:
        return Jobs(database, registry, dispatcher=ArqDispatcher(redis_url))
    return Jobs(database, registry, dispatcher=LocalDispatcher(concurrency=concurrency))


async def run_worker(
    jobs: Jobs,
    *,
    redis_url: str | None,
    concurrency: int = 8,
    queue_name: str = DEFAULT_QUEUE,
    sweep_interval: float = 5.0,
    burst: bool = False,
    poll_delay: float = 0.1,
) -> None:
    """Run jobs until SIGTERM/SIGINT (or, with ``burst``, until no due job is left).

    ``run_worker`` owns the lifecycle of ``jobs``: it starts it (a no-op if the caller already
    did) and closes it before returning. With ``redis_url``, ``jobs.dispatcher`` must be an
    :class:`ArqDispatcher` on ``queue_name`` (re-published and retried jobs go through it), and
    ``concurrency``, ``sweep_interval`` and ``poll_delay`` (how often ARQ looks at its queue)
    apply; without it, ``jobs.dispatcher`` must be a :class:`LocalDispatcher`, which has its
    own concurrency and sweeper settings.
    """
    if concurrency < 1:
        raise ConfigurationError("concurrency must be at least 1")
    dispatcher = jobs.dispatcher
    if redis_url:
        if not isinstance(dispatcher, ArqDispatcher):
            raise ConfigurationError("an ARQ worker needs Jobs with an ArqDispatcher")
        if dispatcher.queue_name != queue_name:
            raise ConfigurationError(
                f"the dispatcher publishes to {dispatcher.queue_name!r}, "
                f"the worker would read {queue_name!r}"
            )
    elif not dispatcher.executes_locally:
        raise ConfigurationError("without redis_url the worker needs a LocalDispatcher")

    stop = anyio.Event()
    await jobs.start()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch_signals, stop)
            if isinstance(dispatcher, ArqDispatcher) and redis_url:
                await _run_arq(
                    jobs,
                    dispatcher,
                    stop,
                    concurrency=concurrency,
                    sweep_interval=sweep_interval,
                    burst=burst,
                    poll_delay=poll_delay,
                )
            else:
                queues = getattr(dispatcher, "queues", ("default",))
                if burst:
                    tg.start_soon(_stop_when_idle, jobs, stop, lambda: False, queues)
                logger.info("worker %s running jobs in-process", jobs.worker_id)
                await stop.wait()
            tg.cancel_scope.cancel()
    finally:
        await jobs.aclose()
    logger.info("worker %s stopped", jobs.worker_id)


async def _watch_signals(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            logger.info("received %s: stopping gracefully", signal.Signals(signum).name)
            stop.set()
            return


async def _idle(jobs: Jobs, queues: tuple[str, ...] | None) -> bool:
    """No job is due (in ``queues``, or any queue) and none is running under this worker."""
    if jobs.runner.active:
        return False
    if queues is None:
        if await jobs.ledger.stale_queued(older_than=0, limit=1):
            return False
    else:
        due = await jobs.ledger.next_run_at(queues)
        if due is not None and due <= jobs.ledger.clock():
            return False
    running = await jobs.ledger.find(states=[JobState.RUNNING], limit=10_000)
    return not any(job.worker_id == jobs.worker_id for job in running)


async def _stop_when_idle(
    jobs: Jobs, stop: anyio.Event, busy: Callable[[], bool], queues: tuple[str, ...] | None
) -> None:
    while True:
        await anyio.sleep(_BURST_CHECK)
        try:
            if not busy() and await _idle(jobs, queues):
                stop.set()
                return
        except StorageError:
            logger.warning("burst check failed; retrying", exc_info=True)


async def _run_arq(
    jobs: Jobs,
    dispatcher: ArqDispatcher,
    stop: anyio.Event,
    *,
    concurrency: int,
    sweep_interval: float,
    burst: bool,
    poll_delay: float,
) -> None:
    from arq.worker import Worker, func

    stopping = False
    running: dict[str, anyio.CancelScope] = {}
    handed_back: set[str] = set()

    async def dropkit_run(ctx: dict[str, Any], job_id: str) -> None:
        """One wake-up: claim the job in the ledger and run it (or do nothing)."""
        if stopping:
            handed_back.add(job_id)
            return
        with anyio.CancelScope() as scope:
            running[job_id] = scope
            try:
                await jobs.run_claimed(job_id, lease=dispatcher.claim_lease)
            finally:
                running.pop(job_id, None)
        if scope.cancelled_caught:  # shutdown: the runner refunded the attempt
            handed_back.add(job_id)

    pool = await dispatcher.connect()
    worker = Worker(
        functions=[
            func(dropkit_run, name=RUN_FUNCTION, keep_result=0, max_tries=1, timeout=RUN_TIMEOUT)
        ],
        redis_pool=pool,
        queue_name=dispatcher.queue_name,
        max_jobs=concurrency,
        keep_result=0,
        max_tries=1,
        job_timeout=RUN_TIMEOUT,
        poll_delay=poll_delay,
        handle_signals=False,
        retry_jobs=False,
        job_serializer=dumps,
        job_deserializer=loads,
        log_results=False,
    )

    def busy() -> bool:
        return any(not task.done() for task in worker.tasks.values())

    async def sweep_loop() -> None:
        while True:
            try:
                await jobs.sweep()
                await dispatcher.reap_orphans(
                    jobs, window=worker.queue_read_limit, grace=max(1.0, jobs.stale_after)
                )
            except Exception:  # the database or Redis is away: try again next round
                logger.exception("sweeping failed; retrying in %.1fs", sweep_interval)
            await anyio.sleep(sweep_interval)

    logger.info(
        "worker %s reading ARQ queue %r (concurrency %d)",
        jobs.worker_id,
        dispatcher.queue_name,
        concurrency,
    )
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.main)
            tg.start_soon(sweep_loop)
            if burst:
                tg.start_soon(_stop_when_idle, jobs, stop, busy, None)
            await stop.wait()
            tg.cancel_scope.cancel()  # ARQ takes no new job from here on
    finally:
        with anyio.move_on_after(_SHUTDOWN_TIMEOUT, shield=True):
            stopping = True
            for scope in list(running.values()):
                scope.cancel()
            await _quietly(asyncio.gather(*worker.tasks.values(), return_exceptions=True))
            await _quietly(pool.delete(worker.health_check_key))
            await _quietly(pool.aclose(close_connection_pool=True))
            await _republish(jobs, handed_back)


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception:
        logger.warning("shutdown step failed", exc_info=True)


async def _republish(jobs: Jobs, job_ids: set[str]) -> None:
    """Wake another worker for jobs this one handed back, instead of waiting for the sweeper."""
    wakeups: list[Wakeup] = []
    for job_id in sorted(job_ids):
        try:
            job = await jobs.ledger.get(job_id)
        except StorageError:
            logger.warning("cannot re-publish job %s; the sweeper will", job_id)
            continue
        if job is not None and job.state is JobState.QUEUED:
            wakeups.append(Wakeup.of(job))
    if wakeups:
        logger.info("handing %d job(s) back for another worker", len(wakeups))
        await jobs.dispatcher.notify(wakeups)
