"""Offline payments: bank transfer and cash on delivery.

No provider is called: authorize hands the customer instructions and a reference to quote, and
the payment waits (``pending_offline``) until an operator sees the money and captures it.
Refunds are recorded for the operator to pay back by hand. The gateway keeps no state, so it
works the same in every process; its references are derived from the idempotency key, so a
retried checkout gets the same reference (and the customer's transfer still matches).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Literal

from dropkit.commerce.errors import PaymentError
from dropkit.commerce.payments.gateway import (
    GatewayEvent,
    GatewayPayment,
    GatewayPaymentState,
    GatewayRefund,
)
from dropkit.core.errors import ConfigurationError
from dropkit.core.money import Money

__all__ = ["ManualGateway", "ManualKind"]

ManualKind = Literal["bank_transfer", "cash_on_delivery"]

_PREFIX: dict[str, str] = {"bank_transfer": "BT", "cash_on_delivery": "COD"}
_DEFAULT_INSTRUCTIONS: dict[str, str] = {
    "bank_transfer": "Please transfer {amount} and quote the reference {reference}.",
    "cash_on_delivery": "Please have {amount} ready for the courier (reference {reference}).",
}
# Unambiguous upper-case alphabet: references are read aloud and typed into banking apps.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _code(seed: bytes, length: int = 10) -> str:
    digest = hashlib.sha256(seed).digest()
    return "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in digest[:length])


class ManualGateway:
    """Bank transfer or cash on delivery (``kind``), under the gateway ``name`` (default: kind).

    ``instructions`` is a template; ``{amount}`` and ``{reference}`` are filled in (plain
    replacement, not :meth:`str.format`, so a brace in an IBAN note cannot break it).
    """

    def __init__(
        self,
        kind: ManualKind = "bank_transfer",
        *,
        instructions: str | None = None,
        name: str | None = None,
    ) -> None:
        if kind not in _PREFIX:
            raise ConfigurationError(
                f"manual gateway kind must be 'bank_transfer' or 'cash_on_delivery', not {kind!r}"
            )
        self.kind: ManualKind = kind
        self.name: str = name or kind
        self._template = instructions or _DEFAULT_INSTRUCTIONS[kind]

    def instructions_for(self, reference: str, amount: Money) -> str:
        """The payer's instructions; deterministic, so they can be shown again later."""
        return self._template.replace("{amount}", str(amount)).replace("{reference}", reference)

    async def authorize(
        self,
        *,
        amount: Money,
        order_id: str,
        idempotency_key: str,
        customer_email: str | None,
        capture: bool,
    ) -> GatewayPayment:
        """Issue a reference and instructions; nothing is captured until an operator confirms."""
        if amount.amount <= 0:
            raise PaymentError(f"amount must be positive, got {amount}")
        seed = f"{self.name}\x00{idempotency_key}".encode()
        reference = f"{_PREFIX[self.kind]}-{_code(seed)}"
        return GatewayPayment(
            reference=reference,
            status="pending_offline",
            amount=amount,
            captured_amount=Money.zero(amount.currency),
            instructions=self.instructions_for(reference, amount),
        )

    async def capture(
        self, reference: str, *, amount: Money | None, idempotency_key: str
    ) -> GatewayPayment:
        """Record that the money arrived; ``amount`` is required (the gateway keeps no state)."""
        if amount is None:
            raise PaymentError("a manual capture needs the amount that was received")
        if amount.amount <= 0:
            raise PaymentError(f"captured amount must be positive, got {amount}")
        return GatewayPayment(
            reference=reference, status="captured", amount=amount, captured_amount=amount
        )

    async def refund(self, reference: str, *, amount: Money, idempotency_key: str) -> GatewayRefund:
        """Record a refund the operator pays back by hand."""
        if amount.amount <= 0:
            raise PaymentError(f"refund amount must be positive, got {amount}")
        code = _code(f"{reference}\x00{idempotency_key}".encode()) if idempotency_key else None
        return GatewayRefund(
            reference=f"{_PREFIX[self.kind]}R-{code or secrets.token_hex(5).upper()}",
            status="succeeded",
            amount=amount,
        )

    async def fetch(self, reference: str) -> GatewayPaymentState:
        """Always ``pending_offline``: only the operator (the ledger) knows if it arrived."""
        return GatewayPaymentState(reference=self._check(reference), status="pending_offline")

    async def cancel(self, reference: str, *, idempotency_key: str) -> GatewayPaymentState:
        """Nothing is held for an offline payment, so calling it off needs no one's consent."""
        return GatewayPaymentState(reference=self._check(reference), status="cancelled")

    def _check(self, reference: str) -> str:
        if not reference.startswith(f"{_PREFIX[self.kind]}-"):
            raise PaymentError(f"not a {self.name!r} payment reference: {reference!r}")
        return reference

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> GatewayEvent:
        """Offline payments have no provider to call back: always refused."""
        raise PaymentError(f"the {self.name!r} gateway does not receive webhooks")
