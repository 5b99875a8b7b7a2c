"""Shared fixtures: every storage test runs on SQLite and on a fresh PostgreSQL database.

PostgreSQL and Redis are real servers (``DROPKIT_TEST_POSTGRES_URL``, ``DROPKIT_TEST_REDIS_URL``,
defaulting to the local services). An unreachable service fails the tests that need it with a
clear message; nothing is skipped (``make test`` starts the services first).
"""

from __future__ import annotations

import inspect
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from dropkit.core.database import Database
from dropkit.core.migrations import Migrator
from dropkit.core.schema import CORE_MIGRATIONS

POSTGRES_URL = os.environ.get(
    "DROPKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("DROPKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Mark every ``async def`` test for anyio, before anyio's plugin parametrizes it."""
    if inspect.iscoroutinefunction(obj) and name.startswith("test"):
        pytest.mark.anyio(obj)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_leaked_sqlite_threads() -> Iterator[None]:
    """An unclosed aiosqlite connection keeps a non-daemon thread: the run would hang at exit."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before and "_connection_worker_thread" in t.name
    ]
    for thread in leaked:
        thread.join(timeout=10)  # closing threads finish promptly; a leaked one never does
    alive = [t.name for t in leaked if t.is_alive()]
    assert not alive, f"aiosqlite connections left open: {alive}"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(POSTGRES_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc}); run 'make services' or set "
            "DROPKIT_TEST_POSTGRES_URL",
            pytrace=False,
        )


async def create_postgres_database() -> str:
    """Create an empty, uniquely named database and return its URL."""
    name = f"dropkit_t_{uuid.uuid4().hex[:12]}"
    admin = await _admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return _with_database(POSTGRES_URL, name)


async def drop_postgres_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = await _admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dropkit.db'}"
        return
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database (for tests that need PostgreSQL specifically)."""
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A started database with the core schema applied."""
    async with Database(database_url) as database:
        await Migrator(database, CORE_MIGRATIONS).migrate()
        yield database


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A Redis database index of its own, flushed before and after the test."""
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        await client.aclose()
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({exc}); run 'make services' or set "
            "DROPKIT_TEST_REDIS_URL",
            pytrace=False,
        )
    await client.flushdb()
    try:
        yield REDIS_URL
    finally:
        await client.flushdb()
        await client.aclose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path
