"""A worker process killed with SIGKILL mid-job: another worker finishes the job after the lease.

Real processes on a shared database (a SQLite file, or PostgreSQL): the killed worker can clean
nothing up, so recovery rests on the lease alone (1 s here, renewed every third of a second).
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
from worker_app import eventually, kill, lines, registry, terminate, worker_process

from dropkit.core.database import Database
from dropkit.core.jobs import Jobs, JobState, LocalDispatcher
from dropkit.core.jobs.worker import run_worker
from dropkit.core.migrations import Migrator
from dropkit.core.schema import CORE_MIGRATIONS


async def test_job_of_a_killed_worker_is_finished_by_another(
    database_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "marker.txt"
    async with Database(database_url) as db:
        await Migrator(db, CORE_MIGRATIONS).migrate()
        producer = Jobs(db, registry)  # never started: it only writes to the ledger
        async with worker_process(tmp_path / "first.log", database_url) as first:
            job = await producer.enqueue("slow_marker", {"path": str(marker), "seconds": 60})
            await eventually(lambda: bool(lines(marker)), what="the first worker starts the job")
            running = await producer.get(job.id)
            assert running.state is JobState.RUNNING and running.attempts == 1
            await kill(first)
        killed_at = time.monotonic()

        async with worker_process(tmp_path / "second.log", database_url) as second:
            done = await producer.wait(job.id, timeout=15)
            recovered_in = time.monotonic() - killed_at
            assert await terminate(second) == 0  # a graceful stop exits cleanly

    assert done.state is JobState.SUCCEEDED, done.last_error
    assert done.attempts == 2
    first_start, second_start, finish = (line.split() for line in lines(marker))
    assert first_start[0] == second_start[0] == "start" and finish[0] == "done"
    assert first_start[2] == "1" and second_start[2] == "2"
    assert first_start[1] != second_start[1]  # two different workers
    assert done.result == second_start[1] == finish[1]
    assert recovered_in < 8, f"recovery took {recovered_in:.1f}s; the lease is 1 s"


async def test_local_worker_in_burst_mode_returns_once_idle(db: Database) -> None:
    jobs = Jobs(db, registry, dispatcher=LocalDispatcher(concurrency=4, poll_interval=0.05))
    created = await jobs.enqueue_many("add", [{"a": i, "b": 1} for i in range(10)])
    later = await jobs.enqueue("add", {"a": 0, "b": 0}, defer_by=60)  # not due: not waited for
    with anyio.fail_after(10):
        await run_worker(jobs, burst=True)
    for job in created:
        done = await jobs.get(job.id)
        assert done.state is JobState.SUCCEEDED and done.result["sum"] == job.args["a"] + 1
    assert (await jobs.get(later.id)).state is JobState.QUEUED
