"""Durable no-op jobs per second, and what the ledger costs next to bare ARQ.

Run: ``python -P benchmarks/jobs.py [--jobs N] [--workers 2] [--concurrency 16] [--rounds 2]``

Figures, each for N no-op jobs, measured from the first enqueue to the last completion:

(a) in-process on SQLite (a file), ``LocalDispatcher``;
(b) in-process on PostgreSQL, ``LocalDispatcher``;
(c) through ARQ: this process enqueues with ``Jobs(..., dispatcher=ArqDispatcher(...))`` (the
    ledger rows, then ARQ rings) and ``--workers`` processes run
    :func:`dropkit.core.jobs.worker.run_worker` with an ``ArqWorkerDispatcher`` on PostgreSQL;
    the peer: the same number of plain ARQ worker processes with the same ARQ settings
    (``max_jobs``, ``poll_delay``, ``keep_result=0``, ``max_tries=1``, JSON payloads), one ARQ
    job per task, whose function does nothing and touches no database.

Fairness of (c) against the peer. Both enqueue in batches of 500: the durable side with
``enqueue_many`` (one multi-row INSERT, then one ring), the peer with one Redis round trip per
batch that writes exactly the keys ``ArqRedis.enqueue_job`` writes (:func:`publish`, faster than
calling ``enqueue_job`` 500 times: this favours the peer). Both stop the clock when the last job
finished: ARQ removes a job from its queue only once it completed, so the peer is done when
the queue is empty; a durable job is done when the ledger says ``succeeded`` (counted every
20 ms). Worker processes start, and warm up on a small batch, before the clock starts. Rounds
alternate durable and bare; the best of each counts.

PostgreSQL: a fresh database created (and dropped) through ``DROPKIT_BENCH_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``). Redis: ``DROPKIT_BENCH_REDIS_URL``
(default ``redis://127.0.0.1:6379/1``), flushed. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg
import redis.asyncio as aioredis
from anyio.abc import Process

from dropkit.core.database import Database
from dropkit.core.jobs import JobContext, JobRegistry, Jobs, LocalDispatcher
from dropkit.core.jobs.arq_dispatch import ArqDispatcher, ArqWorkerDispatcher, connect_arq
from dropkit.core.jobs.worker import run_worker
from dropkit.core.migrations import Migrator
from dropkit.core.schema import CORE_MIGRATIONS

POSTGRES_URL = os.environ.get(
    "DROPKIT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("DROPKIT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
QUEUE = "dropkit:bench"
BATCH = 500
POLL_DELAY = 0.05  # how often an idle ARQ worker looks at its queue, for both kinds
RUN_TIMEOUT = 3600.0
GOAL = 0.5
SCRIPT = str(Path(__file__).resolve())

registry = JobRegistry()


@registry.job(name="noop")
async def noop(ctx: JobContext) -> None:
    """Does nothing: what is measured is the machinery around it."""


async def bare_noop(ctx: dict[str, Any]) -> None:
    """The peer's ARQ function: does nothing either."""


# -- worker processes ---------------------------------------------------------------------


def _touch(path: str) -> None:
    """Tell the benchmark this worker is up."""
    Path(path).touch()


async def _until_signal(main: Callable[[], Awaitable[None]]) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(main)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                break
        tg.cancel_scope.cancel()


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    return json.loads(data)


async def publish(pool: Any, queue_name: str, entries: list[tuple[str, str, int]]) -> None:
    """Enqueue ARQ jobs ``(id, function, score ms)`` in one MULTI: the keys enqueue_job writes."""
    from arq.constants import job_key_prefix
    from arq.jobs import serialize_job

    now_ms = int(time.time() * 1000)
    async with pool.pipeline(transaction=True) as pipe:
        for arq_id, function, score in entries:
            payload = serialize_job(function, (), {}, None, now_ms, serializer=dumps)
            pipe.set(job_key_prefix + arq_id, payload, px=86_400_000, nx=True)
            pipe.zadd(queue_name, {arq_id: score}, nx=True)
        await pipe.execute()


async def durable_worker(options: argparse.Namespace) -> None:
    async with Database(options.database, pool_size=options.concurrency + 4) as database:
        dispatcher = ArqWorkerDispatcher(
            REDIS_URL,
            queue_name=QUEUE,
            concurrency=options.concurrency,
            arq_poll_delay=POLL_DELAY,
        )
        jobs = Jobs(database, registry, dispatcher=dispatcher)
        _touch(options.ready)
        await run_worker(jobs)


async def bare_worker(options: argparse.Namespace) -> None:
    from arq.worker import Worker, func

    pool = await connect_arq(REDIS_URL, QUEUE)
    worker = Worker(
        functions=[
            func(bare_noop, name="bare_noop", keep_result=0, max_tries=1, timeout=RUN_TIMEOUT)
        ],
        redis_pool=pool,
        queue_name=QUEUE,
        max_jobs=options.concurrency,
        keep_result=0,
        max_tries=1,
        job_timeout=RUN_TIMEOUT,
        poll_delay=POLL_DELAY,
        handle_signals=False,
        retry_jobs=False,
        job_serializer=dumps,
        job_deserializer=loads,
        log_results=False,
    )
    _touch(options.ready)
    try:
        await _until_signal(worker.main)
    finally:
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        await pool.aclose(close_connection_pool=True)


# -- measuring ----------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def create_database() -> str:
    name = f"dropkit_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return _with_database(POSTGRES_URL, name)


async def drop_database(url: str) -> None:
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')
    finally:
        await admin.close()


async def migrated(url: str) -> None:
    async with Database(url) as database:
        await Migrator(database, CORE_MIGRATIONS).migrate()


async def enqueue_durable(jobs: Jobs, count: int) -> None:
    for start in range(0, count, BATCH):
        await jobs.enqueue_many(noop, [{}] * min(BATCH, count - start))


async def enqueue_bare(pool: Any, count: int) -> None:
    for start in range(0, count, BATCH):
        now_ms = int(time.time() * 1000)
        entries = [
            (uuid.uuid4().hex, "bare_noop", now_ms) for _ in range(min(BATCH, count - start))
        ]
        await publish(pool, QUEUE, entries)


async def succeeded(jobs: Jobs) -> int:
    return (await jobs.counts()).get("succeeded", 0)


async def in_process(url: str, count: int, concurrency: int) -> float:
    """(a)/(b): enqueue and run in this process; done when every job succeeded."""
    async with Database(url, pool_size=concurrency + 4) as database:
        await Migrator(database, CORE_MIGRATIONS).migrate()
        dispatcher = LocalDispatcher(concurrency=concurrency, poll_interval=0.05)
        async with Jobs(database, registry, dispatcher=dispatcher) as jobs:
            started = time.perf_counter()
            await enqueue_durable(jobs, count)
            while await succeeded(jobs) < count:
                await anyio.sleep(0.005)
            return count / (time.perf_counter() - started)


async def drained(redis: aioredis.Redis) -> None:
    while await redis.zcard(QUEUE):
        await asyncio.sleep(0.005)


async def start_workers(
    role: str, count: int, concurrency: int, database: str, tmp: Path
) -> list[Process]:
    processes: list[Process] = []
    ready = []
    for n in range(count):
        marker = tmp / f"{role}-{n}.ready"
        ready.append(marker)
        log = (tmp / f"{role}-{n}.log").open("ab")
        try:
            processes.append(
                await anyio.open_process(
                    [
                        sys.executable,
                        "-P",  # not benchmarks/ first on sys.path: its email.py would shadow
                        SCRIPT,
                        "--role",
                        role,
                        "--database",
                        database,
                        "--concurrency",
                        str(concurrency),
                        "--ready",
                        str(marker),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        finally:
            log.close()
    with anyio.fail_after(30):
        while not all(marker.exists() for marker in ready):
            await anyio.sleep(0.02)
    return processes


async def stop_workers(processes: list[Process]) -> None:
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        with anyio.move_on_after(15):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()


async def through_arq(
    url: str, redis: aioredis.Redis, count: int, workers: int, concurrency: int, tmp: Path
) -> float:
    """(c): durable jobs through ARQ to worker processes; done when ARQ's queue is empty."""
    processes = await start_workers("durable-worker", workers, concurrency, url, tmp)
    try:
        async with (
            Database(url) as database,
            Jobs(database, registry, dispatcher=ArqDispatcher(REDIS_URL, queue_name=QUEUE)) as jobs,
        ):
            before = await succeeded(jobs)
            await enqueue_durable(jobs, 200)  # warm-up
            while await succeeded(jobs) < before + 200:
                await anyio.sleep(0.02)
            before += 200
            started = time.perf_counter()
            await enqueue_durable(jobs, count)
            with anyio.fail_after(600):
                while await succeeded(jobs) < before + count:
                    await anyio.sleep(0.02)
            return count / (time.perf_counter() - started)
    finally:
        await stop_workers(processes)


async def bare_arq(
    redis: aioredis.Redis, count: int, workers: int, concurrency: int, tmp: Path
) -> float:
    """The peer: the same ARQ workers and enqueueing, no ledger."""
    processes = await start_workers("bare-worker", workers, concurrency, "-", tmp)
    pool = await connect_arq(REDIS_URL, QUEUE)
    try:
        await enqueue_bare(pool, 200)  # warm-up
        await drained(redis)
        started = time.perf_counter()
        await enqueue_bare(pool, count)
        await drained(redis)
        return count / (time.perf_counter() - started)
    finally:
        await pool.aclose(close_connection_pool=True)
        await stop_workers(processes)


async def main(options: argparse.Namespace) -> None:
    count, workers, concurrency = options.jobs, options.workers, options.concurrency
    print(
        f"dropkit jobs benchmark: {count} no-op jobs; in-process concurrency {concurrency}; "
        f"ARQ: {workers} worker processes x max_jobs {concurrency}, {options.rounds} round(s)",
        flush=True,
    )
    redis = aioredis.from_url(REDIS_URL)
    await redis.flushdb()
    url = await create_database()
    try:
        with tempfile.TemporaryDirectory(prefix="dropkit-bench-") as tmp_name:
            tmp = Path(tmp_name)
            sqlite = await in_process(f"sqlite:///{tmp / 'bench.db'}", count, concurrency)
            print(f"(a) in-process, SQLite:            {sqlite:8.0f} jobs/s", flush=True)
            pg_url = await create_database()
            try:
                postgres = await in_process(pg_url, count, concurrency)
            finally:
                await drop_database(pg_url)
            print(f"(b) in-process, PostgreSQL:        {postgres:8.0f} jobs/s", flush=True)

            await migrated(url)
            durable: list[float] = []
            bare: list[float] = []
            for n in range(options.rounds):
                durable.append(await through_arq(url, redis, count, workers, concurrency, tmp))
                bare.append(await bare_arq(redis, count, workers, concurrency, tmp))
                print(
                    f"    round {n + 1}: durable {durable[-1]:.0f} jobs/s, "
                    f"bare ARQ {bare[-1]:.0f} jobs/s",
                    flush=True,
                )
    finally:
        await drop_database(url)
        await redis.flushdb()
        await redis.aclose()
    best_durable, best_bare = max(durable), max(bare)
    ratio = best_durable / best_bare
    print(f"(c) ARQ workers + PostgreSQL ledger:{best_durable:8.0f} jobs/s")
    print(f"    bare ARQ, same workers:        {best_bare:8.0f} jobs/s")
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"    ratio (c) / bare ARQ:          {ratio:8.2f}   (goal >= {GOAL}x: {verdict})")
    print(
        json.dumps(
            {
                "durable_jobs_per_s": round(best_durable, 1),
                "bare_arq_jobs_per_s": round(best_bare, 1),
                "ratio": round(ratio, 3),
            }
        )
    )


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per measurement")
    parser.add_argument("--workers", type=int, default=2, help="ARQ worker processes")
    parser.add_argument("--concurrency", type=int, default=16, help="jobs at once per worker")
    parser.add_argument("--rounds", type=int, default=3, help="durable/bare rounds (best counts)")
    parser.add_argument("--role", choices=["durable-worker", "bare-worker"], help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse(sys.argv[1:])
    if options.role == "durable-worker":
        anyio.run(durable_worker, options)
    elif options.role == "bare-worker":
        anyio.run(bare_worker, options)
    else:
        anyio.run(main, options)
