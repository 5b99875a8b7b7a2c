"""What checkout needs from :class:`Payments`: authorize before its transaction, record inside
it, and cancel the authorisation if the order could not be written after all."""

from __future__ import annotations

from typing import Any

from dropkit.commerce.errors import PaymentError
from dropkit.commerce.payments.gateway import GatewayPayment
from dropkit.commerce.payments.service import Payments
from dropkit.core.money import Money

__all__ = ["CheckoutPayments"]


class CheckoutPayments:
    """Adapts :class:`Payments` to :class:`~dropkit.commerce.checkout.PaymentStarter`.

    Gateway keys derive from the checkout's own key, so a retried checkout asks for the same
    payment and a retried cancel cancels it once.
    """

    def __init__(self, payments: Payments) -> None:
        self._payments = payments

    async def authorize_order(
        self, *, order_id: str, gateway: str, amount: Money, key: str, email: str
    ) -> GatewayPayment:
        return await self._payments.authorize(
            order_id, gateway, amount, idempotency_key=f"checkout:{key}", email=email
        )

    async def record_order_payment(
        self, *, order_id: str, gateway: str, authorization: Any, amount: Money
    ) -> None:
        await self._payments.record(order_id, gateway, authorization, amount)

    async def cancel_order_payment(self, *, gateway: str, authorization: Any, key: str) -> None:
        if not isinstance(authorization, GatewayPayment):
            raise PaymentError(f"not an authorisation from this store: {authorization!r}")
        await self._payments.release(
            gateway, authorization.reference, idempotency_key=f"checkout-cancel:{key}"
        )
