"""The payment gateway protocol: what the store needs from any way of taking money.

A gateway is a small driver (one per module: :mod:`.manual`, :mod:`.stripe`) that talks to the
payment provider and returns plain models; it never touches the database. Keeping it free of
storage is what lets checkout call :meth:`PaymentGateway.authorize` *before* opening the order
transaction (no network call holds a database lock) and record the result inside it.

Every method that moves money takes an ``idempotency_key``: callers derive it from something
stable (the checkout's own key, ``capture:<payment id>``...), so a retry after a timeout can never
charge, capture or refund twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from dropkit.commerce.errors import PaymentError
from dropkit.core.money import Money

__all__ = [
    "GatewayEvent",
    "GatewayEventType",
    "GatewayPayment",
    "GatewayPaymentState",
    "GatewayPaymentStatus",
    "GatewayRefund",
    "GatewayRefundStatus",
    "PaymentGateway",
    "PaymentGatewayError",
    "PaymentNotCancellableError",
    "WebhookSignatureError",
]

GatewayPaymentStatus = Literal[
    "requires_action", "authorized", "captured", "pending_offline", "cancelled"
]
"""``requires_action``: the customer must still confirm (card form, 3-D Secure);
``authorized``: funds held, capture pending; ``captured``: money taken;
``pending_offline``: waiting for a bank transfer or cash on delivery; ``cancelled``: the
payment was called off and no money is held."""

GatewayRefundStatus = Literal["pending", "succeeded", "failed"]
"""``pending``: accepted, the money is not back yet (bank transfers, some cards);
``succeeded``: given back; ``failed``: the provider could not give it back (or it was
cancelled), so it is still the store's."""
GatewayEventType = Literal[
    "payment.authorized",
    "payment.succeeded",
    "payment.failed",
    "refund.succeeded",
    "refund.updated",
    "other",
]
"""``payment.authorized``: funds are held, ready to capture (a ``capture=False`` payment the
customer confirmed); ``refund.updated``: one refund's status changed (``refund_reference``,
``refund_status``); the others as named; ``other`` for events the store does not act on."""


class PaymentGatewayError(PaymentError):
    """The provider refused or failed a request; carries what it said, for logs and support.

    ``status_code`` is the HTTP status (``None`` when the provider was unreachable);
    ``error_type`` and ``code`` are the provider's own (Stripe: ``card_error`` /
    ``card_declined``); ``retryable`` says whether the same call may succeed later.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        code: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.code = code
        self.retryable = retryable


class PaymentNotCancellableError(PaymentGatewayError):
    """The payment is past cancelling (Stripe: it already succeeded); refund it instead.

    ``status`` is what the provider says the payment is now.
    """

    def __init__(self, message: str, *, status: str, code: str | None = None) -> None:
        super().__init__(message, status_code=400, code=code)
        self.status = status


class WebhookSignatureError(PaymentError):
    """A webhook's signature is missing, malformed, stale or wrong: the request is not trusted."""


class GatewayPayment(BaseModel):
    """What the gateway says about one payment after authorize or capture.

    ``amount`` is what was authorized; ``captured_amount`` is what was taken so far (zero until
    captured). ``client_secret`` goes to the browser for the provider's own confirmation step;
    ``instructions`` tell an offline payer what to do (IBAN and reference, cash on delivery).
    """

    model_config = ConfigDict(frozen=True)

    reference: str
    status: GatewayPaymentStatus
    amount: Money
    captured_amount: Money
    client_secret: str | None = None
    instructions: str | None = None


class GatewayPaymentState(BaseModel):
    """What the provider says about a payment now (:meth:`PaymentGateway.fetch`, ``cancel``).

    ``amount`` and ``captured_amount`` are ``None`` when the gateway cannot know them (an
    offline gateway keeps no state: the store's own ledger is the truth there).
    """

    model_config = ConfigDict(frozen=True)

    reference: str
    status: GatewayPaymentStatus
    amount: Money | None = None
    captured_amount: Money | None = None


class GatewayRefund(BaseModel):
    """One refund as the gateway recorded it."""

    model_config = ConfigDict(frozen=True)

    reference: str
    status: GatewayRefundStatus
    amount: Money


class GatewayEvent(BaseModel):
    """A verified webhook, normalised so the store does not speak each provider's dialect.

    ``reference`` is the payment's gateway reference (the PaymentIntent id for Stripe), ``None``
    for events about nothing we track. ``amount`` is what was received (``payment.succeeded``),
    what may be captured (``payment.authorized``), what was asked (``payment.failed``), or the
    *total* refunded on the payment so far (``refund.succeeded``): a total makes applying it
    idempotent and insensitive to delivery order. ``raw_type`` is the
    provider's own type, kept for logs.
    """

    model_config = ConfigDict(frozen=True)

    event_id: str
    type: GatewayEventType
    raw_type: str
    reference: str | None = None
    amount: Money | None = None
    refund_reference: str | None = None
    refund_status: GatewayRefundStatus | None = None


@runtime_checkable
class PaymentGateway(Protocol):
    """A way of taking money. Implementations do no I/O in their constructor."""

    name: str

    async def authorize(
        self,
        *,
        amount: Money,
        order_id: str,
        idempotency_key: str,
        customer_email: str | None,
        capture: bool,
    ) -> GatewayPayment:
        """Start a payment; with ``capture=False`` only hold the funds."""
        ...

    async def capture(
        self, reference: str, *, amount: Money | None, idempotency_key: str
    ) -> GatewayPayment:
        """Take held funds (all of them when ``amount`` is ``None``)."""
        ...

    async def refund(self, reference: str, *, amount: Money, idempotency_key: str) -> GatewayRefund:
        """Give back ``amount`` of a captured payment."""
        ...

    async def fetch(self, reference: str) -> GatewayPaymentState:
        """What the provider says about the payment ``reference`` now (read only)."""
        ...

    async def cancel(self, reference: str, *, idempotency_key: str) -> GatewayPaymentState:
        """Call off a payment that has not been captured, releasing any held funds.

        Cancelling an already cancelled payment returns it; one that already took the money
        raises :class:`PaymentNotCancellableError`.
        """
        ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> GatewayEvent:
        """Check a webhook's signature and parse it; raise :class:`WebhookSignatureError`."""
        ...
