"""Durable jobs on SQLite and PostgreSQL with the in-process dispatcher."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import anyio
import anyio.lowlevel
import pytest
from pydantic import BaseModel

from dropkit.core.database import Database
from dropkit.core.errors import (
    ConfigurationError,
    ConflictError,
    JobArgumentsError,
    JobError,
    NotFoundError,
    UnknownJobFunctionError,
)
from dropkit.core.jobs import (
    Abort,
    JobContext,
    JobRegistry,
    Jobs,
    JobState,
    LocalDispatcher,
    Retry,
    RetryPolicy,
    Wakeup,
)

registry = JobRegistry()
calls: dict[str, list[float]] = {}


class Order(BaseModel):
    number: int
    email: str


@registry.job(name="add")
async def add(ctx: JobContext, a: int, b: int = 1) -> int:
    return a + b


@registry.job(name="order")
async def handle_order(ctx: JobContext, order: Order, when: datetime) -> dict[str, object]:
    assert isinstance(order, Order)
    assert when.tzinfo is not None
    return {"number": order.number, "attempt": ctx.attempt}


@registry.job(
    name="flaky",
    retry=RetryPolicy(max_attempts=4, base_delay=0.05, factor=2, jitter=False),
)
async def flaky(ctx: JobContext, tag: str, fail_times: int) -> str:
    calls.setdefault(tag, []).append(time.monotonic())
    if ctx.attempt <= fail_times:
        raise RuntimeError(f"failure {ctx.attempt}")
    return "ok"


@registry.job(name="rate_limited", max_attempts=3)
async def rate_limited(ctx: JobContext, tag: str) -> str:
    calls.setdefault(tag, []).append(time.monotonic())
    if ctx.attempt == 1:
        raise Retry("remote said 429", after=0.3)
    return "ok"


@registry.job(name="abort")
async def abort(ctx: JobContext) -> None:
    raise Abort("this order no longer exists")


@registry.job(name="slow", timeout=0.2, retry=RetryPolicy(max_attempts=1))
async def slow(ctx: JobContext) -> None:
    await anyio.sleep(5)


@registry.job(name="sleeper", lease=1)
async def sleeper(ctx: JobContext, seconds: float, tag: str = "") -> str:
    calls.setdefault(tag, []).append(time.monotonic())
    await ctx.progress(stage="sleeping")
    await anyio.sleep(seconds)
    return "woke"


@registry.job(name="record")
async def record(ctx: JobContext, n: int) -> int:
    await ctx.database.execute(
        "INSERT INTO side_effects (n, worker) VALUES ({}, {})", n, ctx.worker_id
    )
    await anyio.lowlevel.checkpoint()
    return n


@registry.job(name="bad_result")
async def bad_result(ctx: JobContext) -> object:
    return object()


def fast(concurrency: int = 8) -> LocalDispatcher:
    return LocalDispatcher(concurrency=concurrency, poll_interval=0.05, sweep_interval=0.1)


@pytest.fixture
async def jobs(db: Database) -> AsyncIterator[Jobs]:
    async with Jobs(db, registry, dispatcher=fast(), rng=random.Random(1)) as service:
        yield service


async def test_enqueue_runs_and_stores_result(jobs: Jobs) -> None:
    job = await jobs.enqueue(add, {"a": 2, "b": 3})
    assert job.state is JobState.QUEUED
    done = await jobs.wait(job.id, timeout=10)
    assert done.state is JobState.SUCCEEDED
    assert done.result == 5
    assert done.attempts == 1
    assert await jobs.result(job.id) == 5
    assert done.finished_at is not None and done.started_at is not None


async def test_pydantic_arguments_are_validated_and_restored(jobs: Jobs) -> None:
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    job = await jobs.enqueue("order", {"order": Order(number=7, email="a@b.c"), "when": when})
    assert job.args == {"order": {"number": 7, "email": "a@b.c"}, "when": "2026-01-02T03:04:00Z"}
    done = await jobs.wait(job.id, timeout=10)
    assert done.result == {"number": 7, "attempt": 1}


async def test_bad_arguments_are_refused_and_nothing_is_written(jobs: Jobs) -> None:
    with pytest.raises(JobArgumentsError, match="add"):
        await jobs.enqueue(add, {"a": "not a number"})
    with pytest.raises(JobArgumentsError):
        await jobs.enqueue(add, {"a": 1, "unexpected": 2})
    with pytest.raises(JobArgumentsError):
        await jobs.enqueue(add, {})
    with pytest.raises(UnknownJobFunctionError):
        await jobs.enqueue("nope", {})
    with pytest.raises(JobError):
        await jobs.enqueue(add, {"a": 1}, run_at=datetime(2030, 1, 1))  # naive datetime
    with pytest.raises(JobError):
        await jobs.enqueue(add, {"a": 1}, key="")
    assert await jobs.counts() == {}


async def test_same_key_concurrently_yields_one_job(jobs: Jobs) -> None:
    ids: list[str] = []

    async def enqueue() -> None:
        job = await jobs.enqueue(add, {"a": 1}, key="order-42")
        ids.append(job.id)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(enqueue)
    assert len(set(ids)) == 1
    assert sum((await jobs.counts()).values()) == 1
    assert (await jobs.get_by_key("order-42")).id == ids[0]
    assert (await jobs.wait(ids[0], timeout=10)).result == 2


async def test_retries_back_off_then_succeed(jobs: Jobs) -> None:
    job = await jobs.enqueue(flaky, {"tag": f"flaky-{jobs.worker_id}", "fail_times": 2})
    done = await jobs.wait(job.id, timeout=10)
    assert done.state is JobState.SUCCEEDED
    assert done.attempts == 3
    times = calls[f"flaky-{jobs.worker_id}"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # base 0.05 s, doubled


async def test_retry_after_is_honoured(jobs: Jobs) -> None:
    tag = f"429-{jobs.worker_id}"
    job = await jobs.enqueue(rate_limited, {"tag": tag})
    done = await jobs.wait(job.id, timeout=10)
    assert done.state is JobState.SUCCEEDED
    assert calls[tag][1] - calls[tag][0] >= 0.3


async def test_exhausted_jobs_go_dead_and_can_be_replayed(jobs: Jobs) -> None:
    tag = f"dead-{jobs.worker_id}"
    job = await jobs.enqueue(flaky, {"tag": tag, "fail_times": 10}, max_attempts=2)
    dead = await jobs.wait(job.id, timeout=10)
    assert dead.state is JobState.DEAD
    assert dead.attempts == 2
    assert dead.last_error is not None and "failure 2" in dead.last_error
    assert [j.id for j in await jobs.list(states=["dead"])] == [job.id]
    with pytest.raises(ConflictError, match="no result"):
        await jobs.result(job.id)
    # Replay: fresh attempts; fail_times 10 > 2 still fails, so patch the budget via a new job.
    replayed = await jobs.retry(job.id)
    assert replayed.state is JobState.QUEUED and replayed.attempts == 0
    assert (await jobs.wait(job.id, timeout=10)).state is JobState.DEAD
    with pytest.raises(ConflictError):
        await jobs.retry((await jobs.wait((await jobs.enqueue(add, {"a": 1})).id)).id)


async def test_abort_fails_without_retry(jobs: Jobs) -> None:
    done = await jobs.wait((await jobs.enqueue(abort)).id, timeout=10)
    assert done.state is JobState.FAILED
    assert done.attempts == 1
    assert "no longer exists" in (done.last_error or "")


async def test_timeout_counts_as_failure(jobs: Jobs) -> None:
    done = await jobs.wait((await jobs.enqueue(slow)).id, timeout=10)
    assert done.state is JobState.DEAD
    assert "timed out after 0.2s" in (done.last_error or "")


async def test_unserialisable_result_fails_clearly(jobs: Jobs) -> None:
    done = await jobs.wait((await jobs.enqueue(bad_result)).id, timeout=10)
    assert done.state is JobState.FAILED
    assert "not JSON-serialisable" in (done.last_error or "")


async def test_deferred_and_scheduled_jobs_wait(jobs: Jobs) -> None:
    deferred = await jobs.enqueue(add, {"a": 1}, defer_by=0.4)
    scheduled = await jobs.enqueue(add, {"a": 2}, run_at=datetime.now(UTC) + timedelta(seconds=0.4))
    await anyio.sleep(0.2)
    assert (await jobs.get(deferred.id)).state is JobState.QUEUED
    assert (await jobs.get(scheduled.id)).state is JobState.QUEUED
    assert (await jobs.wait(deferred.id, timeout=10)).result == 2
    assert (await jobs.wait(scheduled.id, timeout=10)).result == 3


async def test_cancel_queued_and_running(jobs: Jobs) -> None:
    later = await jobs.enqueue(add, {"a": 1}, defer_by=60)
    cancelled = await jobs.cancel(later.id)
    assert cancelled.state is JobState.CANCELLED
    running = await jobs.enqueue(sleeper, {"seconds": 30})
    with anyio.fail_after(10):
        while (await jobs.get(running.id)).progress is None:
            await anyio.sleep(0.02)
    current = await jobs.get(running.id)
    assert current.state is JobState.RUNNING
    assert current.progress == {"stage": "sleeping"}
    await jobs.cancel(running.id)
    done = await jobs.wait(running.id, timeout=10)
    assert done.state is JobState.CANCELLED
    with pytest.raises(ConflictError, match="cannot be cancelled"):
        await jobs.cancel(running.id)
    with pytest.raises(NotFoundError):
        await jobs.get("missing")


async def test_cancel_request_reaches_a_job_running_elsewhere(db: Database) -> None:
    async with Jobs(db, registry, dispatcher=fast()) as worker:
        job = await worker.enqueue(sleeper, {"seconds": 30})
        with anyio.fail_after(10):
            while (await worker.get(job.id)).state is not JobState.RUNNING:
                await anyio.sleep(0.02)
        # Another process (no local runner for this job) asks for cancellation.
        other = Jobs(db, registry, dispatcher=fast())
        await other.cancel(job.id)
        assert (await worker.wait(job.id, timeout=10)).state is JobState.CANCELLED


async def test_concurrency_is_bounded(db: Database) -> None:
    tag = f"bounded-{id(db)}"
    active = 0
    peak = 0
    local = JobRegistry()

    @local.job(name="tracked")
    async def tracked(ctx: JobContext) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await anyio.sleep(0.05)
        active -= 1

    async with Jobs(db, local, dispatcher=fast(concurrency=3)) as service:
        created = await service.enqueue_many(tracked, [{}] * 12)
        for job in created:
            assert (await service.wait(job.id, timeout=20)).state is JobState.SUCCEEDED
    assert peak == 3, tag


async def test_expired_lease_is_redriven(db: Database) -> None:
    # A worker elsewhere claims a job and dies without renewing its 0.2 s lease.
    ghost = Jobs(db, registry, dispatcher=fast(), worker_id="ghost")
    job = await ghost.enqueue(add, {"a": 40, "b": 2})
    claimed = await ghost.ledger.claim(job.id, worker_id="ghost", lease=0.2)
    assert claimed is not None and claimed.worker_id == "ghost"
    async with Jobs(db, registry, dispatcher=fast()) as service:
        done = await service.wait(job.id, timeout=10)
        assert done.state is JobState.SUCCEEDED
        assert done.attempts == 2
        # The ghost comes back: its fenced write changes nothing.
        assert await ghost.ledger.succeed(job.id, "ghost", 0) is None
        assert (await service.get(job.id)).result == 42


async def test_shutdown_hands_running_jobs_back(db: Database) -> None:
    async with Jobs(db, registry, dispatcher=fast()) as service:
        job = await service.enqueue(sleeper, {"seconds": 30})
        with anyio.fail_after(10):
            while (await service.get(job.id)).state is not JobState.RUNNING:
                await anyio.sleep(0.02)
    back = await Jobs(db, registry).get(job.id)
    assert back.state is JobState.QUEUED
    assert back.attempts == 0  # the interrupted attempt is refunded
    assert back.worker_id is None


async def test_many_jobs_two_workers_each_runs_once(db: Database) -> None:
    await db.execute_ddl("CREATE TABLE side_effects (n INTEGER NOT NULL, worker TEXT NOT NULL)")
    producer = Jobs(db, registry, dispatcher=fast())
    created = await producer.enqueue_many(record, [{"n": i} for i in range(200)])
    async with (
        Jobs(db, registry, dispatcher=fast(concurrency=4), worker_id="w1") as w1,
        Jobs(db, registry, dispatcher=fast(concurrency=4), worker_id="w2"),
    ):
        for job in created:
            assert (await w1.wait(job.id, timeout=30)).state is JobState.SUCCEEDED
    rows = await db.fetch("SELECT n, worker FROM side_effects")
    assert sorted(r["n"] for r in rows) == list(range(200))
    assert {r["worker"] for r in rows} == {"w1", "w2"}


async def test_jobs_enqueued_in_a_transaction_appear_only_on_commit(jobs: Jobs) -> None:
    with pytest.raises(RuntimeError):
        async with jobs.database.transaction():
            await jobs.enqueue(add, {"a": 1}, key="rolled-back")
            raise RuntimeError("abort the business change")
    with pytest.raises(NotFoundError):
        await jobs.get_by_key("rolled-back")
    async with jobs.database.transaction():
        job = await jobs.enqueue(add, {"a": 1}, key="committed")
    assert (await jobs.wait(job.id, timeout=10)).result == 2


def test_registry_refuses_bad_functions() -> None:
    local = JobRegistry()

    def sync_fn(ctx: JobContext) -> None: ...

    async def no_ctx() -> None: ...

    async def positional(ctx: JobContext, *args: int) -> None: ...

    with pytest.raises(ConfigurationError, match="async def"):
        local.register(sync_fn)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="context"):
        local.register(no_ctx)
    with pytest.raises(ConfigurationError, match="positional"):
        local.register(positional)
    local.register(add, name="x")
    with pytest.raises(ConfigurationError, match="twice"):
        local.register(flaky, name="x")
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1, factor=2, max_delay=10, jitter=False)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    jittered = RetryPolicy(base_delay=8, factor=2, max_delay=100)
    rng = random.Random(3)
    samples = [jittered.delay(2, rng) for _ in range(200)]
    assert all(8 <= s <= 16 for s in samples)
    assert max(samples) - min(samples) > 4  # spread out, not all equal


async def test_enqueue_many_dedups_keys_within_and_across_batches(jobs: Jobs) -> None:
    first = await jobs.enqueue(add, {"a": 0}, key="k0")
    created = await jobs.enqueue_many(
        add, [{"a": 0}, {"a": 1}, {"a": 1}, {"a": 2}], keys=["k0", "k1", "k1", None]
    )
    assert created[0].id == first.id
    assert created[1].id == created[2].id
    assert len({j.id for j in created}) == 3
    assert sum((await jobs.counts()).values()) == 3
    with pytest.raises(JobError, match="length"):
        await jobs.enqueue_many(add, [{"a": 1}], keys=[])
    for job in created:
        assert (await jobs.wait(job.id, timeout=10)).state is JobState.SUCCEEDED


def test_schedules_compute_slots_and_refuse_bad_input() -> None:
    local = JobRegistry()
    local.register(add, name="add")
    every5 = local.schedule("add", cron="*/5 * * * *", args={"a": 1}, name="five")
    now = datetime(2026, 3, 1, 10, 7, 30, tzinfo=UTC)
    assert every5.latest_slot(now) == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    exact = datetime(2026, 3, 1, 10, 10, tzinfo=UTC)
    assert every5.latest_slot(exact) == exact
    paris = local.schedule(
        "add", cron="0 9 * * *", args={"a": 1}, name="nine", timezone="Europe/Paris"
    )
    assert paris.latest_slot(now).astimezone(UTC) == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(ConfigurationError, match="cron"):
        local.schedule("add", cron="every day", args={"a": 1}, name="bad")
    with pytest.raises(ConfigurationError, match="timezone"):
        local.schedule("add", cron="* * * * *", args={"a": 1}, name="tz", timezone="Mars/Base")
    with pytest.raises(JobArgumentsError):
        local.schedule("add", cron="* * * * *", args={"a": "x"}, name="args")
    with pytest.raises(ConfigurationError, match="twice"):
        local.schedule("add", cron="* * * * *", args={"a": 1}, name="five")


async def test_schedules_enqueue_each_slot_once_across_workers(db: Database) -> None:
    local = JobRegistry()
    local.register(add, name="add")
    local.schedule("add", cron="* * * * *", args={"a": 1, "b": 1}, name="minutely")
    clock_now = datetime(2026, 3, 1, 10, 7, 30, tzinfo=UTC).timestamp()
    w1 = Jobs(db, local, dispatcher=fast(), clock=lambda: clock_now)
    w2 = Jobs(db, local, dispatcher=fast(), clock=lambda: clock_now)
    created = await w1.enqueue_due_schedules() + await w2.enqueue_due_schedules()
    assert len({j.id for j in created}) == 1
    assert created[0].idempotency_key == f"schedule:minutely:{int(clock_now - 30)}"
    assert await w1.enqueue_due_schedules() == []  # the slot is remembered
    clock_now += 60
    (later,) = await w2.enqueue_due_schedules()
    assert later.id != created[0].id


@registry.job(name="rich_result")
async def rich_result(ctx: JobContext) -> dict[str, object]:
    from decimal import Decimal

    from dropkit.core.money import Money

    return {
        "price": Money("12.30", "EUR"),
        "ratio": Decimal("0.25"),
        "at": datetime(2026, 1, 1, tzinfo=UTC),
    }


async def test_results_may_be_money_decimals_and_datetimes(jobs: Jobs) -> None:
    done = await jobs.wait((await jobs.enqueue(rich_result)).id, timeout=10)
    assert done.state is JobState.SUCCEEDED
    assert done.result == {
        "price": {"amount": "12.30", "currency": "EUR"},
        "ratio": "0.25",
        "at": "2026-01-01T00:00:00Z",
    }


async def test_cancel_request_survives_a_failing_attempt(db: Database) -> None:
    ledger_jobs = Jobs(db, registry, dispatcher=fast())
    job = await ledger_jobs.enqueue(add, {"a": 1})
    assert await ledger_jobs.ledger.claim(job.id, worker_id="w", lease=30) is not None
    flagged = await ledger_jobs.cancel(job.id)  # the worker is elsewhere: only a flag
    assert flagged.state is JobState.RUNNING and flagged.cancel_requested
    # The attempt then fails before the worker saw the flag: no retry, the job is cancelled.
    ended = await ledger_jobs.ledger.reschedule(job.id, "w", error="boom", run_at=0)
    assert ended is not None and ended.state is JobState.CANCELLED
    # Same when the worker dies instead and the sweeper finds the expired lease.
    other = await ledger_jobs.enqueue(add, {"a": 2})
    await ledger_jobs.ledger.claim(other.id, worker_id="w", lease=0.01)
    await ledger_jobs.cancel(other.id)
    await anyio.sleep(0.05)
    await ledger_jobs.sweep()
    assert (await ledger_jobs.get(other.id)).state is JobState.CANCELLED


class FlakyDispatcher(LocalDispatcher):
    """A dispatcher whose wake-ups blow up now and then (a bug, a broken plugin)."""

    async def notify(self, wakeups: Sequence[Wakeup]) -> None:
        raise RuntimeError("wake-up failed")


async def test_errors_in_background_loops_never_cancel_the_host(db: Database) -> None:
    ghost = Jobs(db, registry, dispatcher=fast(), worker_id="ghost")
    job = await ghost.enqueue(add, {"a": 1})
    await ghost.ledger.claim(job.id, worker_id="ghost", lease=0.01)  # the sweeper will re-drive
    dispatcher = FlakyDispatcher(concurrency=2, poll_interval=0.05, sweep_interval=0.05)
    async with Jobs(db, registry, dispatcher=dispatcher) as service:
        await anyio.sleep(0.4)  # several sweeps hit the failing notify meanwhile
        done = await service.wait(job.id, timeout=10)  # the poll loop still runs it
        assert done.state is JobState.SUCCEEDED


def test_schedules_that_never_fire_are_refused() -> None:
    local = JobRegistry()
    local.register(add, name="add")
    with pytest.raises(ConfigurationError, match="never fires"):
        local.schedule("add", cron="0 0 30 2 *", args={"a": 1}, name="feb30")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"defer_by": float("inf")}, "finite"),
        ({"defer_by": float("nan")}, "finite"),
        ({"defer_by": 1e12}, "ten years"),
        ({"defer_by": -1}, "between 0"),
        ({"run_at": datetime(2999, 1, 1, tzinfo=UTC)}, "ten years"),
        ({"priority": 2**40}, "32 bits"),
        ({"max_attempts": 0}, "between 1 and 1000"),
        ({"max_attempts": 10**6}, "between 1 and 1000"),
    ],
)
async def test_out_of_range_options_are_refused_before_writing(
    jobs: Jobs, options: dict[str, object], message: str
) -> None:
    with pytest.raises(JobError, match=message):
        await jobs.enqueue(add, {"a": 1}, **options)  # type: ignore[arg-type]
    assert await jobs.counts() == {}
    assert await jobs.list() == []


async def test_nul_characters_and_nan_are_refused_the_same_on_both_engines(jobs: Jobs) -> None:
    with pytest.raises(JobArgumentsError, match="NUL"):
        await jobs.enqueue(
            "order", {"order": {"number": 1, "email": "a\x00b"}, "when": "2026-01-01T00:00:00Z"}
        )
    with pytest.raises(JobError, match="unknown job state"):
        await jobs.list(states=["bogus"])
    with pytest.raises(JobError, match="limit"):
        await jobs.list(limit=-1)
    with pytest.raises(JobError):
        Retry(after=float("inf"))
    assert await jobs.counts() == {}


@registry.job(name="nul_result", retry=RetryPolicy(max_attempts=2, base_delay=0.01))
async def nul_result(ctx: JobContext, fail: bool) -> str:
    if fail:
        raise RuntimeError("bad byte \x00 in a message")
    return "done\x00"


async def test_nul_in_results_and_errors_is_recorded_not_rerun(jobs: Jobs) -> None:
    result = await jobs.wait((await jobs.enqueue(nul_result, {"fail": False})).id, timeout=10)
    assert result.state is JobState.FAILED
    assert result.attempts == 1
    assert "NUL" in (result.last_error or "")
    error = await jobs.wait((await jobs.enqueue(nul_result, {"fail": True})).id, timeout=10)
    assert error.state is JobState.DEAD
    assert error.attempts == 2
    assert "bad byte \\x00 in a message" in (error.last_error or "")


async def test_enqueue_many_takes_the_same_options_as_enqueue(jobs: Jobs) -> None:
    later = await jobs.enqueue_many(add, [{"a": 1}, {"a": 2}], defer_by=60, max_attempts=2)
    assert all(j.max_attempts == 2 for j in later)
    assert all(j.run_at > datetime.now(UTC) + timedelta(seconds=30) for j in later)
