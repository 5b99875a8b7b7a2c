"""Database and migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from piccolo.columns import Integer, Varchar
from piccolo.table import Table

from dropkit.core.database import Database
from dropkit.core.errors import (
    ConfigurationError,
    IntegrityError,
    MigrationError,
    StorageError,
)
from dropkit.core.migrations import Migration, Migrator
from dropkit.core.schema import CORE_MIGRATIONS


class Widget(Table, tablename="widgets"):
    name = Varchar(length=50, unique=True)
    size = Integer(default=0)


WIDGETS_V1 = Migration(
    component="test",
    version=1,
    name="widgets",
    statements=("CREATE TABLE widgets (id {serial}, name VARCHAR(50) NOT NULL UNIQUE)",),
)
WIDGETS_V2 = Migration(
    component="test",
    version=2,
    name="widget size",
    statements=("ALTER TABLE widgets ADD COLUMN size INTEGER NOT NULL DEFAULT 0",),
)


async def _fill_sizes(db: Database) -> None:
    await db.execute("UPDATE widgets SET size = LENGTH(name)")


WIDGETS_V3 = Migration(component="test", version=3, name="backfill sizes", python=_fill_sizes)


def test_urls_are_validated() -> None:
    with pytest.raises(ConfigurationError):
        Database("mysql://x")
    with pytest.raises(ConfigurationError):
        Database("sqlite:///:memory:")
    with pytest.raises(ConfigurationError):
        Database("sqlite://")
    assert Database("sqlite:///rel.db").dialect == "sqlite"
    assert Database("postgresql://u@h/db").dialect == "postgres"


async def test_not_started_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="not started"):
        await Database("sqlite:///x.db").fetch("SELECT 1")


async def test_upgrade_in_place_keeps_rows(database_url: str) -> None:
    async with Database(database_url) as db:
        migrator = Migrator(db, [WIDGETS_V1, WIDGETS_V2, WIDGETS_V3])
        applied = await migrator.migrate(target={"test": 1})
        assert [m.version for m in applied] == [1]
        await db.execute("INSERT INTO widgets (name) VALUES ({}), ({})", "bolt", "sprocket")
    # A later release of the code opens the same database and upgrades it.
    async with Database(database_url) as db:
        migrator = Migrator(db, [WIDGETS_V1, WIDGETS_V2, WIDGETS_V3])
        assert await migrator.applied() == {"test": 1}
        applied = await migrator.migrate()
        assert [m.version for m in applied] == [2, 3]
        rows = await db.fetch("SELECT name, size FROM widgets ORDER BY name")
        assert rows == [{"name": "bolt", "size": 4}, {"name": "sprocket", "size": 8}]
        assert await migrator.migrate() == []
        # Piccolo tables bind to this database at runtime.
        widget = db.bind(Widget)
        await widget.insert(widget(name="gear", size=9))
        names = await widget.select(widget.name).where(widget.size > 5).order_by(widget.name)
        assert names == [{"name": "gear"}, {"name": "sprocket"}]


async def test_core_schema_upgrades_from_v1_keeping_jobs(database_url: str) -> None:
    async with Database(database_url) as db:
        await Migrator(db, CORE_MIGRATIONS).migrate(target={"core": 1})
        await db.execute(
            "INSERT INTO dropkit_jobs (id, function, args, state, max_attempts, run_at,"
            " created_at, updated_at) VALUES ('j1', 'f', {}, 'queued', 3, 0, 0, 0)",
            "{}",
        )
        applied = await Migrator(db, CORE_MIGRATIONS).migrate()
        assert [m.version for m in applied] == [2, 3]
        assert await db.fetchval("SELECT function FROM dropkit_jobs WHERE id = 'j1'") == "f"


async def test_failed_migration_rolls_back(database_url: str) -> None:
    broken = Migration(
        component="test",
        version=2,
        name="broken",
        statements=("ALTER TABLE widgets ADD COLUMN extra INTEGER", "SELECT * FROM nowhere"),
    )
    async with Database(database_url) as db:
        migrator = Migrator(db, [WIDGETS_V1, broken])
        with pytest.raises(MigrationError, match="broken"):
            await migrator.migrate()
        assert await migrator.applied() == {"test": 1}
        if db.dialect == "postgres":  # DDL is transactional on PostgreSQL
            row = await db.fetchrow(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'widgets' AND column_name = 'extra'"
            )
            assert row is None


async def test_newer_database_is_refused(database_url: str) -> None:
    async with Database(database_url) as db:
        await Migrator(db, [WIDGETS_V1, WIDGETS_V2]).migrate()
        with pytest.raises(MigrationError, match="newer than this dropkit"):
            await Migrator(db, [WIDGETS_V1]).migrate()


def test_chains_must_be_contiguous() -> None:
    db = Database("sqlite:///x.db")
    with pytest.raises(MigrationError, match="without gaps"):
        Migrator(db, [WIDGETS_V2])


async def test_concurrent_migrators_apply_once(database_url: str) -> None:
    async with Database(database_url) as db:
        results: list[int] = []

        async def run() -> None:
            async with Database(database_url) as other:
                done = await Migrator(other, [WIDGETS_V1, WIDGETS_V2]).migrate()
                results.append(len(done))

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(run)
        assert sum(results) == 2
        assert await Migrator(db, [WIDGETS_V1, WIDGETS_V2]).applied() == {"test": 2}


async def test_transactions_commit_roll_back_and_translate_errors(database_url: str) -> None:
    async with Database(database_url) as db:
        await Migrator(db, [WIDGETS_V1]).migrate()
        async with db.transaction():
            await db.execute("INSERT INTO widgets (name) VALUES ({})", "a")
            async with db.transaction():  # nested blocks join the outer transaction
                await db.execute("INSERT INTO widgets (name) VALUES ({})", "b")
        with pytest.raises(RuntimeError):
            async with db.transaction():
                await db.execute("INSERT INTO widgets (name) VALUES ({})", "c")
                raise RuntimeError("boom")
        with pytest.raises(IntegrityError):
            await db.execute("INSERT INTO widgets (name) VALUES ({})", "a")
        with pytest.raises(StorageError):
            await db.execute("SELECT * FROM no_such_table")
        names = [r["name"] for r in await db.fetch("SELECT name FROM widgets ORDER BY name")]
        assert names == ["a", "b"]


async def test_cancelled_transaction_rolls_back_and_pool_survives(database_url: str) -> None:
    async with Database(database_url, pool_size=2) as db:
        await Migrator(db, [WIDGETS_V1]).migrate()
        with anyio.move_on_after(0.2):
            async with db.transaction():
                await db.execute("INSERT INTO widgets (name) VALUES ({})", "lost")
                await anyio.sleep(5)
        for i in range(5):  # the pool still hands out working connections
            await db.execute("INSERT INTO widgets (name) VALUES ({})", f"w{i}")
        assert await db.fetchval("SELECT COUNT(*) FROM widgets") == 5


async def test_concurrent_writers_do_not_fail(database_url: str) -> None:
    async with Database(database_url, pool_size=4) as db:
        await Migrator(db, [WIDGETS_V1, WIDGETS_V2]).migrate()
        await db.execute("INSERT INTO widgets (name, size) VALUES ('counter', 0)")

        async def bump() -> None:
            for _ in range(10):
                async with db.transaction():
                    size = await db.fetchval("SELECT size FROM widgets WHERE name = 'counter'")
                    await db.execute(
                        "UPDATE widgets SET size = {} WHERE name = 'counter' AND size = {}",
                        size + 1,
                        size,
                    )

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(bump)
        size = await db.fetchval("SELECT size FROM widgets WHERE name = 'counter'")
        if db.dialect == "sqlite":
            assert size == 80  # BEGIN IMMEDIATE serialises writers: no lost updates
        else:
            assert 10 <= size <= 80  # read committed: the guarded UPDATE never double-counts


async def test_nested_block_that_fails_rolls_back_only_itself(database_url: str) -> None:
    async with Database(database_url) as db:
        await Migrator(db, [WIDGETS_V1]).migrate()
        async with db.transaction():
            await db.execute("INSERT INTO widgets (name) VALUES ({})", "outer")
            with pytest.raises(IntegrityError):
                async with db.transaction():
                    await db.execute("INSERT INTO widgets (name) VALUES ({})", "inner")
                    await db.execute("INSERT INTO widgets (name) VALUES ({})", "outer")
            await db.execute("INSERT INTO widgets (name) VALUES ({})", "after")
        names = [r["name"] for r in await db.fetch("SELECT name FROM widgets ORDER BY name")]
        assert names == ["after", "outer"]


async def test_driver_suffix_in_postgres_url_is_accepted(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        return
    async with Database(database_url.replace("postgresql://", "postgresql+asyncpg://")) as db:
        assert await db.fetchval("SELECT 1") == 1


async def test_cancel_while_waiting_for_the_write_lock_loses_nothing(database_url: str) -> None:
    async with Database(database_url, pool_size=3) as db:
        await Migrator(db, [WIDGETS_V1]).migrate()
        holding = anyio.Event()

        async def hold_lock() -> None:
            async with db.transaction():
                await db.execute("INSERT INTO widgets (name) VALUES ({})", "holder")
                if db.dialect == "postgres":  # make the waiter wait on PostgreSQL too
                    await db.execute("LOCK TABLE widgets IN EXCLUSIVE MODE")
                holding.set()
                await anyio.sleep(1)

        async with anyio.create_task_group() as tg:
            tg.start_soon(hold_lock)
            await holding.wait()
            with anyio.move_on_after(0.2):
                async with db.transaction():  # waits for the lock, then is cancelled
                    await db.execute("INSERT INTO widgets (name) VALUES ({})", "cancelled")
        for name in ("after-1", "after-2", "after-3"):
            await db.execute("INSERT INTO widgets (name) VALUES ({})", name)
        names = [r["name"] for r in await db.fetch("SELECT name FROM widgets ORDER BY name")]
        assert names == ["after-1", "after-2", "after-3", "holder"]
        assert not db.in_transaction


async def test_failed_commit_releases_everything(database_url: str) -> None:
    async with Database(database_url, pool_size=2) as db:
        if db.dialect == "postgres":
            await db.execute_ddl(
                "CREATE TABLE codes (code TEXT, CONSTRAINT codes_unique UNIQUE (code)"
                " DEFERRABLE INITIALLY DEFERRED)"
            )
        else:
            await db.execute_ddl(
                "CREATE TABLE codes (code TEXT PRIMARY KEY, parent TEXT REFERENCES codes (code)"
                " DEFERRABLE INITIALLY DEFERRED)"
            )
        for _ in range(5):  # more failures than connections in the pool
            with pytest.raises(IntegrityError):
                async with db.transaction():
                    if db.dialect == "postgres":
                        await db.execute("INSERT INTO codes (code) VALUES ('a'), ('a')")
                    else:
                        await db.execute("INSERT INTO codes (code, parent) VALUES ('a', 'zz')")
            assert not db.in_transaction
        async with db.transaction():
            await db.execute("INSERT INTO codes (code) VALUES ('ok')")
        assert await db.fetchval("SELECT COUNT(*) FROM codes") == 1


async def test_closing_closes_connections_still_lent_out(tmp_path: Path) -> None:
    from dropkit.core.sqlite_engine import PooledSQLiteEngine

    db = Database.sqlite(tmp_path / "lent.db")
    await db.start()
    engine = db.engine
    assert isinstance(engine, PooledSQLiteEngine)
    lent = await engine.acquire()  # a straggler task that never gives it back
    await db.aclose()
    assert not lent._running  # closed with the database (the autouse guard checks the thread)
