"""The ``dropkit worker`` loop: run jobs until told to stop, or until no work is left.

The worker's :class:`~dropkit.core.jobs.Jobs` executes with its own dispatcher — a
:class:`LocalDispatcher` polling the ledger, or an
:class:`~dropkit.core.jobs.arq_dispatch.ArqWorkerDispatcher` that is also rung through Redis.
SIGTERM or SIGINT stops it gracefully: no new claims, and jobs still running are handed back
to the ledger with their attempt refunded, so another worker picks them up at once.
"""

from __future__ import annotations

import logging
import signal

import anyio

from dropkit.core.errors import ConfigurationError, StorageError
from dropkit.core.jobs.service import Jobs

__all__ = ["run_worker"]

logger = logging.getLogger("dropkit.worker")

_BURST_CHECK = 0.1


async def run_worker(jobs: Jobs, *, burst: bool = False) -> None:
    """Run ``jobs`` until SIGTERM/SIGINT, or with ``burst`` until no due job is left.

    ``run_worker`` starts ``jobs`` (a no-op if the caller already did) and closes it before it
    returns, which hands running jobs back.
    """
    if not jobs.dispatcher.executes_locally:
        raise ConfigurationError(
            "a worker runs jobs in this process: give it a LocalDispatcher or an "
            "ArqWorkerDispatcher, not a publish-only ArqDispatcher"
        )
    stop = anyio.Event()
    await jobs.start()
    logger.info("worker %s started", jobs.worker_id)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch_signals, stop)
            if burst:
                tg.start_soon(_stop_when_idle, jobs, stop)
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


async def _stop_when_idle(jobs: Jobs, stop: anyio.Event) -> None:
    queues = tuple(getattr(jobs.dispatcher, "queues", ("default",)))
    while True:
        await anyio.sleep(_BURST_CHECK)
        if jobs.runner.active:
            continue
        try:
            due = await jobs.ledger.next_run_at(queues)
        except StorageError:
            logger.warning("burst check failed; retrying", exc_info=True)
            continue
        if due is None or due > jobs.ledger.clock():
            stop.set()
            return
