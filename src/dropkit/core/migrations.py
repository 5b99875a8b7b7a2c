"""Versioned, in-place schema migrations.

Each component (``core``, ``commerce``, ``media``...) owns a chain of :class:`Migration` steps
numbered 1, 2, 3... Each step is frozen once released: it is SQL written with a few dialect tokens
(``{json}``, ``{ts}``, ``{bool}``, ``{true}``, ``{false}``, ``{serial}``, ``{bigint}``,
``{decimal}``; a literal brace is doubled, ``'{{}}'``), or a Python callable for data changes. The
migrator records applied steps in ``dropkit_schema_migrations`` and applies the missing ones in
order, each in its own transaction, under a lock (PostgreSQL advisory lock; SQLite's write lock) so
several processes starting at once migrate exactly once.

Piccolo's own migration machinery needs a ``piccolo_conf.py`` and a global engine, which a
library embedded in someone else's app cannot ask for; this runner is small and explicit instead.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from dropkit.core.database import Database, Dialect
from dropkit.core.errors import MigrationError, StorageError

__all__ = ["Migration", "Migrator", "render_ddl"]

_TOKENS: dict[Dialect, dict[str, str]] = {
    "postgres": {
        "json": "JSONB",
        "ts": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
        "true": "TRUE",
        "false": "FALSE",
        "serial": "BIGSERIAL PRIMARY KEY",
        "bigint": "BIGINT",
        "decimal": "NUMERIC",
    },
    "sqlite": {
        "json": "TEXT",
        "ts": "REAL",
        "bool": "INTEGER",
        "true": "1",
        "false": "0",
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "bigint": "INTEGER",
        "decimal": "TEXT",
    },
}

_LOCK_KEY = 0x64726F70  # "drop"


def render_ddl(statement: str, dialect: Dialect) -> str:
    """Replace the dialect tokens (``{json}``, ``{ts}``...) in ``statement``."""
    try:
        return statement.format_map(_TOKENS[dialect])
    except (KeyError, ValueError, IndexError) as exc:
        raise MigrationError(f"bad token in migration SQL: {exc}") from exc


@dataclass(frozen=True)
class Migration:
    """One frozen step of a component's schema history."""

    component: str
    version: int
    name: str
    statements: Sequence[str] = ()
    postgres: Sequence[str] = ()
    sqlite: Sequence[str] = ()
    python: Callable[[Database], Awaitable[None]] | None = field(default=None, compare=False)

    def sql_for(self, dialect: Dialect) -> list[str]:
        extra = self.postgres if dialect == "postgres" else self.sqlite
        return [render_ddl(s, dialect) for s in (*self.statements, *extra)]


class Migrator:
    """Applies the missing steps of every component's chain to one database."""

    def __init__(self, database: Database, migrations: Iterable[Migration]) -> None:
        self._db = database
        chains: dict[str, list[Migration]] = {}
        for migration in migrations:
            chains.setdefault(migration.component, []).append(migration)
        for component, chain in chains.items():
            chain.sort(key=lambda m: m.version)
            versions = [m.version for m in chain]
            if versions != list(range(1, len(chain) + 1)):
                raise MigrationError(
                    f"migrations of {component!r} must be numbered 1..n without gaps: {versions}"
                )
        self._chains = chains

    async def _ensure_table(self) -> None:
        await self._db.execute_ddl(
            render_ddl(
                "CREATE TABLE IF NOT EXISTS dropkit_schema_migrations ("
                " component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
                " applied_at {ts} NOT NULL, PRIMARY KEY (component, version))",
                self._db.dialect,
            )
        )

    async def applied(self) -> dict[str, int]:
        """The highest applied version per component."""
        await self._ensure_table()
        rows = await self._db.fetch(
            "SELECT component, MAX(version) AS version FROM dropkit_schema_migrations"
            " GROUP BY component"
        )
        return {row["component"]: int(row["version"]) for row in rows}

    def head(self) -> dict[str, int]:
        """The newest version this code knows, per component."""
        return {component: len(chain) for component, chain in self._chains.items()}

    async def migrate(self, target: dict[str, int] | None = None) -> list[Migration]:
        """Apply missing steps up to ``target`` (default: head); return the steps applied."""
        try:
            await self._ensure_table()
        except StorageError:
            # Two processes creating the bookkeeping table at once: the loser retries once.
            await self._ensure_table()
        current = await self.applied()
        for component, version in current.items():
            known = len(self._chains.get(component, []))
            if component in self._chains and version > known:
                raise MigrationError(
                    f"database has {component} schema v{version}, newer than this dropkit "
                    f"(v{known}); upgrade dropkit instead of downgrading the database"
                )
        done: list[Migration] = []
        for component, chain in self._chains.items():
            stop = (target or {}).get(component, len(chain))
            for migration in chain[:stop]:
                if migration.version <= current.get(component, 0):
                    continue
                if await self._apply(migration):
                    done.append(migration)
        return done

    async def _apply(self, migration: Migration) -> bool:
        db = self._db
        try:
            async with db.transaction():
                if db.dialect == "postgres":
                    await db.execute("SELECT pg_advisory_xact_lock({})", _LOCK_KEY)
                already = await db.fetchval(
                    "SELECT COUNT(*) FROM dropkit_schema_migrations"
                    " WHERE component = {} AND version = {}",
                    migration.component,
                    migration.version,
                )
                if already:
                    return False  # another process applied it while we waited for the lock
                for statement in migration.sql_for(db.dialect):
                    await db.execute_ddl(statement)
                if migration.python is not None:
                    await migration.python(db)
                await db.execute(
                    "INSERT INTO dropkit_schema_migrations (component, version, name, applied_at)"
                    " VALUES ({}, {}, {}, {})",
                    migration.component,
                    migration.version,
                    migration.name,
                    time.time(),
                )
        except MigrationError:
            raise
        except StorageError as exc:
            raise MigrationError(
                f"migration {migration.component} v{migration.version} ({migration.name}) "
                f"failed and was rolled back: {exc}"
            ) from exc
        return True
