"""Serve a Starlette app on 127.0.0.1 inside the current event loop: the demo's stand-ins.

The demo's webhook receiver, its competitor shops and the tests' fake provider servers all need
a real HTTP server on loopback for the length of a block, on a free port, in this process.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import uvicorn
from starlette.applications import Starlette

__all__ = ["serve_on_loopback"]


@asynccontextmanager
async def _unwrapped() -> AsyncIterator[None]:
    """Re-raise a task group's only error as itself, so callers can catch DemoError."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


@asynccontextmanager
async def serve_on_loopback(app: Starlette) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in this event loop; yield its URL.

    The URL is the server's root, without a trailing slash (``http://127.0.0.1:<port>``).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: uvicorn must not reconfigure the process's logging.
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        async with _unwrapped(), anyio.create_task_group() as tg:

            async def run() -> None:
                await server.serve(sockets=[sock])
                tg.cancel_scope.cancel()  # the server stopped on its own (Ctrl-C): stop too

            tg.start_soon(run)
            with anyio.fail_after(10):
                while not server.started:  # noqa: ASYNC110 - uvicorn only exposes a flag
                    await anyio.sleep(0.01)
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                server.should_exit = True
    finally:
        sock.close()
