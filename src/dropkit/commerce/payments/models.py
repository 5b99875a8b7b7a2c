"""Payments and refunds as stored, and what a webhook did."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dropkit.commerce.amounts import money_from_db
from dropkit.commerce.payments.gateway import GatewayEvent
from dropkit.core.money import Money

__all__ = ["Payment", "PaymentStatus", "Refund", "RefundStatus", "WebhookOutcome"]

PaymentStatus = Literal[
    "requires_action",
    "authorized",
    "pending_offline",
    "captured",
    "failed",
    "refunded",
    "cancelled",
]
"""The gateway statuses, plus ``failed`` (the provider said so; a later success may still come)
and ``refunded`` (everything captured was given back, or is on its way back)."""

RefundStatus = Literal["pending", "succeeded", "failed"]
"""``pending``: reserved or accepted by the gateway, the money is not back yet; ``succeeded``:
given back; ``failed``: the gateway could not give it back, so it no longer counts."""


def _when(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


class Payment(BaseModel):
    """One attempt to take money for an order through one gateway."""

    model_config = ConfigDict(frozen=True)

    id: str
    order_id: str
    gateway: str
    reference: str | None
    status: PaymentStatus
    amount: Money
    captured_amount: Money
    refunded_amount: Money
    client_secret: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def refundable(self) -> Money:
        """What may still be refunded: captured minus refunded."""
        return self.captured_amount - self.refunded_amount

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Payment:
        currency = row["currency"]
        return cls(
            id=row["id"],
            order_id=row["order_id"],
            gateway=row["gateway"],
            reference=row["reference"],
            status=row["status"],
            amount=money_from_db(row["amount"], currency),
            captured_amount=money_from_db(row["captured_amount"], currency),
            refunded_amount=money_from_db(row["refunded_amount"], currency),
            client_secret=row["client_secret"],
            created_at=_when(row["created_at"]),
            updated_at=_when(row["updated_at"]),
        )


class Refund(BaseModel):
    """Money given back. ``reference`` is the gateway's id; ``None`` while the call is in flight
    (or its outcome unknown: retry :meth:`Payments.refund` with the same idempotency key).
    Only a ``succeeded`` refund is money the customer has; ``pending`` is on its way."""

    model_config = ConfigDict(frozen=True)

    id: str
    order_id: str
    payment_id: str | None
    amount: Money
    reason: str
    reference: str | None
    created_at: datetime
    status: RefundStatus = "succeeded"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Refund:
        return cls(
            id=row["id"],
            order_id=row["order_id"],
            payment_id=row["payment_id"],
            amount=money_from_db(row["amount"], row["currency"]),
            reason=row["reason"],
            reference=row["reference"],
            created_at=_when(row["created_at"]),
            status=row["status"],
        )


class WebhookOutcome(BaseModel):
    """What :meth:`Payments.handle_webhook` did.

    ``duplicate``: the event was seen before and nothing changed. ``payment`` is the payment the
    event is about (after the change), ``None`` for events about nothing we track. ``changed``
    says whether this event moved the payment (a success already known from a capture does not).
    """

    model_config = ConfigDict(frozen=True)

    duplicate: bool
    event: GatewayEvent
    payment: Payment | None = None
    changed: bool = False
