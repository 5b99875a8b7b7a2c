"""The database handle every dropkit subsystem shares.

A :class:`Database` wraps a Piccolo engine chosen by URL: SQLite (a file; the embedded default)
or PostgreSQL through asyncpg. It offers three things:

* ``bind(Table)``: Piccolo tables are declared once, unbound, and bound at runtime to this
  database's engine, so several databases can live in one process and users need no
  ``piccolo_conf.py``;
* ``transaction()``: a transaction that queries (Piccolo's and raw SQL alike) join through a
  context variable, with cleanup shielded from cancellation;
* ``fetch`` / ``fetchrow`` / ``fetchval`` / ``execute``: raw SQL for hot paths, written once
  with ``{}`` placeholders (Piccolo's ``QueryString``) and compiled per dialect.

Driver errors are translated to :class:`~dropkit.core.errors.StorageError` (and
:class:`~dropkit.core.errors.IntegrityError` for constraint violations) at this boundary.
"""

from __future__ import annotations

import contextvars
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import unquote, urlsplit

import anyio
from piccolo.engine.base import Engine
from piccolo.querystring import QueryString
from piccolo.table import Table

from dropkit.core.errors import (
    ConfigurationError,
    IntegrityError,
    MissingDependencyError,
    StorageError,
)
from dropkit.core.sqlite_engine import PooledSQLiteEngine

__all__ = ["Database", "Dialect", "Row", "param_list"]

logger = logging.getLogger("dropkit.database")

Dialect = Literal["sqlite", "postgres"]
AfterCommit = Callable[[], Awaitable[None]]
Row = dict[str, Any]
T = TypeVar("T")
TableT = TypeVar("TableT", bound=type[Table])


def _asyncpg_errors() -> tuple[type[BaseException], type[BaseException], type[BaseException]]:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - only without the postgres extra
        return (_Never, _Never, _Never)
    return (
        asyncpg.IntegrityConstraintViolationError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    )


class _Never(Exception):
    """Placeholder exception type that is never raised."""


_PG_INTEGRITY, _PG_ERROR, _PG_INTERFACE = _asyncpg_errors()


def param_list(count: int) -> str:
    """``{}, {}, {}``: the parameter list of an ``IN (...)`` list of ``count`` values."""
    return ", ".join(["{}"] * count)


def translate_error(exc: BaseException) -> BaseException:
    """Map a driver exception to dropkit's tree; other exceptions pass through unchanged."""
    if isinstance(exc, sqlite3.IntegrityError | _PG_INTEGRITY):
        return IntegrityError(str(exc))
    if isinstance(exc, sqlite3.Error | _PG_ERROR | _PG_INTERFACE | OSError):
        return StorageError(f"{type(exc).__name__}: {exc}")
    return exc


async def _no_reset(connection: Any) -> None:
    """asyncpg pool ``reset`` hook that does nothing (see :meth:`Database.start`)."""


class Database:
    """One database (SQLite file or PostgreSQL) shared by the subsystems of a dropkit.

    Construct it with a URL (``sqlite:///path/app.db``, ``postgresql://user@host/db``); no I/O
    happens until :meth:`start` (or ``async with``).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        statement_timeout: float | None = 30.0,
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.split("+")[0]
        if scheme == "sqlite":
            # As in SQLAlchemy: sqlite:///relative.db and sqlite:////absolute/path.db
            rest = url.split("://", 1)[1]
            path = unquote(rest[1:]) if rest.startswith("/") else ""
            if not path or ":memory:" in path:
                raise ConfigurationError(
                    f"SQLite URL needs a file path (sqlite:///app.db or sqlite:////abs/app.db): "
                    f"{url!r}"
                )
            self.dialect: Dialect = "sqlite"
            self._sqlite_path: Path | None = Path(path)
        elif scheme in ("postgres", "postgresql"):
            self.dialect = "postgres"
            # SQLAlchemy-style "postgresql+asyncpg://": asyncpg wants the bare scheme.
            url = f"postgresql://{url.split('://', 1)[1]}"
            self._sqlite_path = None
        else:
            raise ConfigurationError(
                f"unsupported database URL {url!r}: use sqlite:///path or postgresql://..."
            )
        if pool_size < 1:
            raise ConfigurationError("pool_size must be at least 1")
        self.url = url
        self._pool_size = pool_size
        self._statement_timeout = statement_timeout
        self._engine: Engine[Any] | None = None
        self._bound: dict[type[Table], type[Table]] = {}
        #: Statements sent through :meth:`fetch` and friends since start: a cheap probe for
        #: query counts in tests (no N+1) and for metrics.
        self.statements = 0
        self._after_commit: contextvars.ContextVar[list[AfterCommit] | None] = (
            contextvars.ContextVar(f"dropkit_after_commit_{id(self)}", default=None)
        )

    @classmethod
    def sqlite(cls, path: str | Path, **kwargs: Any) -> Database:
        """A database in the SQLite file at ``path`` (created on start)."""
        return cls(f"sqlite:///{Path(path).absolute()}", **kwargs)  # absolute: four slashes

    @property
    def engine(self) -> Engine[Any]:
        if self._engine is None:
            raise StorageError("database is not started: use 'async with database' or start()")
        return self._engine

    @property
    def started(self) -> bool:
        return self._engine is not None

    async def start(self) -> None:
        """Open the engine (and its connection pool)."""
        if self._engine is not None:
            return
        if self.dialect == "sqlite":
            assert self._sqlite_path is not None
            self._sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            self._engine = PooledSQLiteEngine(str(self._sqlite_path), pool_size=self._pool_size)
            return
        try:
            from dropkit.core.postgres_engine import QuietPostgresEngine
        except ImportError as exc:  # pragma: no cover - only without the postgres extra
            raise MissingDependencyError("asyncpg", "postgres") from exc
        settings: dict[str, str] = {"application_name": "dropkit"}
        if self._statement_timeout:
            settings["statement_timeout"] = str(int(self._statement_timeout * 1000))
        engine = QuietPostgresEngine(
            config={"dsn": self.url, "server_settings": settings}, extensions=()
        )
        try:
            # dropkit keeps no session state (advisory locks are transaction-scoped), so the
            # reset query asyncpg runs on every release is skipped: ~15% of a job's CPU.
            await engine.start_connection_pool(
                min_size=1, max_size=self._pool_size, reset=_no_reset
            )
        except Exception as exc:
            raise StorageError(
                f"cannot connect to PostgreSQL at {self._safe_url()}: {exc}"
            ) from exc
        self._engine = engine
        version = int(await self.fetchval("SHOW server_version_num"))
        if version < 120000:
            await self.aclose()
            raise ConfigurationError(f"dropkit needs PostgreSQL 12 or newer, found {version}")

    async def aclose(self) -> None:
        """Close the pool; idempotent."""
        engine, self._engine = self._engine, None
        self._bound.clear()
        if engine is None:
            return
        if isinstance(engine, PooledSQLiteEngine):
            await engine.close()
        else:
            await engine.close_connection_pool()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _safe_url(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    # -- tables ---------------------------------------------------------------------------

    def bind(self, table: TableT) -> TableT:
        """Return a subclass of ``table`` bound to this database's engine (cached)."""
        bound = self._bound.get(table)
        if bound is None:
            bound = type(
                table.__name__,
                (table,),
                {"__module__": table.__module__},
                tablename=table._meta.tablename,
                db=self.engine,
            )
            self._bound[table] = bound
        return bound  # type: ignore[return-value]

    # -- transactions ---------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """True while the current task runs inside :meth:`transaction`."""
        return self._engine is not None and self._engine.current_transaction.get() is not None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the block in one transaction.

        A nested block runs in a savepoint of the outer transaction: if it raises, only its own
        writes are undone, and the outer block may catch the error and go on. On SQLite the
        transaction is ``BEGIN IMMEDIATE``: it takes the write lock up front, so concurrent
        writers queue on the busy timeout instead of failing on lock upgrade. Callbacks
        registered with :meth:`after_commit` run once the outermost block committed.
        """
        if self.engine.current_transaction.get() is not None:
            async with self._savepoint():
                yield
            return
        token = self._after_commit.set([])
        tx = self.engine.transaction()
        try:
            try:
                await tx.__aenter__()
            except BaseException as exc:
                raise translate_error(exc) from exc
            try:
                yield
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    try:
                        await tx.__aexit__(type(exc), exc, exc.__traceback__)
                    except BaseException as cleanup:  # pragma: no cover - rollback failed
                        raise translate_error(cleanup) from exc
                raise
            with anyio.CancelScope(shield=True):
                try:
                    await tx.__aexit__(None, None, None)
                except BaseException as exc:
                    raise translate_error(exc) from exc
            callbacks = self._after_commit.get() or []
        finally:
            self._after_commit.reset(token)
        for callback in callbacks:
            try:
                await callback()
            except Exception:
                logger.exception("after-commit callback failed")

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        outer = self.engine.current_transaction.get()
        assert outer is not None
        try:
            savepoint = await outer.savepoint()
        except BaseException as exc:
            raise translate_error(exc) from exc
        try:
            yield
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                try:
                    await savepoint.rollback_to()
                except BaseException as cleanup:  # pragma: no cover - rollback failed
                    raise translate_error(cleanup) from exc
            raise
        try:
            await savepoint.release()
        except BaseException as exc:
            raise translate_error(exc) from exc

    async def after_commit(self, callback: AfterCommit) -> None:
        """Run ``callback`` after the current transaction commits (now, if there is none).

        Used to wake workers only once the rows they will look for are visible. A callback that
        fails is logged, never raised: the transaction it follows is already committed.
        """
        pending = self._after_commit.get()
        if pending is not None:
            pending.append(callback)
            return
        try:
            await callback()
        except Exception:
            logger.exception("after-commit callback failed")

    # -- raw SQL --------------------------------------------------------------------------

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run ``sql`` (``{}`` placeholders) and return every row as a dict."""
        self.statements += 1
        try:
            rows = await self.engine.run_querystring(QueryString(sql, *args))
        except BaseException as exc:
            raise translate_error(exc) from exc
        # SQLite rows are dicts already; asyncpg's Records become dicts here.
        return [row if type(row) is dict else dict(row) for row in rows] if rows else []

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Run ``sql`` and return its first row, or ``None``."""
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Run ``sql`` and return the first column of its first row, or ``None``."""
        row = await self.fetchrow(sql, *args)
        return next(iter(row.values())) if row else None

    async def execute(self, sql: str, *args: Any) -> None:
        """Run ``sql`` for its effect."""
        await self.fetch(sql, *args)

    async def execute_ddl(self, statement: str) -> None:
        """Run one statement verbatim, without parameters (schema changes)."""
        try:
            await self.engine.run_ddl(statement)
        except BaseException as exc:
            raise translate_error(exc) from exc

    async def run_in_transaction(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Call ``fn`` inside :meth:`transaction` and return its result."""
        async with self.transaction():
            return await fn()
