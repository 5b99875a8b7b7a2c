"""Redis/ARQ as the doorbell: this process enqueues, worker processes run, on real services.

The ledger stays the truth: rings coalesce in Redis, a ring lost in Redis costs only latency,
a worker killed mid-job is replaced once its lease expires, and a worker stopped with SIGTERM
hands its job back at once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis
from anyio.abc import Process
from worker_app import eventually, kill, lines, registry, terminate, worker_process

from dropkit.core.database import Database
from dropkit.core.errors import ConfigurationError, JobError
from dropkit.core.jobs import Jobs, JobState, Wakeup
from dropkit.core.jobs.arq_dispatch import ArqDispatcher
from dropkit.core.jobs.worker import run_worker
from dropkit.core.migrations import Migrator
from dropkit.core.schema import CORE_MIGRATIONS


@pytest.fixture
async def pg_url(postgres_url: str) -> str:
    """A fresh, migrated PostgreSQL database shared with the worker processes."""
    async with Database(postgres_url) as db:
        await Migrator(db, CORE_MIGRATIONS).migrate()
    return postgres_url


@pytest.fixture
def queue() -> str:
    """A queue of this test's own: other test runs may share the Redis database."""
    return f"dropkit-test:{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def producer(pg_url: str, redis_url: str, queue: str) -> AsyncIterator[Jobs]:
    """Enqueues through Redis; runs nothing itself."""
    async with (
        Database(pg_url) as db,
        Jobs(db, registry, dispatcher=ArqDispatcher(redis_url, queue_name=queue)) as jobs,
    ):
        yield jobs


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


Worker = Callable[..., AbstractAsyncContextManager[Process]]


@pytest.fixture
def worker(pg_url: str, redis_url: str, queue: str, tmp_path: Path) -> Worker:
    """Start an ARQ worker process on this test's database and queue."""

    def start(name: str, *args: str) -> AbstractAsyncContextManager[Process]:
        return worker_process(
            tmp_path / f"{name}.log", pg_url, *args, redis_url=redis_url, queue=queue
        )

    return start


async def rings(redis: aioredis.Redis, queue: str) -> list[str]:
    """ARQ ids of the rings waiting in the queue."""
    return sorted(raw.decode() for raw in await redis.zrange(queue, 0, -1))


# A long ledger poll: only a ring can make these workers react within a second.
SLOW_POLL = ("--poll", "10")


async def test_rings_run_jobs_retries_and_deferred_jobs_promptly(
    producer: Jobs, worker: Worker, tmp_path: Path
) -> None:
    attempts = tmp_path / "attempts.txt"
    async with worker("w1", *SLOW_POLL) as process:
        await anyio.sleep(0.5)  # the worker is up and listening
        started = time.monotonic()
        job = await producer.enqueue("add", {"a": 2, "b": 3})
        done = await producer.wait(job.id, timeout=10)
        assert done.state is JobState.SUCCEEDED and done.result["sum"] == 5
        assert time.monotonic() - started < 2, "rung, not polled"
        retried = await producer.enqueue("fails_once", {"path": str(attempts)})
        deferred = await producer.enqueue("add", {"a": 1, "b": 1}, defer_by=1.0)
        many = await producer.enqueue_many("add", [{"a": i, "b": 0} for i in range(20)])
        assert (await producer.wait(retried.id, timeout=10)).result == 2
        first, second = (float(line.split()[1]) for line in lines(attempts))
        assert second - first >= 0.2  # Retry(after=0.2) honoured
        done_later = await producer.wait(deferred.id, timeout=10)
        assert done_later.started_at is not None
        assert done_later.started_at >= deferred.run_at
        for created in many:
            assert (await producer.wait(created.id, timeout=10)).state is JobState.SUCCEEDED
        assert await terminate(process) == 0


async def test_rings_coalesce_in_redis(
    producer: Jobs, worker: Worker, redis: aioredis.Redis, queue: str
) -> None:
    created = [await producer.enqueue("add", {"a": i, "b": 0}) for i in range(100)]
    waiting = await rings(redis, queue)
    assert 1 <= len(waiting) <= 4, waiting  # 100 jobs, a handful of rings
    async with worker("w1", *SLOW_POLL):
        for job in created:
            assert (await producer.wait(job.id, timeout=10)).state is JobState.SUCCEEDED
    assert await rings(redis, queue) == []


async def test_a_ring_lost_in_redis_costs_only_latency(
    producer: Jobs, worker: Worker, redis: aioredis.Redis, queue: str
) -> None:
    job = await producer.enqueue("add", {"a": 1, "b": 2})
    await redis.delete(queue)  # Redis lost the ring (a flush, a failover)
    async with worker("w1", "--poll", "0.3", "--burst") as process:
        done = await producer.wait(job.id, timeout=10)
        assert done.state is JobState.SUCCEEDED
        with anyio.fail_after(10):
            assert await process.wait() == 0  # burst: exits once nothing is due


async def test_killed_worker_is_replaced(producer: Jobs, worker: Worker, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    async with worker("w1", *SLOW_POLL) as first:
        await anyio.sleep(0.5)
        job = await producer.enqueue("slow_marker", {"path": str(marker), "seconds": 60})
        await eventually(lambda: bool(lines(marker)), what="the first worker starts the job")
        await kill(first)
    async with worker("w2", "--poll", "0.2"):
        done = await producer.wait(job.id, timeout=15)
    assert done.state is JobState.SUCCEEDED
    assert done.attempts == 2


async def test_sigterm_hands_the_running_job_back_at_once(
    producer: Jobs, worker: Worker, tmp_path: Path
) -> None:
    marker = tmp_path / "marker.txt"
    async with worker("w1", *SLOW_POLL) as first:
        await anyio.sleep(0.5)
        job = await producer.enqueue("slow_marker", {"path": str(marker), "seconds": 60})
        await eventually(lambda: bool(lines(marker)), what="the first worker starts the job")
        assert await terminate(first) == 0
    back = await producer.get(job.id)
    assert back.state is JobState.QUEUED
    assert back.attempts == 0  # the interrupted attempt is refunded
    async with worker("w2", *SLOW_POLL):
        done = await producer.wait(job.id, timeout=10)  # rung by w1 on its way out? polled
    assert done.state is JobState.SUCCEEDED


async def test_redis_trouble_is_logged_not_raised(
    pg_url: str, redis_url: str, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(JobError, match="cannot connect to Redis"):
        async with (
            Database(pg_url) as db,
            Jobs(db, registry, dispatcher=ArqDispatcher("redis://127.0.0.1:1/0")),
        ):
            pass
    dispatcher = ArqDispatcher(redis_url, queue_name=queue)
    async with Database(pg_url) as db, Jobs(db, registry, dispatcher=dispatcher) as jobs:
        # Redis goes away: point the live pool at a closed port and drop its connections.
        pool = dispatcher.pool.connection_pool
        pool.connection_kwargs["port"] = 1
        await pool.disconnect()
        pool.reset()
        with caplog.at_level(logging.WARNING, logger="dropkit.jobs"):
            job = await jobs.enqueue("add", {"a": 1, "b": 1})
            await dispatcher.notify([Wakeup.of(job)])
        assert (await jobs.get(job.id)).state is JobState.QUEUED  # the ledger has it
        assert "could not ring workers" in caplog.text


async def test_publish_only_jobs_cannot_be_a_worker(pg_url: str, redis_url: str) -> None:
    async with Database(pg_url) as db:
        jobs = Jobs(db, registry, dispatcher=ArqDispatcher(redis_url))
        with pytest.raises(ConfigurationError, match="publish-only"):
            await run_worker(jobs)
