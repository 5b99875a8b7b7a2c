"""The core schema: the job ledger, the event outbox and the webhook tables.

Released steps are frozen; change the schema by appending a step. Timestamps are epoch seconds
(``{ts}``: DOUBLE PRECISION / REAL) so that comparisons and arithmetic are exact and identical on
both engines; the typed API turns them into aware datetimes.
"""

from __future__ import annotations

from dropkit.core.migrations import Migration

__all__ = ["CORE_MIGRATIONS"]

CORE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        component="core",
        version=1,
        name="job ledger",
        statements=(
            """CREATE TABLE dropkit_jobs (
                id TEXT PRIMARY KEY,
                function TEXT NOT NULL,
                queue TEXT NOT NULL DEFAULT 'default',
                args {json} NOT NULL,
                state TEXT NOT NULL,
                priority INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                run_at {ts} NOT NULL,
                lease_expires_at {ts},
                worker_id TEXT,
                result {json},
                last_error TEXT,
                idempotency_key TEXT UNIQUE,
                cancel_requested {bool} NOT NULL DEFAULT {false},
                progress {json},
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL,
                started_at {ts},
                finished_at {ts}
            )""",
            "CREATE INDEX dropkit_jobs_claim ON dropkit_jobs (state, queue, run_at)",
            "CREATE INDEX dropkit_jobs_leases ON dropkit_jobs (lease_expires_at)"
            " WHERE state = 'running'",
            "CREATE INDEX dropkit_jobs_function ON dropkit_jobs (function, state)",
        ),
    ),
    Migration(
        component="core",
        version=2,
        name="event outbox",
        statements=(
            """CREATE TABLE dropkit_events (
                id TEXT PRIMARY KEY,
                type TEXT NOT NULL,
                subject TEXT,
                payload {json} NOT NULL,
                occurred_at {ts} NOT NULL,
                dispatched_at {ts}
            )""",
            "CREATE INDEX dropkit_events_type ON dropkit_events (type, occurred_at)",
            "CREATE INDEX dropkit_events_pending ON dropkit_events (occurred_at)"
            " WHERE dispatched_at IS NULL",
        ),
    ),
    Migration(
        component="core",
        version=3,
        name="outbound webhooks",
        statements=(
            """CREATE TABLE dropkit_webhook_endpoints (
                id TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                secret TEXT NOT NULL,
                event_types {json} NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                enabled {bool} NOT NULL DEFAULT {true},
                allow_private {bool} NOT NULL DEFAULT {false},
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            """CREATE TABLE dropkit_webhook_deliveries (
                id TEXT PRIMARY KEY,
                endpoint_id TEXT NOT NULL
                    REFERENCES dropkit_webhook_endpoints (id) ON DELETE CASCADE,
                event_id TEXT NOT NULL REFERENCES dropkit_events (id),
                event_type TEXT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_status INTEGER,
                last_error TEXT,
                job_id TEXT,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL,
                delivered_at {ts},
                UNIQUE (endpoint_id, event_id)
            )""",
            "CREATE INDEX dropkit_webhook_deliveries_state"
            " ON dropkit_webhook_deliveries (endpoint_id, state, created_at)",
            """CREATE TABLE dropkit_webhook_attempts (
                id {serial},
                delivery_id TEXT NOT NULL
                    REFERENCES dropkit_webhook_deliveries (id) ON DELETE CASCADE,
                attempt INTEGER NOT NULL,
                attempted_at {ts} NOT NULL,
                status INTEGER,
                duration_ms {ts} NOT NULL,
                error TEXT,
                response_excerpt TEXT
            )""",
            "CREATE INDEX dropkit_webhook_attempts_delivery"
            " ON dropkit_webhook_attempts (delivery_id, attempt)",
        ),
    ),
)
