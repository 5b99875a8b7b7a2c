"""Outreach fixtures: a migrated database (SQLite and PostgreSQL), an SMTP sink, a service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from outreach_support import PUBLIC, SECRET
from smtp_sink import SmtpSink

from dropkit.commerce.schema import COMMERCE_MIGRATIONS
from dropkit.core.database import Database
from dropkit.core.migrations import Migrator
from dropkit.core.schema import CORE_MIGRATIONS
from dropkit.outreach import OUTREACH_MIGRATIONS, Outreach


@pytest.fixture
async def odb(database_url: str) -> AsyncIterator[Database]:
    async with Database(database_url) as database:
        await Migrator(
            database, [*CORE_MIGRATIONS, *COMMERCE_MIGRATIONS, *OUTREACH_MIGRATIONS]
        ).migrate()
        yield database


@pytest.fixture
async def sqlite_odb(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite only: for tests of protocols (SMTP, HTTP APIs, signatures), not of storage."""
    async with Database(f"sqlite:///{tmp_path / 'outreach.db'}") as database:
        await Migrator(
            database, [*CORE_MIGRATIONS, *COMMERCE_MIGRATIONS, *OUTREACH_MIGRATIONS]
        ).migrate()
        yield database


@pytest.fixture
async def sqlite_outreach(sqlite_odb: Database, tmp_path: Path) -> AsyncIterator[Outreach]:
    service = Outreach(
        sqlite_odb, outbox_dir=tmp_path / "outbox", tracking_secret=SECRET, public_url=PUBLIC
    )
    try:
        yield service
    finally:
        await service.aclose()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def outreach(odb: Database, tmp_path: Path) -> AsyncIterator[Outreach]:
    service = Outreach(
        odb, outbox_dir=tmp_path / "outbox", tracking_secret=SECRET, public_url=PUBLIC
    )
    try:
        yield service
    finally:
        await service.aclose()
