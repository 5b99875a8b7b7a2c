"""The durable path through kit.media: submit, progress, result, events, cancel (SQLite + PG)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from media_helpers import small_spec

from dropkit import Dropkit
from dropkit.core.errors import ConfigurationError, ConflictError, NotFoundError
from dropkit.media import EspeakVoice, LocalFolderFootage, TaskStatus, VideoFactory


@pytest.fixture
async def kit(database_url: str, data_dir: Path, media_assets: Path, voice_cache: Path):  # type: ignore[no-untyped-def]
    media = {"voice": EspeakVoice(voice_cache), "footage": [LocalFolderFootage(media_assets)]}
    async with Dropkit(
        database_url=database_url, data_dir=data_dir, media=media, poll_interval=0.05
    ) as kit:
        yield kit


async def test_submit_renders_as_a_job_with_progress_and_event(kit: Dropkit) -> None:
    task = await kit.media.submit(small_spec())
    assert task.status in (TaskStatus.QUEUED, TaskStatus.RUNNING)
    done = await kit.media.wait(task.id, timeout=60)
    assert done.status is TaskStatus.DONE, done.error
    assert done.frames_total > 0 and done.frames_done == done.frames_total
    result = await kit.media.result(task.id)
    (video,) = result.videos
    assert video.bytes > 0
    assert Path(video.video).is_relative_to(kit.data_dir / "media")
    (event,) = await kit.events.list(type="video.rendered", subject=task.id)
    assert event.payload["videos"] == [video.video]
    with pytest.raises(ConflictError):
        await kit.media.cancel(task.id)


async def test_failed_render_names_the_stage(kit: Dropkit, tmp_path: Path) -> None:
    task = await kit.media.submit(small_spec(logo=str(tmp_path / "missing.png")))
    done = await kit.media.wait(task.id, timeout=60)
    assert done.status is TaskStatus.FAILED
    assert done.failed_stage == "overlays" and "missing.png" in (done.error or "")
    (event,) = await kit.events.list(type="video.failed", subject=task.id)
    assert event.payload["stage"] == "overlays"
    with pytest.raises(ConflictError, match="failed"):
        await kit.media.result(task.id)
    with pytest.raises(NotFoundError):
        await kit.media.status("vid_nope")


@pytest.mark.parametrize("when", ["queued", "composing"])
async def test_cancel_leaves_no_files(kit: Dropkit, when: str) -> None:
    long_script = tuple(f"Sentence number {n} keeps the encoder busy." for n in range(12))
    task = await kit.media.submit(small_spec(script=long_script, resolution=360))
    if when == "composing":
        with anyio.fail_after(60):
            while (await kit.media.status(task.id)).frames_done == 0:
                await anyio.sleep(0.02)
    cancelled = await kit.media.cancel(task.id)
    assert cancelled.status is TaskStatus.CANCELLED
    done = await kit.media.wait(task.id, timeout=60)
    assert done.status is TaskStatus.CANCELLED
    await kit.jobs.wait(task.job_id or "", timeout=60)
    videos = kit.data_dir / "media" / "videos"
    assert not videos.exists() or not any(videos.iterdir())
    assert await kit.events.list(type="video.rendered") == []
    assert await kit.events.list(type="video.failed") == []


async def test_jobs_need_a_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        await VideoFactory(tmp_path).submit(small_spec())


class _BrokenVoice:
    """A voice whose engine raises a plain error (not a StageError)."""

    async def speak(self, text: str) -> Path:
        raise RuntimeError(f"engine crashed on {text!r}")


async def test_any_exception_fails_the_task_with_its_stage(
    database_url: str, data_dir: Path, media_assets: Path
) -> None:
    media = {"voice": _BrokenVoice(), "footage": [LocalFolderFootage(media_assets)]}
    async with Dropkit(
        database_url=database_url, data_dir=data_dir, media=media, poll_interval=0.05
    ) as kit:
        task = await kit.media.submit(small_spec())
        done = await kit.media.wait(task.id, timeout=30)
        assert done.status is TaskStatus.FAILED
        assert done.failed_stage == "voice"
        assert "RuntimeError" in (done.error or "") and "engine crashed" in (done.error or "")
        (event,) = await kit.events.list(type="video.failed", subject=task.id)
        assert event.payload["stage"] == "voice"


async def test_a_redriven_job_takes_over_a_row_left_running(
    database_url: str, data_dir: Path, media_assets: Path, voice_cache: Path
) -> None:
    media = {"voice": EspeakVoice(voice_cache), "footage": [LocalFolderFootage(media_assets)]}
    # A worker claims the job, marks the row running, then dies (its lease runs out).
    async with Dropkit(
        database_url=database_url, data_dir=data_dir, media=media, run_jobs=False
    ) as kit:
        task = await kit.media.submit(small_spec())
        job = await kit.jobs.ledger.claim(task.job_id or "", worker_id="dead", lease=0.01)
        assert job is not None and job.attempts == 1
        await kit.database.execute(
            "UPDATE video_tasks SET status = {}, attempt = 1, worker = {} WHERE id = {}",
            TaskStatus.RUNNING.value,
            "dead",
            task.id,
        )
    # A live worker sweeps the expired lease, re-runs the job, and really renders.
    async with Dropkit(
        database_url=database_url,
        data_dir=data_dir,
        media=media,
        poll_interval=0.05,
        sweep_interval=0.1,
    ) as kit:
        done = await kit.media.wait(task.id, timeout=60)
        assert done.status is TaskStatus.DONE, done.error
        (video,) = (await kit.media.result(task.id)).videos
        assert video.bytes > 0
        assert len(await kit.events.list(type="video.rendered", subject=task.id)) == 1


async def test_a_stopping_worker_hands_the_render_back(
    database_url: str, data_dir: Path, media_assets: Path, voice_cache: Path
) -> None:
    media = {"voice": EspeakVoice(voice_cache), "footage": [LocalFolderFootage(media_assets)]}
    script = tuple(f"Sentence number {n} keeps the encoder busy." for n in range(8))
    async with Dropkit(
        database_url=database_url, data_dir=data_dir, media=media, poll_interval=0.05
    ) as kit:
        task = await kit.media.submit(small_spec(script=script, resolution=360))
        with anyio.fail_after(60):
            while (await kit.media.status(task.id)).frames_done == 0:
                await anyio.sleep(0.02)
    # The worker stopped mid-render: the task waits for the next worker, not "running".
    async with Dropkit(database_url=database_url, data_dir=data_dir, run_jobs=False) as kit:
        stopped = await kit.media.status(task.id)
        assert stopped.status is TaskStatus.QUEUED, stopped
        assert await kit.events.list(type="video.failed") == []
    async with Dropkit(
        database_url=database_url, data_dir=data_dir, media=media, poll_interval=0.05
    ) as kit:
        done = await kit.media.wait(task.id, timeout=60)
        assert done.status is TaskStatus.DONE, done.error
        (video,) = (await kit.media.result(task.id)).videos
        assert video.frames > 0 and video.bytes > 0
