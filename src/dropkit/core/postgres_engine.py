"""Piccolo's PostgreSQL engine without the blocking work its constructor does.

``PostgresEngine.__init__`` opens a connection synchronously (in a thread, blocking the event
loop) to check the server version and create extensions, and reports failures as warnings.
dropkit constructs engines inside running applications, so both checks are skipped here and
the version is checked asynchronously once the pool is up (:meth:`Database.start`).
"""

from __future__ import annotations

from piccolo.engine.postgres import PostgresEngine

__all__ = ["QuietPostgresEngine"]


class QuietPostgresEngine(PostgresEngine):
    """A ``PostgresEngine`` whose constructor does no I/O."""

    async def check_version(self) -> None:
        return None

    async def prep_database(self) -> None:
        return None
