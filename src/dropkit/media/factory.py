"""``VideoFactory``: render videos directly, or as durable jobs with progress and events.

``render(spec)`` needs nothing but a data directory. With a database, jobs and an event bus
(``kit.media``), ``submit(spec)`` stores a ``video_tasks`` row and enqueues a job that renders
it; the job writes the stage and frames done as it goes, and publishes ``video.rendered`` or
``video.failed`` (naming the failed stage) at the end. ``cancel`` stops a queued or running
render; a cancelled render leaves no files. A task whose job ended without the render
recording it (the worker died and the sweeper gave up, a timeout) is settled when it is read.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import anyio

from dropkit.core.database import Database, Row
from dropkit.core.errors import ConfigurationError, ConflictError, NotFoundError
from dropkit.core.events import EventBus
from dropkit.core.jobs import Job, JobContext, JobRegistry, Jobs, JobState
from dropkit.core.jsontext import dumps_strict
from dropkit.media.errors import StageError
from dropkit.media.events import VideoFailed, VideoRendered
from dropkit.media.files import output_stem
from dropkit.media.footage import FootageProvider
from dropkit.media.pipeline import Pipeline, check_inside, render_outputs
from dropkit.media.results import Progress, RenderedVideo, TaskStatus, VideoResult, VideoTask
from dropkit.media.script import ScriptWriter, TemplateScriptWriter
from dropkit.media.spec import VideoSpec
from dropkit.media.timeline import Manifest
from dropkit.media.voice import Voice

__all__ = ["RENDER_JOB", "VideoFactory"]

RENDER_JOB = "dropkit.media.render"
_ACTIVE = (TaskStatus.QUEUED, TaskStatus.RUNNING)


def _remove(result: VideoResult) -> None:
    for video in result.videos:
        for path in (video.video, video.srt, video.vtt, video.thumbnail, video.manifest):
            Path(path).unlink(missing_ok=True)


def _task(row: Row) -> VideoTask:
    return VideoTask(
        id=row["id"],
        job_id=row["job_id"],
        status=TaskStatus(row["status"]),
        stage=row["stage"],
        frames_done=row["frames_done"],
        frames_total=row["frames_total"],
        error=row["error"],
        failed_stage=row["failed_stage"],
    )


def _settlement(task: VideoTask, job: Job) -> tuple[TaskStatus, str]:
    """What an unfinished task becomes once its job ended without the render recording it."""
    tries = f"after {job.attempts} of {job.max_attempts} attempts"
    why = job.last_error or "no error recorded"
    if job.state is JobState.CANCELLED:
        return TaskStatus.CANCELLED, f"{task.stage}: the render job was cancelled {tries}: {why}"
    if job.state is JobState.SUCCEEDED:
        why = "it ended without recording the render's outcome"
    return TaskStatus.FAILED, f"{task.stage}: the render job is {job.state.value} {tries}: {why}"


class VideoFactory:
    """Product videos: offline by default (template script, espeak-ng, generated backgrounds)."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        database: Database | None = None,
        jobs: Jobs | None = None,
        events: EventBus | None = None,
        script_writer: ScriptWriter | None = None,
        voice: Voice | None = None,
        footage: list[FootageProvider] | None = None,
        output_root: str | Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.output_root = Path(output_root) if output_root is not None else self.data_dir
        self.pipeline = Pipeline(
            script_writer=script_writer or TemplateScriptWriter(),
            voice=voice,
            voice_cache=self.data_dir / "cache" / "voice",
            footage=list(footage or []),
        )
        self.database, self.jobs, self.events = database, jobs, events
        self._cancels: dict[str, threading.Event] = {}

    # -- direct use -------------------------------------------------------------------------

    async def render(
        self,
        spec: VideoSpec,
        *,
        out_dir: str | Path | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> VideoResult:
        """Render every aspect ratio and variant of ``spec`` into ``out_dir`` (default videos/)."""
        target = Path(out_dir) if out_dir is not None else self.output_root / "videos"
        target = check_inside(target, self.output_root)
        return await self.pipeline.run(spec, target, progress=progress, cancel=cancel)

    async def render_manifest(
        self, manifest: Manifest, video: str | Path, *, progress: Progress | None = None
    ) -> RenderedVideo:
        """Re-render a (possibly edited) manifest to ``video`` (.mp4) and its companions."""
        path = check_inside(Path(video), self.output_root)
        return await render_outputs(manifest, output_stem(path), progress=progress)

    # -- durable jobs -----------------------------------------------------------------------

    def register(self, registry: JobRegistry) -> None:
        """Add the render job. A failed render is reported, not retried (the job catches every
        error); the extra attempts are for a worker that died mid-render: its lease expires and
        the re-driven attempt takes the row over and renders again."""
        registry.register(self._render_job, name=RENDER_JOB, max_attempts=3, lease=60.0)

    def _db(self) -> Database:
        if self.database is None or self.jobs is None:
            raise ConfigurationError(
                "submit/status/result need a database and jobs (use kit.media)"
            )
        return self.database

    async def submit(self, spec: VideoSpec) -> VideoTask:
        """Store the render as a ``video_tasks`` row and enqueue it; returns at once."""
        database = self._db()
        assert self.jobs is not None
        task_id = f"vid_{uuid.uuid4().hex[:20]}"
        now = time.time()
        async with database.transaction():
            await database.execute(
                "INSERT INTO video_tasks (id, status, stage, spec, created_at, updated_at)"
                " VALUES ({}, {}, {}, {}, {}, {})",
                task_id,
                TaskStatus.QUEUED.value,
                "queued",
                spec.model_dump_json(),
                now,
                now,
            )
            job = await self.jobs.enqueue(RENDER_JOB, {"task_id": task_id}, key=f"video:{task_id}")
            await database.execute(
                "UPDATE video_tasks SET job_id = {} WHERE id = {}", job.id, task_id
            )
        return await self.status(task_id)

    async def status(self, task_id: str) -> VideoTask:
        """The task as stored. An active task whose job already ended is settled first: a job
        the sweeper gave up on (its workers died) or one that failed outside the render (a
        timeout) fails the task, a cancelled job cancels it. ``wait`` and ``result`` read here.
        An active task costs one more small query: its job's ledger row."""
        task = await self._read(task_id)
        if task.finished or task.job_id is None or self.jobs is None:
            return task
        job = await self.jobs.ledger.get(task.job_id)
        if job is None or not job.done:
            return task
        await self._settle(task, job)
        return await self._read(task_id)

    async def _read(self, task_id: str) -> VideoTask:
        row = await self._db().fetchrow("SELECT * FROM video_tasks WHERE id = {}", task_id)
        if row is None:
            raise NotFoundError(f"no video task {task_id}")
        return _task(row)

    async def _settle(self, task: VideoTask, job: Job) -> None:
        """End the row as its job ended. Guarded like every write: a worker that records the
        render meanwhile wins, and only the reader whose update took publishes ``video.failed``
        (the event the render itself would have published)."""
        status, error = _settlement(task, job)
        async with self._db().transaction():
            changed = await self._set(
                task.id,
                _ACTIVE,
                status=status,
                stage=status.value,
                error=error,
                failed_stage=task.stage,
            )
            if changed and status is TaskStatus.FAILED and self.events is not None:
                await self.events.publish(
                    VideoFailed(task_id=task.id, stage=task.stage, error=error)
                )

    async def result(self, task_id: str) -> VideoResult:
        """The outputs of a finished task; a task not done is a :class:`ConflictError`."""
        task = await self.status(task_id)
        if task.status is not TaskStatus.DONE:
            raise ConflictError(f"video task {task_id} is {task.status.value}")
        raw = await self._db().fetchval("SELECT result FROM video_tasks WHERE id = {}", task_id)
        return VideoResult.model_validate_json(raw if isinstance(raw, str) else dumps_strict(raw))

    async def wait(self, task_id: str, *, timeout: float = 300.0, poll: float = 0.1) -> VideoTask:
        """Poll the task row until the render finished (done, failed or cancelled)."""
        with anyio.fail_after(timeout):
            task = await self.status(task_id)
            while not task.finished:
                await anyio.sleep(poll)
                task = await self.status(task_id)
        return task

    async def cancel(self, task_id: str) -> VideoTask:
        """Stop a queued or running render; a finished task is a :class:`ConflictError`."""
        changed = await self._set(task_id, _ACTIVE, status=TaskStatus.CANCELLED, stage="cancelled")
        if not changed:
            task = await self.status(task_id)
            raise ConflictError(f"video task {task_id} is already {task.status.value}")
        event = self._cancels.get(task_id)
        if event is not None:
            event.set()
        return await self.status(task_id)

    async def _set(
        self,
        task_id: str,
        when: tuple[TaskStatus, ...],
        *,
        attempt: int | None = None,
        **values: Any,
    ) -> bool:
        """Update the row if its status is one of ``when`` (and, given ``attempt``, it is still
        that job attempt's); False when it was not (a render and a cancel racing: whichever
        writes first wins, the other sees it; a stale attempt never overwrites its successor)."""
        values["updated_at"] = time.time()
        columns = ", ".join(f"{name} = {{}}" for name in values)
        params = [v.value if isinstance(v, TaskStatus) else v for v in values.values()]
        statuses = ", ".join("{}" for _ in when)
        owner = "" if attempt is None else " AND attempt = {}"
        updated = await self._db().fetchval(
            f"UPDATE video_tasks SET {columns} WHERE id = {{}} AND status IN ({statuses}){owner}"
            " RETURNING id",
            *params,
            task_id,
            *(s.value for s in when),
            *(() if attempt is None else (attempt,)),
        )
        return updated is not None

    async def _start(self, task_id: str, ctx: JobContext) -> bool:
        """Mark the row running for this job attempt. A queued row is taken; so is a row a
        previous attempt left running (its worker died and the job was re-driven)."""
        updated = await self._db().fetchval(
            "UPDATE video_tasks SET status = {}, stage = {}, attempt = {}, worker = {},"
            " frames_done = 0, frames_total = 0, updated_at = {}"
            " WHERE id = {} AND (status = {} OR (status = {} AND attempt < {})) RETURNING id",
            TaskStatus.RUNNING.value,
            "script",
            ctx.attempt,
            ctx.worker_id,
            time.time(),
            task_id,
            TaskStatus.QUEUED.value,
            TaskStatus.RUNNING.value,
            ctx.attempt,
        )
        return updated is not None

    async def _render_job(self, ctx: JobContext, task_id: str) -> str:
        task = await self.status(task_id)
        if task.finished:
            return task.status.value
        raw = await self._db().fetchval("SELECT spec FROM video_tasks WHERE id = {}", task_id)
        spec = VideoSpec.model_validate_json(raw if isinstance(raw, str) else dumps_strict(raw))
        if not await self._start(task_id, ctx):
            return (await self.status(task_id)).status.value  # cancelled before it started
        attempt = ctx.attempt
        cancel = threading.Event()
        self._cancels[task_id] = cancel
        latest: dict[str, Any] = {"stage": "script", "done": 0, "total": 0}

        def progress(stage: str, done: int, total: int) -> None:
            latest.update(stage=stage, done=done, total=total)

        failure: BaseException | None = None
        result: VideoResult | None = None

        async def watch() -> None:
            while True:
                await anyio.sleep(0.2)
                await self._set(
                    task_id,
                    (TaskStatus.RUNNING,),
                    attempt=attempt,
                    stage=latest["stage"],
                    frames_done=latest["done"],
                    frames_total=latest["total"],
                )
                if (await self.status(task_id)).status is TaskStatus.CANCELLED:
                    cancel.set()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch)
                try:
                    result = await self.render(spec, progress=progress, cancel=cancel)
                except BaseException as exc:  # anything: the row must not stay "running"
                    failure = exc
                finally:
                    group.cancel_scope.cancel()
        except BaseException as exc:  # the watcher failed, or cancellation at the group's exit
            failure = failure or exc
        finally:
            self._cancels.pop(task_id, None)
        if isinstance(failure, anyio.get_cancelled_exc_class()):
            with anyio.CancelScope(shield=True):
                await self._interrupted(ctx, task_id, stage=str(latest["stage"]))
            raise failure
        if failure is not None or result is None:
            stage = failure.stage if isinstance(failure, StageError) else str(latest["stage"])
            with anyio.CancelScope(shield=True):
                status = await self._failed(
                    task_id, failure, stage=stage, attempt=attempt, cancelled=cancel.is_set()
                )
            if failure is not None and not isinstance(failure, Exception):
                raise failure  # KeyboardInterrupt and the like go on up
            return status
        videos = [v.video for v in result.videos]
        async with self._db().transaction():
            done = await self._set(
                task_id,
                (TaskStatus.RUNNING,),
                attempt=attempt,
                status=TaskStatus.DONE,
                stage="done",
                frames_done=latest["total"],
                frames_total=latest["total"],
                result=result.model_dump_json(),
            )
            if not done:  # cancelled as it finished: a cancelled task leaves no files
                _remove(result)
                return TaskStatus.CANCELLED.value
            if self.events is not None:
                await self.events.publish(VideoRendered(task_id=task_id, videos=videos))
        return TaskStatus.DONE.value

    async def _interrupted(self, ctx: JobContext, task_id: str, *, stage: str) -> None:
        """The job was cancelled from outside. ``jobs.cancel``: the task is cancelled. A worker
        shutting down hands the job back to run again: the row goes back to queued for it."""
        job = await ctx.jobs.get(ctx.job.id)
        if job.cancel_requested:
            await self._failed(task_id, None, stage=stage, attempt=ctx.attempt, cancelled=True)
        else:
            await self._set(
                task_id, (TaskStatus.RUNNING,), attempt=ctx.attempt, status=TaskStatus.QUEUED,
                stage="queued", frames_done=0, frames_total=0,
            )  # fmt: skip

    async def _failed(
        self,
        task_id: str,
        exc: BaseException | None,
        *,
        stage: str,
        attempt: int,
        cancelled: bool,
    ) -> str:
        status = TaskStatus.CANCELLED if cancelled else TaskStatus.FAILED
        if isinstance(exc, StageError):
            error = str(exc)
        elif exc is None or isinstance(exc, anyio.get_cancelled_exc_class()):
            error = f"{stage}: the render was interrupted (the worker stopped)"
        else:
            error = f"{stage}: {type(exc).__name__}: {exc}"
        async with self._db().transaction():
            changed = await self._set(
                task_id,
                (TaskStatus.RUNNING,),
                attempt=attempt,
                status=status,
                stage=status.value,
                error=error,
                failed_stage=stage,
            )
            if self.events is not None and changed and not cancelled:
                await self.events.publish(VideoFailed(task_id=task_id, stage=stage, error=error))
        return status.value

    async def aclose(self) -> None:
        """Close provider clients (OpenAI, Pexels) that the factory's stages own."""
        for stage in (self.pipeline.script_writer, self.pipeline.voice, *self.pipeline.footage):
            closer = getattr(stage, "aclose", None)
            if closer is not None:
                await closer()
