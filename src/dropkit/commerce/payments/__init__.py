"""Payments behind a small gateway protocol: offline (bank transfer, cash on delivery) built in,
Stripe through its REST API; a ledger that applies each webhook once.

Checkout calls :meth:`Payments.authorize` before its order transaction (network only) and
:meth:`Payments.record` inside it (database only); :meth:`Payments.handle_webhook` verifies a
delivery, drops duplicates by event id and lets the caller mark the order paid in the same
transaction. If the order cannot be written after the authorisation (stock gone, a database
error), checkout cancels it at the gateway (:class:`CheckoutPayments` does both).
"""

from __future__ import annotations

from dropkit.commerce.payments.checkout_port import CheckoutPayments
from dropkit.commerce.payments.gateway import (
    GatewayEvent,
    GatewayEventType,
    GatewayPayment,
    GatewayPaymentState,
    GatewayPaymentStatus,
    GatewayRefund,
    GatewayRefundStatus,
    PaymentGateway,
    PaymentGatewayError,
    PaymentNotCancellableError,
    WebhookSignatureError,
)
from dropkit.commerce.payments.manual import ManualGateway, ManualKind
from dropkit.commerce.payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    WebhookOutcome,
)
from dropkit.commerce.payments.service import OnPaymentEvent, Payments
from dropkit.commerce.payments.stripe import DEFAULT_STRIPE_API_VERSION, StripeGateway

__all__ = [
    "DEFAULT_STRIPE_API_VERSION",
    "CheckoutPayments",
    "GatewayEvent",
    "GatewayEventType",
    "GatewayPayment",
    "GatewayPaymentState",
    "GatewayPaymentStatus",
    "GatewayRefund",
    "GatewayRefundStatus",
    "ManualGateway",
    "ManualKind",
    "OnPaymentEvent",
    "Payment",
    "PaymentGateway",
    "PaymentGatewayError",
    "PaymentNotCancellableError",
    "PaymentStatus",
    "Payments",
    "Refund",
    "RefundStatus",
    "StripeGateway",
    "WebhookOutcome",
    "WebhookSignatureError",
]
