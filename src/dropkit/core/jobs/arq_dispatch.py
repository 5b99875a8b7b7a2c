"""Publishes job wake-ups to Redis, where ``dropkit worker`` processes pick them up through ARQ.

ARQ is only the doorbell: each ARQ job carries nothing but a dropkit job id, and the worker
claims that job in the ledger before running it. So a wake-up lost in Redis (a flush, a
failover) or delivered twice costs nothing: the ledger's claim runs each attempt once, and the
sweeper (:meth:`Jobs.sweep`) re-publishes queued jobs that waited too long.

The ARQ job id is ``"<job id>:<attempt>"``: ARQ ignores an id it already holds, which folds
duplicate wake-ups of one attempt into one, while a retry (a new attempt) gets a new ARQ job.
ARQ payloads are JSON, not pickle, so whoever can write to Redis cannot run code in a worker.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from anyio.abc import TaskGroup

from dropkit.core.errors import ConfigurationError, JobError, MissingDependencyError
from dropkit.core.jobs.dispatch import Wakeup
from dropkit.core.jobs.models import JobState

if TYPE_CHECKING:
    from arq.connections import ArqRedis

    from dropkit.core.jobs.service import Jobs

__all__ = [
    "DEFAULT_QUEUE",
    "RUN_FUNCTION",
    "RUN_TIMEOUT",
    "ArqDispatcher",
    "arq_job_id",
    "dumps",
    "loads",
    "publish",
]

logger = logging.getLogger("dropkit.jobs")

#: The ARQ queue (a Redis sorted set) dropkit publishes to by default.
DEFAULT_QUEUE = "dropkit:queue"
#: The one ARQ function a dropkit worker registers; its only argument is a dropkit job id.
RUN_FUNCTION = "dropkit_run"
#: ARQ's own time limit for ``dropkit_run``. Job timeouts are the runner's business (per job
#: function), so this only has to be longer than any job; ARQ also keeps its "in progress" key
#: for this long, which is why :meth:`ArqDispatcher.reap_orphans` exists.
RUN_TIMEOUT = 7 * 24 * 3600.0
#: Extra life of an ARQ job key beyond its due time (ARQ's own default: one day).
_EXPIRES_EXTRA_MS = 86_400_000
_BATCH = 500


def _arq() -> Any:
    try:
        import arq
        import arq.connections
    except ImportError as exc:
        raise MissingDependencyError("arq", "redis") from exc
    return arq


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)


def dumps(value: Any) -> bytes:
    """ARQ serializer: JSON (anything else, e.g. an exception in a result, as its repr)."""
    return json.dumps(value, separators=(",", ":"), default=repr).encode()


def loads(data: bytes) -> Any:
    """ARQ deserializer matching :func:`dumps`."""
    return json.loads(data)


def arq_job_id(job_id: str, attempt: int) -> str:
    """The ARQ job id of one attempt of a dropkit job."""
    return f"{job_id}:{attempt}"


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


async def publish(
    pool: ArqRedis,
    queue_name: str,
    entries: Sequence[tuple[str, str, tuple[Any, ...], int]],
) -> None:
    """Enqueue ARQ jobs ``(arq id, function, args, score in ms)`` in one round trip.

    ``ArqRedis.enqueue_job`` costs three round trips per job (WATCH, EXISTS, MULTI/EXEC). This
    writes the same keys ARQ's worker reads, all in one MULTI/EXEC: ``SET NX`` of the job key
    and ``ZADD NX`` into the queue, so an id ARQ already holds (queued or running) is left
    untouched, as ``enqueue_job`` would. The benchmark enqueues bare ARQ jobs with it too.
    """
    from arq.constants import job_key_prefix
    from arq.jobs import serialize_job

    now_ms = int(time.time() * 1000)
    async with pool.pipeline(transaction=True) as pipe:
        for arq_id, function, args, score in entries:
            payload = serialize_job(function, args, {}, None, now_ms, serializer=dumps)
            expires = max(0, score - now_ms) + _EXPIRES_EXTRA_MS
            pipe.set(job_key_prefix + arq_id, payload, px=expires, nx=True)
            pipe.zadd(queue_name, {arq_id: score}, nx=True)
        await pipe.execute()


def _score(run_at: float, now: float) -> int:
    """ARQ score (ms) of a wake-up: never before ``run_at``, so the claim finds the job due."""
    if run_at > now:
        return math.ceil(run_at * 1000) + 1
    return int(run_at * 1000)  # overdue: older first, as in the ledger


class ArqDispatcher:
    """Hands jobs to ``dropkit worker`` processes through an ARQ queue in Redis.

    Nothing runs in this process (``executes_locally`` is false). ``claim_lease`` is the first
    lease a worker takes on a job before its heartbeat switches to the function's own lease:
    keep it short so a worker that dies right after claiming is noticed quickly.
    """

    executes_locally = False

    def __init__(
        self,
        redis_url: str,
        *,
        queue_name: str = DEFAULT_QUEUE,
        claim_lease: float = 30.0,
    ) -> None:
        _arq()
        if not redis_url:
            raise ConfigurationError("ArqDispatcher needs a Redis URL")
        if claim_lease <= 0:
            raise ConfigurationError("claim_lease must be positive")
        self.redis_url = redis_url
        self.queue_name = queue_name
        self.claim_lease = claim_lease
        self._pool: ArqRedis | None = None

    @property
    def pool(self) -> ArqRedis:
        """The Redis client (after :meth:`start`)."""
        if self._pool is None:
            raise JobError("ArqDispatcher is not started")
        return self._pool

    async def connect(self) -> ArqRedis:
        """Open a new ARQ Redis pool on ``redis_url`` (JSON payloads)."""
        arq = _arq()
        try:
            settings = arq.connections.RedisSettings.from_dsn(self.redis_url)
        except (RuntimeError, ValueError) as exc:
            raise ConfigurationError(f"bad Redis URL {_safe_url(self.redis_url)!r}") from exc
        try:
            pool: ArqRedis = await arq.create_pool(
                settings,
                default_queue_name=self.queue_name,
                job_serializer=dumps,
                job_deserializer=loads,
            )
        except _redis_errors() as exc:
            raise JobError(
                f"cannot connect to Redis at {_safe_url(self.redis_url)}: {exc}"
            ) from exc
        return pool

    async def start(self, jobs: Jobs, task_group: TaskGroup) -> None:
        if self._pool is None:
            self._pool = await self.connect()

    async def notify(self, wakeups: Sequence[Wakeup]) -> None:
        """Publish wake-ups; Redis trouble is logged, never raised (the sweeper catches up)."""
        if not wakeups:
            return
        if self._pool is None:
            logger.warning(
                "ArqDispatcher is not started: %d wake-up(s) left to the sweeper", len(wakeups)
            )
            return
        now = time.time()
        entries = [
            (arq_job_id(w.job_id, w.attempt), RUN_FUNCTION, (w.job_id,), _score(w.run_at, now))
            for w in wakeups
        ]
        try:
            for start in range(0, len(entries), _BATCH):
                await publish(self._pool, self.queue_name, entries[start : start + _BATCH])
        except _redis_errors():
            logger.warning(
                "publishing %d wake-up(s) to Redis failed; the sweeper will re-publish them",
                len(entries),
                exc_info=True,
            )

    async def reap_orphans(self, jobs: Jobs, *, window: int = 100, grace: float = 30.0) -> int:
        """Free ARQ jobs left "in progress" by a worker that died; returns how many.

        ARQ marks a started job with a key that lives as long as :data:`RUN_TIMEOUT`; if the
        worker dies, the entry stays at the head of the queue, skipped by every worker, and
        enough of them hide new work from ARQ's read window. An entry whose mark is older than
        ``grace`` while the ledger does not show that attempt running is such an orphan: it is
        removed, and its job re-published if it is waiting (it died before it was claimed).
        """
        from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix

        pool = self.pool
        now = time.time()
        heads: list[bytes] = await pool.zrangebyscore(
            self.queue_name, min=float("-inf"), max=int(now * 1000), start=0, num=window
        )
        if not heads:
            return 0
        async with pool.pipeline(transaction=False) as pipe:
            for raw in heads:
                pipe.pttl(in_progress_key_prefix + raw.decode())
            ttls: list[int] = await pipe.execute()
        mark_ms = (RUN_TIMEOUT + 10) * 1000  # ARQ's in-progress TTL: timeout + 10 s
        orphans: list[str] = []
        wakeups: list[Wakeup] = []
        for raw, ttl in zip(heads, ttls, strict=True):
            if ttl < 0 or mark_ms - ttl < grace * 1000:  # not started, or recently started
                continue
            arq_id = raw.decode()
            job_id, _, attempt = arq_id.rpartition(":")
            if not job_id or not attempt.isdigit():
                continue  # not one of ours
            job = await jobs.ledger.get(job_id)
            if job is not None and job.state is JobState.RUNNING and job.attempts == int(attempt):
                continue  # genuinely running; its lease decides whether it is alive
            orphans.append(arq_id)
            if job is not None and job.state is JobState.QUEUED and job.run_at.timestamp() <= now:
                wakeups.append(Wakeup.of(job))
        if not orphans:
            return 0
        async with pool.pipeline(transaction=True) as pipe:
            for arq_id in orphans:
                pipe.zrem(self.queue_name, arq_id)
                pipe.delete(
                    in_progress_key_prefix + arq_id,
                    job_key_prefix + arq_id,
                    retry_key_prefix + arq_id,
                )
            await pipe.execute()
        logger.warning("removed %d orphaned ARQ job(s) left by a dead worker", len(orphans))
        await self.notify(wakeups)
        return len(orphans)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose(close_connection_pool=True)
