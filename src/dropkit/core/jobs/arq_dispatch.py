"""ARQ over Redis as the doorbell between processes that enqueue and ``dropkit worker`` processes.

The ledger decides who runs what; Redis only rings. A publisher (:class:`ArqDispatcher`) sends
``dropkit_wake(queue)`` ARQ jobs; a worker (:class:`ArqWorkerDispatcher`) answers a ring by
claiming a *batch* of due jobs from the ledger (``FOR UPDATE SKIP LOCKED``) and keeps claiming
while work is left, exactly like the in-process dispatcher. So the cost of ARQ is paid per ring,
not per job, and rings coalesce:

* at most ``slots`` rings per queue wait in Redis at once (ARQ ignores a job id it already
  holds, and ring ids rotate over ``wake:<queue>:<slot>``);
* while one ring is being published, further notifications only mark "ring once more after";
* a wake-up for later is an ARQ job deferred to that second (``wake:<queue>:at:<epoch>``).

A ring lost in Redis (a flush, a failover) costs latency, never a job: every worker also polls
the ledger (``poll_interval``) and the sweeper re-drives expired leases. ARQ payloads are JSON,
not pickle, so whoever can write to Redis cannot run code in a worker.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
from anyio.abc import TaskGroup

from dropkit.core.errors import ConfigurationError, JobError, MissingDependencyError
from dropkit.core.jobs.dispatch import LocalDispatcher, Wakeup

if TYPE_CHECKING:
    from arq.connections import ArqRedis

    from dropkit.core.jobs.service import Jobs

__all__ = ["DEFAULT_QUEUE", "WAKE_FUNCTION", "ArqDispatcher", "ArqWorkerDispatcher"]

logger = logging.getLogger("dropkit.jobs")

#: The ARQ queue (a Redis sorted set) rings go through by default.
DEFAULT_QUEUE = "dropkit:queue"
#: The one ARQ function a dropkit worker registers; its argument is a dropkit queue name.
WAKE_FUNCTION = "dropkit_wake"


def _arq() -> Any:
    try:
        import arq
        import arq.connections
        import arq.worker
    except ImportError as exc:  # pragma: no cover - only without the redis extra
        raise MissingDependencyError("arq", "redis") from exc
    return arq


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=repr).encode()


def _loads(data: bytes) -> Any:
    return json.loads(data)


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


async def connect_arq(redis_url: str, queue_name: str) -> ArqRedis:
    """An ARQ Redis pool with JSON payloads; a clear :class:`JobError` when Redis is away."""
    arq = _arq()
    try:
        settings = arq.connections.RedisSettings.from_dsn(redis_url)
        # Fail fast and clearly at start; ARQ's default is 5 retries a second apart.
        settings.conn_retries = 1
        settings.conn_retry_delay = 0.5
    except (RuntimeError, ValueError) as exc:
        raise ConfigurationError(f"bad Redis URL {_safe_url(redis_url)!r}") from exc
    from redis.exceptions import RedisError

    try:
        pool: ArqRedis = await arq.create_pool(
            settings,
            default_queue_name=queue_name,
            job_serializer=_dumps,
            job_deserializer=_loads,
        )
    except (RedisError, OSError) as exc:
        raise JobError(f"cannot connect to Redis at {_safe_url(redis_url)}: {exc}") from exc
    return pool


class ArqDispatcher:
    """Rings ``dropkit worker`` processes through ARQ; runs nothing in this process."""

    executes_locally = False

    def __init__(self, redis_url: str, *, queue_name: str = DEFAULT_QUEUE, slots: int = 4) -> None:
        _arq()
        if not redis_url:
            raise ConfigurationError("ArqDispatcher needs a Redis URL")
        if slots < 1:
            raise ConfigurationError("slots must be at least 1")
        self.redis_url = redis_url
        self.queue_name = queue_name
        self.slots = slots
        self._pool: ArqRedis | None = None
        self._counter = itertools.count()
        self._ringing: set[str] = set()
        self._ring_again: set[str] = set()

    @property
    def pool(self) -> ArqRedis:
        if self._pool is None:
            raise JobError("ArqDispatcher is not started")
        return self._pool

    async def start(self, jobs: Jobs, task_group: TaskGroup) -> None:
        if self._pool is None:
            self._pool = await connect_arq(self.redis_url, self.queue_name)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with anyio.CancelScope(shield=True):
                await pool.aclose(close_connection_pool=True)

    async def notify(self, wakeups: Sequence[Wakeup]) -> None:
        """Ring for due work now and for later work at its time; Redis trouble is logged."""
        if self._pool is None or not wakeups:
            return
        now = datetime.now(UTC).timestamp()
        due = sorted({w.queue for w in wakeups if w.run_at <= now})
        later = sorted({(w.queue, math.ceil(w.run_at)) for w in wakeups if w.run_at > now})
        for queue in due:
            await self._ring(queue)
        for queue, at in later:
            await self._enqueue(queue, f"wake:{queue}:at:{at}", datetime.fromtimestamp(at, UTC))

    async def _ring(self, queue: str) -> None:
        if queue in self._ringing:
            self._ring_again.add(queue)  # the ring in flight may predate this commit
            return
        self._ringing.add(queue)
        try:
            while True:
                self._ring_again.discard(queue)
                slot = next(self._counter) % self.slots
                await self._enqueue(queue, f"wake:{queue}:{slot}", None)
                if queue not in self._ring_again:
                    return
        finally:
            self._ringing.discard(queue)

    async def _enqueue(self, queue: str, arq_id: str, defer_until: datetime | None) -> None:
        from redis.exceptions import RedisError

        try:
            await self.pool.enqueue_job(
                WAKE_FUNCTION,
                queue,
                _job_id=arq_id,
                _queue_name=self.queue_name,
                _defer_until=defer_until,
            )
        except (RedisError, OSError) as exc:
            logger.warning("could not ring workers through Redis (%s); they will poll", exc)


class ArqWorkerDispatcher(LocalDispatcher):
    """Runs jobs in this process, woken by rings from Redis and ringing other workers in turn.

    It is a :class:`LocalDispatcher` (batch claims, bounded concurrency, sweeper, polling as a
    fallback) plus an ARQ worker whose only job, ``dropkit_wake``, wakes the claim loop.
    Wake-ups produced here (retries, jobs enqueued by jobs) are also rung through Redis so
    other workers share the work.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        queue_name: str = DEFAULT_QUEUE,
        concurrency: int = 8,
        queues: Sequence[str] = ("default",),
        poll_interval: float = 1.0,
        sweep_interval: float = 5.0,
        claim_lease: float = 30.0,
        arq_poll_delay: float = 0.05,
    ) -> None:
        super().__init__(
            concurrency=concurrency,
            queues=queues,
            poll_interval=poll_interval,
            sweep_interval=sweep_interval,
            claim_lease=claim_lease,
        )
        self.publisher = ArqDispatcher(redis_url, queue_name=queue_name)
        self.arq_poll_delay = arq_poll_delay
        self.rings = 0

    async def start(self, jobs: Jobs, task_group: TaskGroup) -> None:
        await self.publisher.start(jobs, task_group)
        await super().start(jobs, task_group)
        task_group.start_soon(self._listen)

    async def notify(self, wakeups: Sequence[Wakeup]) -> None:
        await super().notify(wakeups)
        await self.publisher.notify(wakeups)

    async def aclose(self) -> None:
        await super().aclose()
        await self.publisher.aclose()

    async def _on_ring(self, ctx: dict[str, Any], queue: str) -> None:
        self.rings += 1
        if queue in self.queues:
            self.wake()

    async def _listen(self) -> None:
        """ARQ's polling loop for rings, restarted when Redis goes away for a moment."""
        arq = _arq()
        from redis.exceptions import RedisError

        worker = arq.worker.Worker(
            functions=[arq.worker.func(self._on_ring, name=WAKE_FUNCTION, keep_result=0)],
            redis_pool=self.publisher.pool,
            queue_name=self.publisher.queue_name,
            max_jobs=4,
            keep_result=0,
            max_tries=1,
            poll_delay=self.arq_poll_delay,
            handle_signals=False,
            job_serializer=_dumps,
            job_deserializer=_loads,
            log_results=False,
        )
        try:
            while True:
                try:
                    await worker.main()
                except (RedisError, OSError):
                    logger.warning("lost Redis; listening again in 1 s", exc_info=True)
                    await anyio.sleep(1)
        finally:
            with anyio.CancelScope(shield=True):
                for task in list(worker.tasks.values()):
                    task.cancel()
                with contextlib.suppress(RedisError, OSError, JobError):
                    await self.publisher.pool.delete(worker.health_check_key)
