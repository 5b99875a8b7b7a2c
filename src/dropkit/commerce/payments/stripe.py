"""Stripe, through its REST API with httpx (no SDK: four endpoints do not justify one).

Speaks Stripe's wire format: form-encoded ``POST`` bodies (``metadata[order_id]=...``), amounts
as Stripe counts them (:mod:`.stripe_amounts`: whole yen, thousandths of a dinar...), lower-case
currency codes, ``Authorization: Bearer``, a pinned ``Stripe-Version`` and an
``Idempotency-Key`` on every ``POST``. Because every ``POST`` carries its key (and a ``GET``
changes nothing), resending one is always safe: 409, 429, 5xx and network failures are retried
a few times with exponential backoff (honouring ``Retry-After`` and ``Stripe-Should-Retry``),
reusing the same key, so a retried charge is charged once.

The payment is a PaymentIntent created unconfirmed: the browser confirms it with the returned
``client_secret`` (Stripe.js), and the ``payment_intent.succeeded`` webhook tells the store the
money arrived. Webhooks are verified per Stripe's scheme: ``Stripe-Signature: t=<ts>,v1=<hex>``
where ``v1`` is HMAC-SHA256 of ``f"{t}.{body}"`` under the endpoint secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import anyio
import httpx

from dropkit._version import __version__
from dropkit.commerce.errors import PaymentError
from dropkit.commerce.payments.gateway import (
    GatewayEvent,
    GatewayEventType,
    GatewayPayment,
    GatewayPaymentState,
    GatewayPaymentStatus,
    GatewayRefund,
    GatewayRefundStatus,
    PaymentGatewayError,
    PaymentNotCancellableError,
    WebhookSignatureError,
)
from dropkit.commerce.payments.stripe_amounts import from_stripe_amount, to_stripe_amount
from dropkit.core.errors import ConfigurationError
from dropkit.core.money import Money

__all__ = ["DEFAULT_STRIPE_API_VERSION", "StripeGateway"]

DEFAULT_STRIPE_API_VERSION = "2024-06-20"
"""The API version requests are pinned to, so an account upgrade cannot change the answers."""

_ID = re.compile(r"[A-Za-z0-9_]{1,255}")  # Stripe object ids; also keeps paths unforgeable
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_MAX_DELAY = 10.0  # seconds; a checkout should fail rather than hang on a long Retry-After

_INTENT_STATUS: dict[str, GatewayPaymentStatus] = {
    "requires_payment_method": "requires_action",
    "requires_confirmation": "requires_action",
    "requires_action": "requires_action",
    "processing": "requires_action",
    "requires_capture": "authorized",
    "succeeded": "captured",
    "canceled": "cancelled",
}
_REFUND_STATUS: dict[str, GatewayRefundStatus] = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}
_EVENT_TYPES: dict[str, GatewayEventType] = {
    "payment_intent.amount_capturable_updated": "payment.authorized",
    "payment_intent.succeeded": "payment.succeeded",
    "payment_intent.payment_failed": "payment.failed",
    "charge.refunded": "refund.succeeded",
    "refund.updated": "refund.updated",
    "refund.failed": "refund.updated",
    "charge.refund.updated": "refund.updated",
}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


_money = from_stripe_amount


def _check_id(reference: str) -> str:
    if not isinstance(reference, str) or not _ID.fullmatch(reference):
        raise PaymentError(f"not a Stripe object id: {reference!r}")
    return reference


class StripeGateway:
    """Card payments through Stripe PaymentIntents.

    ``webhook_secret`` is the endpoint's ``whsec_...`` secret (several may be given while one is
    rotated). Pass ``client`` to share an ``httpx.AsyncClient`` (it is then yours to close);
    otherwise one is opened on first use and closed by :meth:`aclose`. ``base_url`` points at
    a Stripe-compatible server (tests use one on loopback). ``max_retries`` counts resends after
    the first attempt; ``retry_backoff`` is the first delay in seconds, doubled each time.
    """

    def __init__(
        self,
        api_key: str,
        webhook_secret: str | Sequence[str],
        *,
        name: str = "stripe",
        base_url: str = "https://api.stripe.com",
        client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
        api_version: str = DEFAULT_STRIPE_API_VERSION,
        webhook_tolerance: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_key:
            raise ConfigurationError("StripeGateway needs an API key (sk_live_... or sk_test_...)")
        secrets = [webhook_secret] if isinstance(webhook_secret, str) else list(webhook_secret)
        if not secrets or not all(secrets):
            raise ConfigurationError("StripeGateway needs the webhook endpoint secret (whsec_...)")
        if max_retries < 0 or retry_backoff < 0 or webhook_tolerance <= 0:
            raise ConfigurationError("retries, backoff and tolerance must not be negative")
        self.name = name
        self._api_key = api_key
        self._webhook_keys = [secret.encode() for secret in secrets]
        self._base_url = base_url.rstrip("/")
        self._client = client
        self._owns_client = client is None
        self._timeout = timeout
        self._max_retries = max_retries
        self._retry_backoff = retry_backoff
        self._api_version = api_version
        self._tolerance = webhook_tolerance
        self._clock = clock

    def __repr__(self) -> str:  # never show the key
        return f"StripeGateway(name={self.name!r}, base_url={self._base_url!r})"

    async def aclose(self) -> None:
        """Close the HTTP client if this gateway opened it; idempotent."""
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- gateway protocol -------------------------------------------------------------------

    async def authorize(
        self,
        *,
        amount: Money,
        order_id: str,
        idempotency_key: str,
        customer_email: str | None,
        capture: bool,
    ) -> GatewayPayment:
        """Create an unconfirmed PaymentIntent; the browser confirms it with ``client_secret``."""
        data = {
            "amount": str(to_stripe_amount(amount)),
            "currency": amount.currency.lower(),
            "capture_method": "automatic" if capture else "manual",
            "metadata[order_id]": order_id,
        }
        if customer_email:
            data["receipt_email"] = customer_email
        return self._payment(await self._post("/v1/payment_intents", data, idempotency_key))

    async def capture(
        self, reference: str, *, amount: Money | None, idempotency_key: str
    ) -> GatewayPayment:
        """Capture a ``requires_capture`` PaymentIntent, in full or ``amount`` of it."""
        data = {} if amount is None else {"amount_to_capture": str(to_stripe_amount(amount))}
        path = f"/v1/payment_intents/{_check_id(reference)}/capture"
        return self._payment(await self._post(path, data, idempotency_key))

    async def refund(self, reference: str, *, amount: Money, idempotency_key: str) -> GatewayRefund:
        """Refund ``amount`` of the PaymentIntent ``reference``."""
        data = {"payment_intent": _check_id(reference), "amount": str(to_stripe_amount(amount))}
        body = await self._post("/v1/refunds", data, idempotency_key)
        raw_status = body.get("status")
        refund_id = body.get("id")
        if not isinstance(refund_id, str):
            raise PaymentGatewayError("Stripe returned a refund without an id")
        status = _REFUND_STATUS.get(str(raw_status))
        if status is None or status == "failed":
            raise PaymentGatewayError(
                f"Stripe refund {refund_id} is {raw_status}", code=str(raw_status)
            )
        return GatewayRefund(
            reference=refund_id,
            status=status,
            amount=_money(body.get("amount"), body.get("currency")),
        )

    async def fetch(self, reference: str) -> GatewayPaymentState:
        """``GET /v1/payment_intents/{id}``: the intent as Stripe holds it now."""
        path = f"/v1/payment_intents/{_check_id(reference)}"
        return self._state(await self._request("GET", path, {}, None))

    async def cancel(self, reference: str, *, idempotency_key: str) -> GatewayPaymentState:
        """``POST /v1/payment_intents/{id}/cancel``, releasing any authorisation.

        Stripe refuses to cancel an intent that is not cancellable; the intent is then read
        back: already ``canceled`` is success (a retried cancel), anything else (``succeeded``,
        or ``processing``) raises :class:`PaymentNotCancellableError`.
        """
        path = f"/v1/payment_intents/{_check_id(reference)}/cancel"
        try:
            body = await self._post(path, {}, idempotency_key)
        except PaymentGatewayError as exc:
            if exc.code != "payment_intent_unexpected_state":
                raise
            now = await self.fetch(reference)
            if now.status == "cancelled":
                return now
            raise PaymentNotCancellableError(
                f"Stripe PaymentIntent {reference} cannot be cancelled: it is {now.status}"
                " (refund it instead)",
                status=now.status,
                code=exc.code,
            ) from None
        return self._state(body)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> GatewayEvent:
        """Check ``Stripe-Signature`` and return the normalised event.

        Refused (:class:`WebhookSignatureError`): a missing or malformed header, a timestamp
        further than the tolerance from now in either direction (a delivery captured today
        cannot be replayed tomorrow), or no ``v1`` signature matching any secret (compared in
        constant time). A well-signed but malformed body raises :class:`PaymentError`.
        """
        header = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), "")
        if not header:
            raise WebhookSignatureError("missing Stripe-Signature header")
        timestamp_text = ""
        offered: list[bytes] = []
        for item in header.split(","):
            key, sep, value = item.strip().partition("=")
            if sep and key == "t":
                timestamp_text = value
            elif sep and key == "v1":
                offered.append(value.encode("utf-8", "replace"))
        if not _TIMESTAMP.fullmatch(timestamp_text):
            raise WebhookSignatureError("Stripe-Signature has no valid timestamp")
        if not offered:
            raise WebhookSignatureError("Stripe-Signature holds no v1 signature")
        timestamp = int(timestamp_text)
        if abs(self._clock() - timestamp) > self._tolerance:
            raise WebhookSignatureError("Stripe-Signature timestamp is outside the tolerance")
        signed = timestamp_text.encode() + b"." + body
        expected = [
            hmac.new(key, signed, hashlib.sha256).hexdigest().encode() for key in self._webhook_keys
        ]
        if not any(hmac.compare_digest(mine, theirs) for mine in expected for theirs in offered):
            raise WebhookSignatureError("no Stripe-Signature v1 signature matches")
        return _parse_event(body)

    # -- HTTP -------------------------------------------------------------------------------

    def _payment(self, body: dict[str, Any]) -> GatewayPayment:
        intent_id = body.get("id")
        raw_status = body.get("status")
        if not isinstance(intent_id, str):
            raise PaymentGatewayError("Stripe returned a PaymentIntent without an id")
        status = _INTENT_STATUS.get(str(raw_status))
        if status is None:
            raise PaymentGatewayError(
                f"Stripe PaymentIntent {intent_id} is {raw_status}", code=str(raw_status)
            )
        currency = body.get("currency")
        received = body.get("amount_received", 0)
        secret = body.get("client_secret")
        return GatewayPayment(
            reference=intent_id,
            status=status,
            amount=_money(body.get("amount"), currency),
            captured_amount=_money(received, currency),
            client_secret=secret if isinstance(secret, str) else None,
        )

    def _state(self, body: dict[str, Any]) -> GatewayPaymentState:
        payment = self._payment(body)
        return GatewayPaymentState(
            reference=payment.reference,
            status=payment.status,
            amount=payment.amount,
            captured_amount=payment.captured_amount,
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
            self._owns_client = True
        return self._client

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = self._retry_backoff * 2.0**attempt * (0.75 + random.random() / 2)
        return min(_MAX_DELAY, max(backoff, retry_after or 0.0))

    async def _post(
        self, path: str, data: Mapping[str, str], idempotency_key: str
    ) -> dict[str, Any]:
        """POST with the idempotency key, retrying what Stripe says may be retried."""
        if not idempotency_key:
            raise PaymentError("an idempotency key is required for every Stripe request")
        return await self._request("POST", path, data, idempotency_key)

    async def _request(
        self, method: str, path: str, data: Mapping[str, str], idempotency_key: str | None
    ) -> dict[str, Any]:
        """One API call under the retry policy; ``GET`` carries no key (it changes nothing)."""
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Stripe-Version": self._api_version,
            "User-Agent": f"dropkit/{__version__}",
            "Accept": "application/json",
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        url = self._base_url + path
        attempt = 0
        while True:
            try:
                if method == "GET":
                    response = await self._http().get(url, headers=headers)
                else:
                    response = await self._http().post(url, data=data, headers=headers)
            except httpx.TransportError as exc:  # connect/read failures and timeouts
                if attempt < self._max_retries:
                    await anyio.sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise PaymentGatewayError(
                    f"cannot reach Stripe at {self._base_url}: {type(exc).__name__}: {exc}",
                    retryable=True,
                ) from None
            if response.is_success:
                return _json_object(response)
            error = _error(response)
            if error.retryable and attempt < self._max_retries:
                await anyio.sleep(self._delay(attempt, _retry_after(response)))
                attempt += 1
                continue
            raise error


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PaymentGatewayError(
            f"Stripe answered HTTP {response.status_code} with no JSON object",
            status_code=response.status_code,
        )
    return body


def _error(response: httpx.Response) -> PaymentGatewayError:
    """Stripe's ``{"error": {"type", "code", "message"}}`` as a :class:`PaymentGatewayError`."""
    status = response.status_code
    should = response.headers.get("stripe-should-retry")
    if should in ("true", "false"):
        retryable = should == "true"
    else:
        retryable = status in (409, 429) or status >= 500
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        detail = {}
    message = detail.get("message")
    error_type, code = detail.get("type"), detail.get("code")
    return PaymentGatewayError(
        message if isinstance(message, str) and message else f"Stripe answered HTTP {status}",
        status_code=status,
        error_type=error_type if isinstance(error_type, str) else None,
        code=code if isinstance(code, str) else None,
        retryable=retryable,
    )


def _parse_event(body: bytes) -> GatewayEvent:
    try:
        event = json.loads(body)
    except ValueError:
        raise PaymentError("Stripe webhook body is not JSON") from None
    if not isinstance(event, dict):
        raise PaymentError("Stripe webhook body is not a JSON object")
    event_id, raw_type = event.get("id"), event.get("type")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not isinstance(raw_type, str) or not isinstance(obj, dict):
        raise PaymentError("Stripe webhook is missing id, type or data.object")
    kind = _EVENT_TYPES.get(raw_type, "other")
    currency = obj.get("currency")
    if kind == "payment.authorized":
        reference, amount = obj.get("id"), _money(obj.get("amount_capturable"), currency)
    elif kind == "payment.succeeded":
        reference, amount = obj.get("id"), _money(obj.get("amount_received"), currency)
    elif kind == "payment.failed":
        reference, amount = obj.get("id"), _money(obj.get("amount"), currency)
    elif kind == "refund.succeeded":
        reference, amount = obj.get("payment_intent"), _money(obj.get("amount_refunded"), currency)
    elif kind == "refund.updated":
        return _refund_event(event_id, raw_type, obj)
    else:
        reference, amount = None, None
    if reference is not None and not isinstance(reference, str):
        raise PaymentError(f"Stripe webhook {event_id} has a malformed object id")
    return GatewayEvent(
        event_id=event_id, type=kind, raw_type=raw_type, reference=reference, amount=amount
    )


def _refund_event(event_id: str, raw_type: str, refund: dict[str, Any]) -> GatewayEvent:
    """A ``refund.updated`` / ``charge.refund.updated`` / ``refund.failed`` delivery."""
    refund_id, intent_id = refund.get("id"), refund.get("payment_intent")
    status = _REFUND_STATUS.get(str(refund.get("status")))
    if not isinstance(refund_id, str) or not isinstance(intent_id, str) or status is None:
        raise PaymentError(f"Stripe webhook {event_id} carries a malformed refund")
    return GatewayEvent(
        event_id=event_id,
        type="refund.updated",
        raw_type=raw_type,
        reference=intent_id,
        amount=_money(refund.get("amount"), refund.get("currency")),
        refund_reference=refund_id,
        refund_status=status,
    )
