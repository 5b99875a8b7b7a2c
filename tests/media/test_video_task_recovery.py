"""A task whose job ended outside the render (dead worker, sweeper, timeout) never stays active.

The worker that "dies" is simulated as in the core job tests: it claims the job with a short
lease and never renews it; the sweeper then re-drives the job, and once its attempts are used
up marks it ``dead`` (or ``cancelled`` when a cancel was requested). No job runs here
(``run_jobs=False``): every ledger change is made explicitly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from media_helpers import small_spec

from dropkit import Dropkit
from dropkit.core.errors import ConflictError
from dropkit.core.jobs import JobState
from dropkit.media import TaskStatus, VideoTask

_LEASE = 0.01


@pytest.fixture
async def kit(database_url: str, data_dir: Path) -> AsyncIterator[Dropkit]:
    async with Dropkit(database_url=database_url, data_dir=data_dir, run_jobs=False) as kit:
        yield kit


async def _take_over(kit: Dropkit, task: VideoTask, *, worker: str, lease: float) -> int:
    """A worker claims the task's job and marks the row running, as ``_render_job`` does."""
    job = await kit.jobs.ledger.claim(task.job_id or "", worker_id=worker, lease=lease)
    assert job is not None
    await kit.database.execute(
        "UPDATE video_tasks SET status = {}, stage = {}, attempt = {}, worker = {} WHERE id = {}",
        TaskStatus.RUNNING.value,
        "compose",
        job.attempts,
        worker,
        task.id,
    )
    return job.attempts


async def _sweep_after_lease(kit: Dropkit) -> None:
    await anyio.sleep(_LEASE * 5)
    assert await kit.jobs.sweep() == 1


async def test_a_task_whose_job_died_reports_failed_once(kit: Dropkit) -> None:
    task = await kit.media.submit(small_spec())
    job_id = task.job_id or ""
    # Every attempt's worker dies mid-render; the sweeper re-drives it until none is left.
    for attempt in (1, 2, 3):
        assert await _take_over(kit, task, worker=f"dead-{attempt}", lease=_LEASE) == attempt
        assert (await kit.media.status(task.id)).status is TaskStatus.RUNNING
        await _sweep_after_lease(kit)
    assert (await kit.jobs.get(job_id)).state is JobState.DEAD

    # Readers racing to notice it settle the row once: one event, whoever wins.
    seen: list[VideoTask] = []

    async def read() -> None:
        seen.append(await kit.media.status(task.id))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(read)
    assert {t.status for t in seen} == {TaskStatus.FAILED}
    with anyio.fail_after(2):
        done = await kit.media.wait(task.id, timeout=60)
    assert done.status is TaskStatus.FAILED
    assert done.failed_stage == "compose"
    assert "lease expired" in (done.error or "") and "3 of 3 attempts" in (done.error or "")
    (event,) = await kit.events.list(type="video.failed", subject=task.id)
    assert event.payload == {"task_id": task.id, "stage": "compose", "error": done.error}


async def test_a_cancel_the_sweeper_honoured_cancels_the_task(kit: Dropkit) -> None:
    task = await kit.media.submit(small_spec())
    await _take_over(kit, task, worker="dead", lease=_LEASE)
    flagged = await kit.jobs.cancel(task.job_id or "")  # the worker is gone: only a flag
    assert flagged.cancel_requested
    await _sweep_after_lease(kit)
    assert (await kit.jobs.get(task.job_id or "")).state is JobState.CANCELLED

    with anyio.fail_after(2):
        done = await kit.media.wait(task.id, timeout=60)
    assert done.status is TaskStatus.CANCELLED
    assert "lease expired" in (done.error or "")
    assert await kit.events.list(type="video.failed") == []


async def test_a_job_cancelled_while_queued_cancels_the_task(kit: Dropkit) -> None:
    task = await kit.media.submit(small_spec())
    assert (await kit.jobs.cancel(task.job_id or "")).state is JobState.CANCELLED
    assert (await kit.media.status(task.id)).status is TaskStatus.CANCELLED
    assert await kit.events.list(type="video.failed") == []


@pytest.mark.parametrize("state", [JobState.FAILED, JobState.DEAD])
async def test_a_job_ended_outside_the_render_fails_the_task(kit: Dropkit, state: JobState) -> None:
    # A job timeout cancels the render, which hands the row back to "queued"; the runner then
    # ends the job without a retry.
    task = await kit.media.submit(small_spec())
    await kit.jobs.ledger.claim(task.job_id or "", worker_id="w", lease=30)
    ended = await kit.jobs.ledger.end(
        task.job_id or "", "w", state=state, error="TimeoutError: timed out after 600s"
    )
    assert ended is not None and ended.state is state
    done = await kit.media.status(task.id)
    assert done.status is TaskStatus.FAILED and done.failed_stage == "queued"
    assert f"is {state.value}" in (done.error or "") and "timed out after 600s" in (
        done.error or ""
    )
    assert len(await kit.events.list(type="video.failed", subject=task.id)) == 1
    with pytest.raises(ConflictError, match="failed"):
        await kit.media.result(task.id)


async def test_a_task_whose_job_still_runs_is_left_running(kit: Dropkit) -> None:
    task = await kit.media.submit(small_spec())
    await _take_over(kit, task, worker="alive", lease=30)
    assert await kit.jobs.sweep() == 0  # a live lease is not swept
    for _ in range(3):
        running = await kit.media.status(task.id)
        assert running.status is TaskStatus.RUNNING and running.error is None
    assert (await kit.jobs.get(task.job_id or "")).state is JobState.RUNNING
    # An expired lease not swept yet is not a verdict either: the sweeper decides.
    other = await kit.media.submit(small_spec())
    await _take_over(kit, other, worker="late", lease=_LEASE)
    await anyio.sleep(_LEASE * 5)
    assert (await kit.media.status(other.id)).status is TaskStatus.RUNNING
    assert await kit.events.list(type="video.failed") == []
