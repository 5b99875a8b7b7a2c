"""StripeGateway against a Stripe stand-in on loopback, through the real httpx client."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from fake_stripe import (
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    confirm_intent,
    event_body,
    stripe_signature,
)

from dropkit.commerce.errors import PaymentError
from dropkit.commerce.payments import (
    DEFAULT_STRIPE_API_VERSION,
    GatewayPayment,
    PaymentGateway,
    PaymentGatewayError,
    StripeGateway,
    WebhookSignatureError,
)
from dropkit.core.errors import ConfigurationError
from dropkit.core.money import Money

USD_19_99 = Money("19.99", "USD")


async def pay(
    gw: StripeGateway, amount: Money = USD_19_99, *, key: str = "k", capture: bool = True
) -> GatewayPayment:
    return await gw.authorize(
        amount=amount, order_id="o", idempotency_key=key, customer_email=None, capture=capture
    )


def test_is_a_payment_gateway() -> None:
    assert isinstance(StripeGateway("sk_test_x", "whsec_x"), PaymentGateway)
    with pytest.raises(ConfigurationError):
        StripeGateway("", "whsec_x")
    with pytest.raises(ConfigurationError):
        StripeGateway("sk_test_x", "")
    assert "sk_test_x" not in repr(StripeGateway("sk_test_x", "whsec_x"))


async def test_authorize_speaks_stripes_wire_format(
    stripe: StripeGateway, stripe_server: FakeStripe
) -> None:
    gp = await stripe.authorize(
        amount=USD_19_99,
        order_id="ord_1",
        idempotency_key="checkout-1",
        customer_email="buyer@example.com",
        capture=True,
    )
    assert gp.status == "requires_action"
    assert gp.amount == USD_19_99
    assert gp.captured_amount == Money.zero("USD")
    assert gp.client_secret is not None and gp.client_secret.startswith(gp.reference)

    (seen,) = stripe_server.requests
    assert seen.path == "/v1/payment_intents"
    assert seen.form == {
        "amount": "1999",
        "currency": "usd",
        "capture_method": "automatic",
        "metadata[order_id]": "ord_1",
        "receipt_email": "buyer@example.com",
    }
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert seen.headers["idempotency-key"] == "checkout-1"
    assert seen.headers["stripe-version"] == DEFAULT_STRIPE_API_VERSION
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert stripe_server.intents[gp.reference]["metadata"] == {"order_id": "ord_1"}


async def test_zero_decimal_currency_is_sent_in_whole_units(
    stripe: StripeGateway, stripe_server: FakeStripe
) -> None:
    gp = await stripe.authorize(
        amount=Money("500", "JPY"),
        order_id="ord_1",
        idempotency_key="k",
        customer_email=None,
        capture=True,
    )
    assert stripe_server.requests[0].form["amount"] == "500"
    assert "receipt_email" not in stripe_server.requests[0].form
    assert gp.amount == Money("500", "JPY")


async def test_same_key_replays_and_different_parameters_are_refused(
    stripe: StripeGateway, stripe_server: FakeStripe
) -> None:
    first = await pay(stripe, key="k1")
    again = await pay(stripe, key="k1")
    assert again == first
    assert len(stripe_server.intents) == 1

    with pytest.raises(PaymentGatewayError, match="same parameters") as caught:
        await pay(stripe, Money("20.00", "USD"), key="k1")
    assert caught.value.status_code == 400
    assert caught.value.error_type == "idempotency_error"
    assert len(stripe_server.intents) == 1


async def test_bad_api_key_is_refused_without_retrying(stripe_server: FakeStripe) -> None:
    async with StripeGateway("sk_test_wrong", WEBHOOK_SECRET, base_url=stripe_server.url) as gw:
        with pytest.raises(PaymentGatewayError, match="Invalid API Key") as caught:
            await gw.authorize(
                amount=USD_19_99,
                order_id="o",
                idempotency_key="k",
                customer_email=None,
                capture=True,
            )
    assert caught.value.status_code == 401
    assert not caught.value.retryable
    assert len(stripe_server.requests) == 1


async def test_stripe_error_message_is_surfaced(
    stripe: StripeGateway, stripe_server: FakeStripe
) -> None:
    with pytest.raises(PaymentError, match=r"at least \$0\.50") as caught:
        await stripe.authorize(
            amount=Money("0.20", "USD"),
            order_id="o",
            idempotency_key="k",
            customer_email=None,
            capture=True,
        )
    assert isinstance(caught.value, PaymentGatewayError)
    assert caught.value.code == "amount_too_small"
    assert len(stripe_server.requests) == 1


async def test_server_error_is_retried_with_the_same_key(
    stripe: StripeGateway, stripe_server: FakeStripe
) -> None:
    stripe_server.fail_next(1)
    gp = await pay(stripe, key="k-retry")
    assert [r.headers["idempotency-key"] for r in stripe_server.requests] == ["k-retry"] * 2
    assert list(stripe_server.intents) == [gp.reference]


async def test_retries_are_bounded(stripe_server: FakeStripe) -> None:
    stripe_server.fail_next(10)
    async with StripeGateway(
        API_KEY, WEBHOOK_SECRET, base_url=stripe_server.url, max_retries=2, retry_backoff=0.01
    ) as gw:
        with pytest.raises(PaymentGatewayError, match="Stripe's end") as caught:
            await pay(gw)
    assert caught.value.retryable
    assert caught.value.status_code == 500
    assert len(stripe_server.requests) == 3
    assert not stripe_server.intents


async def test_unreachable_stripe_is_a_payment_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    async with StripeGateway(
        API_KEY, WEBHOOK_SECRET, base_url=f"http://127.0.0.1:{port}", retry_backoff=0.01
    ) as gw:
        with pytest.raises(PaymentGatewayError, match="cannot reach Stripe") as caught:
            await pay(gw)
    assert caught.value.retryable
    assert caught.value.status_code is None


async def test_manual_capture_then_partial_capture(
    stripe: StripeGateway, stripe_server: FakeStripe
) -> None:
    gp = await pay(stripe, capture=False)
    assert stripe_server.requests[0].form["capture_method"] == "manual"
    with pytest.raises(PaymentGatewayError, match="requires_payment_method"):
        await stripe.capture(gp.reference, amount=None, idempotency_key="c0")

    await confirm_intent(stripe_server, gp.reference)
    captured = await stripe.capture(
        gp.reference, amount=Money("15.00", "USD"), idempotency_key="c1"
    )
    assert stripe_server.requests[-1].path == f"/v1/payment_intents/{gp.reference}/capture"
    assert stripe_server.requests[-1].form == {"amount_to_capture": "1500"}
    assert captured.status == "captured"
    assert captured.amount == USD_19_99
    assert captured.captured_amount == Money("15.00", "USD")


async def test_refunds(stripe: StripeGateway, stripe_server: FakeStripe) -> None:
    gp = await pay(stripe)
    await confirm_intent(stripe_server, gp.reference)
    refund = await stripe.refund(gp.reference, amount=Money("5.00", "USD"), idempotency_key="r1")
    assert refund.status == "succeeded"
    assert refund.amount == Money("5.00", "USD")
    assert refund.reference in stripe_server.refunds
    assert stripe_server.requests[-1].form == {"payment_intent": gp.reference, "amount": "500"}

    with pytest.raises(PaymentGatewayError, match="greater than unrefunded"):
        await stripe.refund(gp.reference, amount=USD_19_99, idempotency_key="r2")


async def test_references_cannot_escape_the_path(stripe: StripeGateway) -> None:
    with pytest.raises(PaymentError, match="not a Stripe object id"):
        await stripe.capture("../v1/refunds", amount=None, idempotency_key="k")


async def test_a_shared_client_is_left_open(stripe_server: FakeStripe) -> None:
    async with httpx.AsyncClient() as client:
        gw = StripeGateway(API_KEY, WEBHOOK_SECRET, base_url=stripe_server.url, client=client)
        await pay(gw)
        await gw.aclose()
        assert not client.is_closed


# -- webhooks -----------------------------------------------------------------------------


def intent(amount: int = 1999, received: int = 1999) -> dict[str, object]:
    return {
        "id": "pi_123",
        "object": "payment_intent",
        "amount": amount,
        "amount_received": received,
        "currency": "usd",
        "status": "succeeded",
    }


def gateway(**kwargs: object) -> StripeGateway:
    return StripeGateway(API_KEY, WEBHOOK_SECRET, **kwargs)  # type: ignore[arg-type]


def test_valid_signature_is_accepted_and_normalised() -> None:
    body = event_body("payment_intent.succeeded", intent(), event_id="evt_1")
    event = gateway().verify_webhook(
        {"Stripe-Signature": stripe_signature(WEBHOOK_SECRET, body)}, body
    )
    assert event.event_id == "evt_1"
    assert event.type == "payment.succeeded"
    assert event.raw_type == "payment_intent.succeeded"
    assert event.reference == "pi_123"
    assert event.amount == USD_19_99


def test_event_types_are_mapped() -> None:
    gw = gateway()

    def verify(event_type: str, obj: dict[str, object]) -> tuple[str, str | None, Money | None]:
        body = event_body(event_type, obj)
        event = gw.verify_webhook(
            {"stripe-signature": stripe_signature(WEBHOOK_SECRET, body)}, body
        )
        return event.type, event.reference, event.amount

    assert verify("payment_intent.payment_failed", intent(received=0)) == (
        "payment.failed",
        "pi_123",
        USD_19_99,
    )
    held = {**intent(received=0), "status": "requires_capture", "amount_capturable": 1999}
    assert verify("payment_intent.amount_capturable_updated", held) == (
        "payment.authorized",
        "pi_123",
        USD_19_99,
    )
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_123",
        "amount": 1999,
        "amount_refunded": 700,
        "currency": "usd",
    }
    assert verify("charge.refunded", charge) == ("refund.succeeded", "pi_123", Money("7", "USD"))
    assert verify("customer.created", {"id": "cus_1"}) == ("other", None, None)


def test_several_signatures_and_rotated_secrets() -> None:
    body = event_body("payment_intent.succeeded", intent())
    good = stripe_signature(WEBHOOK_SECRET, body)
    t, v1 = good.split(",")
    header = f"{t},v1={'0' * 64},{v1},v0=ignored"
    assert gateway().verify_webhook({"Stripe-Signature": header}, body).type == "payment.succeeded"
    rotated = StripeGateway(API_KEY, ["whsec_new", WEBHOOK_SECRET])
    assert rotated.verify_webhook({"Stripe-Signature": good}, body).reference == "pi_123"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("tampered", "no Stripe-Signature v1 signature matches"),
        ("wrong_secret", "no Stripe-Signature v1 signature matches"),
        ("stale", "outside the tolerance"),
        ("future", "outside the tolerance"),
        ("missing", "missing Stripe-Signature"),
        ("no_v1", "no v1 signature"),
        ("bad_timestamp", "no valid timestamp"),
    ],
)
def test_untrusted_webhooks_are_refused(case: str, message: str) -> None:
    body = event_body("payment_intent.succeeded", intent())
    now = int(time.time())
    headers = {"Stripe-Signature": stripe_signature(WEBHOOK_SECRET, body, now)}
    if case == "tampered":
        body = body.replace(b"1999", b"9999")
    elif case == "wrong_secret":
        headers["Stripe-Signature"] = stripe_signature("whsec_other", body, now)
    elif case == "stale":
        headers["Stripe-Signature"] = stripe_signature(WEBHOOK_SECRET, body, now - 301)
    elif case == "future":
        headers["Stripe-Signature"] = stripe_signature(WEBHOOK_SECRET, body, now + 301)
    elif case == "missing":
        headers = {}
    elif case == "no_v1":
        headers["Stripe-Signature"] = f"t={now}"
    elif case == "bad_timestamp":
        headers["Stripe-Signature"] = headers["Stripe-Signature"].replace(f"t={now}", "t=+1_0")
    with pytest.raises(WebhookSignatureError, match=message):
        gateway().verify_webhook(headers, body)


def test_tolerance_uses_the_clock() -> None:
    body = event_body("payment_intent.succeeded", intent())
    header = stripe_signature(WEBHOOK_SECRET, body, 1_000_000)
    late = gateway(clock=lambda: 1_000_299.0)
    assert late.verify_webhook({"Stripe-Signature": header}, body).reference == "pi_123"
    with pytest.raises(WebhookSignatureError):
        gateway(clock=lambda: 1_000_301.0).verify_webhook({"Stripe-Signature": header}, body)


def test_signed_but_malformed_body_is_a_payment_error() -> None:
    body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"}).encode()
    with pytest.raises(PaymentError, match=r"missing id, type or data\.object"):
        gateway().verify_webhook({"Stripe-Signature": stripe_signature(WEBHOOK_SECRET, body)}, body)
