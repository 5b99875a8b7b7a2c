"""The outreach tables (component ``outreach``): audience, content, the send ledger, tracking."""

from __future__ import annotations

from dropkit.core.migrations import Migration

__all__ = ["OUTREACH_MIGRATIONS"]

OUTREACH_MIGRATIONS = (
    Migration(
        "outreach",
        1,
        "audience, templates, campaigns, send ledger, tracking",
        statements=(
            """CREATE TABLE outreach_subscribers (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                status TEXT NOT NULL,
                attributes {json} NOT NULL,
                consent_source TEXT,
                consent_at {ts},
                timezone TEXT,
                locale TEXT,
                soft_bounces INTEGER NOT NULL DEFAULT 0,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            "CREATE INDEX outreach_subscribers_status ON outreach_subscribers (status)",
            """CREATE TABLE outreach_lists (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                created_at {ts} NOT NULL
            )""",
            """CREATE TABLE outreach_memberships (
                list_id TEXT NOT NULL REFERENCES outreach_lists (id) ON DELETE CASCADE,
                subscriber_id TEXT NOT NULL REFERENCES outreach_subscribers (id) ON DELETE CASCADE,
                added_at {ts} NOT NULL,
                PRIMARY KEY (list_id, subscriber_id)
            )""",
            "CREATE INDEX outreach_memberships_subscriber ON outreach_memberships (subscriber_id)",
            """CREATE TABLE outreach_segments (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                rule {json} NOT NULL,
                created_at {ts} NOT NULL
            )""",
            """CREATE TABLE outreach_suppressions (
                email TEXT PRIMARY KEY,
                reason TEXT NOT NULL,
                detail TEXT,
                created_at {ts} NOT NULL
            )""",
            """CREATE TABLE outreach_templates (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                subject TEXT NOT NULL,
                html TEXT NOT NULL,
                text TEXT,
                layout TEXT,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL
            )""",
            """CREATE TABLE outreach_campaigns (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                template_id TEXT NOT NULL REFERENCES outreach_templates (id),
                state TEXT NOT NULL,
                from_address TEXT NOT NULL,
                reply_to TEXT,
                audience {json} NOT NULL,
                variants {json} NOT NULL,
                context {json} NOT NULL,
                send_at {ts},
                local_time {bool} NOT NULL DEFAULT {false},
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL,
                started_at {ts},
                finished_at {ts}
            )""",
            """CREATE TABLE outreach_sends (
                id {serial},
                campaign_id TEXT NOT NULL REFERENCES outreach_campaigns (id) ON DELETE CASCADE,
                subscriber_id TEXT NOT NULL,
                email TEXT NOT NULL,
                variant TEXT NOT NULL,
                due_at {ts} NOT NULL,
                state TEXT NOT NULL,
                claim_token TEXT,
                claimed_until {ts},
                message_id TEXT NOT NULL UNIQUE,
                provider_message_id TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                error TEXT,
                sent_at {ts},
                UNIQUE (campaign_id, subscriber_id)
            )""",
            "CREATE INDEX outreach_sends_work ON outreach_sends (campaign_id, state, due_at)",
            "CREATE INDEX outreach_sends_subscriber ON outreach_sends (subscriber_id)",
            """CREATE TABLE outreach_transactional (
                id TEXT PRIMARY KEY,
                idempotency_key TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                email TEXT NOT NULL,
                template TEXT NOT NULL,
                state TEXT NOT NULL,
                message_id TEXT NOT NULL,
                provider_message_id TEXT,
                error TEXT,
                created_at {ts} NOT NULL,
                sent_at {ts}
            )""",
            """CREATE TABLE outreach_links (
                source_id TEXT NOT NULL,
                url TEXT NOT NULL,
                PRIMARY KEY (source_id, url)
            )""",
            """CREATE TABLE outreach_events (
                id {serial},
                kind TEXT NOT NULL,
                source_id TEXT,
                subscriber_id TEXT,
                email TEXT,
                url TEXT,
                machine {bool} NOT NULL DEFAULT {false},
                detail TEXT,
                created_at {ts} NOT NULL
            )""",
            "CREATE INDEX outreach_events_source ON outreach_events (source_id, kind)",
            "CREATE INDEX outreach_events_subscriber ON outreach_events (subscriber_id, kind)",
            """CREATE TABLE outreach_conversions (
                order_id TEXT PRIMARY KEY,
                campaign_id TEXT NOT NULL,
                subscriber_id TEXT NOT NULL,
                amount {decimal} NOT NULL,
                currency TEXT NOT NULL,
                paid {bool} NOT NULL DEFAULT {false},
                clicked_at {ts} NOT NULL,
                placed_at {ts} NOT NULL
            )""",
            "CREATE INDEX outreach_conversions_campaign ON outreach_conversions (campaign_id)",
        ),
    ),
    Migration(
        "outreach",
        2,
        "feedback event ids (replays applied once), transactional leases",
        statements=(
            """CREATE TABLE outreach_feedback_seen (
                event_id TEXT PRIMARY KEY,
                seen_at {ts} NOT NULL
            )""",
            "ALTER TABLE outreach_transactional ADD COLUMN claimed_until {ts}",
        ),
    ),
)
