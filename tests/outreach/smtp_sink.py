"""A real SMTP server on loopback (aiosmtpd in its own thread) that records what it accepts."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class Received:
    message_id: str
    recipient: str
    at: float
    raw: bytes


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.sink.throttle_next > 0:
            self.sink.throttle_next -= 1
            return "421 4.7.0 slow down"
        if self.sink.stall_rcpt:
            await asyncio.sleep(self.sink.stall_rcpt)
        if address.startswith("reject"):
            return "550 5.1.1 no such user"
        if self.sink.hang_up_next > 0:  # the link drops before the message was handed over
            self.sink.hang_up_next -= 1
            assert server.transport is not None
            server.transport.close()
            return "421 4.4.2 closing"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.stall_data:  # the message arrived, the reply does not come in time
            await asyncio.sleep(self.sink.stall_data)
        raw = envelope.original_content or b""
        headers = BytesHeaderParser().parsebytes(raw)
        message_id = str(headers.get("Message-ID", "")).strip().strip("<>")
        with self.sink.lock:
            for rcpt in envelope.rcpt_tos:
                self.sink.received.append(Received(message_id, rcpt, time.time(), raw))
        return "250 OK"


class SmtpSink:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.throttle_next = 0
        self.hang_up_next = 0
        self.stall_rcpt = 0.0  # seconds the server sits on each RCPT TO / end of DATA
        self.stall_data = 0.0
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def per_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(r.recipient for r in self.received)

    async def lookup(self, message_ids: Sequence[str]) -> set[str]:
        """What a provider's delivery log answers: which of these ids were accepted."""
        with self.lock:
            seen = {r.message_id for r in self.received}
        return {m for m in message_ids if m in seen}
