"""A worker process for the crash and ARQ tests, and helpers to start it from a test.

Run as ``python tests/core/worker_app.py --database URL [--redis URL] ...``: it serves the jobs
of :data:`registry` through :func:`dropkit.core.jobs.worker.run_worker` until SIGTERM (or, with
``--burst``, until no due job is left). Tests import :data:`registry` to enqueue the same jobs.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import anyio
from anyio.abc import Process

from dropkit.core.database import Database
from dropkit.core.jobs import JobContext, JobRegistry, Jobs, LocalDispatcher, Retry
from dropkit.core.jobs.arq_dispatch import DEFAULT_QUEUE, ArqWorkerDispatcher
from dropkit.core.jobs.worker import run_worker

registry = JobRegistry()
WORKER_APP = Path(__file__).resolve()


def _lines(path: str) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines() if os.path.exists(path) else []


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


@registry.job(name="slow_marker", lease=1)
async def slow_marker(ctx: JobContext, path: str, seconds: float) -> str:
    """Mark the start, sleep (only on the first start the file records), mark the end."""
    first = not any(line.startswith("start") for line in _lines(path))
    _append(path, f"start {ctx.worker_id} {ctx.attempt}")
    if first:
        await anyio.sleep(seconds)
    _append(path, f"done {ctx.worker_id} {ctx.attempt}")
    return ctx.worker_id


@registry.job(name="add")
async def add(ctx: JobContext, a: int, b: int) -> dict[str, object]:
    return {"sum": a + b, "worker": ctx.worker_id}


@registry.job(name="fails_once", max_attempts=3)
async def fails_once(ctx: JobContext, path: str) -> int:
    """Ask for a retry 0.2 s later on the first attempt; note when each attempt ran."""
    _append(path, f"{ctx.attempt} {time.time()}")
    if ctx.attempt == 1:
        raise Retry("try again shortly", after=0.2)
    return ctx.attempt


# -- the process --------------------------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--redis", default=None)
    parser.add_argument("--queue", default=DEFAULT_QUEUE, help="ARQ queue")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease", type=float, default=1.0, help="claim lease (s)")
    parser.add_argument("--sweep", type=float, default=0.2, help="sweep interval (s)")
    parser.add_argument("--poll", type=float, default=0.05, help="ledger poll interval (s)")
    parser.add_argument("--burst", action="store_true")
    return parser.parse_args(argv)


async def _serve(options: argparse.Namespace) -> None:
    async with Database(options.database) as database:
        local = {
            "concurrency": options.concurrency,
            "poll_interval": options.poll,
            "sweep_interval": options.sweep,
            "claim_lease": options.lease,
        }
        dispatcher: LocalDispatcher = (
            ArqWorkerDispatcher(
                options.redis, queue_name=options.queue, arq_poll_delay=0.02, **local
            )
            if options.redis
            else LocalDispatcher(**local)
        )
        jobs = Jobs(database, registry, dispatcher=dispatcher)
        print(f"worker {jobs.worker_id} pid {os.getpid()}", flush=True)
        await run_worker(jobs, burst=options.burst)


def main(argv: list[str] | None = None) -> None:
    options = _parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    anyio.run(_serve, options)


# -- helpers for tests --------------------------------------------------------------------


def _open_log(path: Path) -> IO[bytes]:
    return path.open("ab")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def lines(path: Path) -> list[str]:
    """The lines of a marker file (none if it does not exist yet)."""
    return _read(path).splitlines()


@asynccontextmanager
async def worker_process(
    log: Path,
    database_url: str,
    *args: str,
    redis_url: str | None = None,
    queue: str = DEFAULT_QUEUE,
) -> AsyncIterator[Process]:
    """Run this module as a worker process; it is killed on exit, its log shown on failure."""
    command = [sys.executable, str(WORKER_APP), "--database", database_url, *args]
    if redis_url:
        command += ["--redis", redis_url, "--queue", queue]
    out = _open_log(log)
    try:
        process = await anyio.open_process(command, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()
    try:
        yield process
    except BaseException:
        print(f"--- {log.name} ---\n{_read(log)}")
        raise
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.wait()
            await process.aclose()


async def terminate(process: Process, *, timeout: float = 15) -> int:
    """SIGTERM the process and wait for it to exit; returns its exit code."""
    process.send_signal(signal.SIGTERM)
    with anyio.fail_after(timeout):
        return await process.wait()


async def kill(process: Process) -> None:
    """SIGKILL: the process gets no chance to clean up (a crash, an OOM kill)."""
    os.kill(process.pid, signal.SIGKILL)
    await process.wait()


async def eventually(check: Callable[[], bool], *, timeout: float = 15, what: str = "") -> None:
    """Wait until ``check()`` is true (``what`` names it when it never becomes true)."""
    try:
        with anyio.fail_after(timeout):
            while not check():
                await anyio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {timeout:g}s: {what or check}") from None


if __name__ == "__main__":
    main()
