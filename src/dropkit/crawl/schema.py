"""The research bot's schema (component ``crawl``): monitors, their competitors, observations.

A monitor watches competitor pages for one of our variants. Every run stores one observation
per competitor (price as ``{decimal}``, exact; currency; availability; which offer fields
matched), so trends and change detection read a time series instead of yesterday's memory.
"""

from __future__ import annotations

from dropkit.core.migrations import Migration

__all__ = ["CRAWL_MIGRATIONS"]

CRAWL_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        component="crawl",
        version=1,
        name="monitors, competitors, observations",
        statements=(
            """CREATE TABLE crawl_monitors (
                id TEXT PRIMARY KEY,
                variant_id TEXT NOT NULL,
                name TEXT NOT NULL DEFAULT '',
                price_threshold {decimal} NOT NULL,
                render TEXT NOT NULL,
                active {bool} NOT NULL DEFAULT {true},
                created_at {ts} NOT NULL,
                last_run_at {ts}
            )""",
            "CREATE INDEX crawl_monitors_variant ON crawl_monitors (variant_id)",
            """CREATE TABLE crawl_competitors (
                id TEXT PRIMARY KEY,
                monitor_id TEXT NOT NULL REFERENCES crawl_monitors (id) ON DELETE CASCADE,
                url TEXT NOT NULL,
                label TEXT NOT NULL DEFAULT '',
                fields {json} NOT NULL,
                position INTEGER NOT NULL DEFAULT 0,
                created_at {ts} NOT NULL,
                UNIQUE (monitor_id, url)
            )""",
            """CREATE TABLE crawl_observations (
                id {serial},
                competitor_id TEXT NOT NULL REFERENCES crawl_competitors (id) ON DELETE CASCADE,
                observed_at {ts} NOT NULL,
                ok {bool} NOT NULL,
                price {decimal},
                currency TEXT,
                availability TEXT NOT NULL,
                matched {json} NOT NULL,
                drift {json} NOT NULL,
                blocked {bool} NOT NULL DEFAULT {false},
                error TEXT
            )""",
            "CREATE INDEX crawl_observations_series"
            " ON crawl_observations (competitor_id, observed_at)",
        ),
    ),
)
