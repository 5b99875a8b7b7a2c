"""The video factory's schema (component ``media``): one row per submitted render job."""

from __future__ import annotations

from dropkit.core.migrations import Migration

__all__ = ["MEDIA_MIGRATIONS"]

MEDIA_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        component="media",
        version=1,
        name="video tasks",
        statements=(
            """CREATE TABLE video_tasks (
                id TEXT PRIMARY KEY,
                job_id TEXT,
                status TEXT NOT NULL,
                stage TEXT NOT NULL,
                frames_done INTEGER NOT NULL DEFAULT 0,
                frames_total INTEGER NOT NULL DEFAULT 0,
                spec {json} NOT NULL,
                result {json},
                error TEXT,
                failed_stage TEXT,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            "CREATE INDEX video_tasks_status ON video_tasks (status)",
        ),
    ),
    Migration(
        component="media",
        version=2,
        name="video task attempts",
        statements=(
            # The job attempt (and worker) rendering the row: a re-driven attempt after a worker
            # crash takes over a row its dead predecessor left ``running``.
            "ALTER TABLE video_tasks ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE video_tasks ADD COLUMN worker TEXT",
        ),
    ),
)
