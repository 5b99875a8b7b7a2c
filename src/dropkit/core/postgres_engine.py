"""Piccolo's PostgreSQL engine without blocking constructors or leaky transactions.

``PostgresEngine.__init__`` opens a connection synchronously (in a thread, blocking the event
loop) to check the server version and create extensions, and reports failures as warnings.
dropkit constructs engines inside running applications, so both checks are skipped here and
the version is checked asynchronously once the pool is up (:meth:`Database.start`).

Piccolo's ``PostgresTransaction.__aexit__`` skips releasing the connection and resetting the
"current transaction" when COMMIT itself fails (a deferred constraint, a serialization
failure) or when the task is cancelled meanwhile; this transaction always cleans up.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import anyio
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction

__all__ = ["QuietPostgresEngine"]


class _SafeTransaction(PostgresTransaction):
    """A Piccolo PostgreSQL transaction whose cleanup cannot be skipped."""

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()  # type: ignore[no-untyped-call]
        try:
            self.transaction = self.connection.transaction()
            await self.begin()  # type: ignore[no-untyped-call]
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._release(broken=True)
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._parent:
            return exc is None
        broken = False
        with anyio.CancelScope(shield=True):
            try:
                if exc is not None:
                    if not self._rolled_back:
                        await self.rollback()  # type: ignore[no-untyped-call]
                elif not self._committed and not self._rolled_back:
                    await self.commit()  # type: ignore[no-untyped-call]
            except BaseException:
                broken = True
                raise
            finally:
                self.engine.current_transaction.reset(self.context)
                await self._release(broken=broken)
        return exc is None

    async def _release(self, *, broken: bool) -> None:
        pool: Any = self.engine.pool
        if pool is None:
            await self.connection.close()
        elif broken:
            # A connection whose transaction state is unknown is terminated, not reused.
            self.connection.terminate()
            await pool.release(self.connection)
        else:
            await pool.release(self.connection)


class QuietPostgresEngine(PostgresEngine):
    """A ``PostgresEngine`` whose constructor does no I/O and whose transactions clean up."""

    async def check_version(self) -> None:
        return None

    async def prep_database(self) -> None:
        return None

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return _SafeTransaction(engine=self, allow_nested=allow_nested)
