"""The provider protocol: send a batch of rendered messages, report each one's outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dropkit.outreach.errors import ProviderError
from dropkit.outreach.message import OutgoingMessage

__all__ = ["EmailProvider", "SendResult"]


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one message: accepted (with the provider's id) or an error."""

    message_id: str
    provider_message_id: str | None = None
    error: ProviderError | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None


@runtime_checkable
class EmailProvider(Protocol):
    """What the sender needs from SMTP, SendGrid, Mailgun or the outbox."""

    name: str
    #: How many messages one :meth:`send_batch` call should carry.
    batch_size: int

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Send; one result per message, in order. Throttling raises ProviderThrottledError."""
        ...

    async def accepted(self, message_ids: Sequence[str]) -> set[str] | None:
        """Which of these Message-IDs the provider accepted, or None if it cannot tell.

        Used to reconcile claims a crashed sender left: found means sent, not found means safe
        to send; None means nobody knows, and the ledger parks the row for review.
        """
        ...

    async def aclose(self) -> None: ...
