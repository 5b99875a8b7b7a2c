"""The outbox provider: each message becomes an ``.eml`` file (the embedded default).

Nothing leaves the machine, which is what a demo, a staging site or a test wants. Files are
written atomically (temporary name, then rename) under a name derived from the Message-ID, so
the outbox can always tell whether a message was accepted: reconciliation is exact.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import anyio

from dropkit.outreach.errors import ProviderError
from dropkit.outreach.message import OutgoingMessage, render_mime
from dropkit.outreach.providers.base import SendResult

__all__ = ["OutboxProvider"]


def _file_name(message_id: str) -> str:
    return message_id.replace("@", "_at_").replace("/", "_") + ".eml"


class OutboxProvider:
    """Writes messages to ``directory`` as ``.eml`` files."""

    name = "outbox"
    batch_size = 200

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _write(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.directory.mkdir(parents=True, exist_ok=True)
        results = []
        for message in messages:
            target = self.directory / _file_name(message.message_id)
            temporary = target.with_suffix(".tmp")
            try:
                temporary.write_bytes(render_mime(message))
                os.replace(temporary, target)
            except OSError as exc:
                error = ProviderError(f"cannot write {target}: {exc}")
                results.append(SendResult(message.message_id, error=error))
                continue
            results.append(SendResult(message.message_id, provider_message_id=target.name))
        return results

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        return await anyio.to_thread.run_sync(self._write, messages)

    async def accepted(self, message_ids: Sequence[str]) -> set[str] | None:
        return {m for m in message_ids if (self.directory / _file_name(m)).exists()}

    def files(self) -> list[Path]:
        """The messages written so far, oldest first."""
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)

    async def aclose(self) -> None:
        return None
