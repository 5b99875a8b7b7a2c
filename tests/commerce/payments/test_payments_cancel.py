"""Fetching and cancelling payments: the gateways against the loopback Stripe, and the ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from fake_stripe import API_KEY, FakeStripe, confirm_intent

from dropkit.commerce.errors import PaymentError
from dropkit.commerce.payments import (
    GatewayPayment,
    ManualGateway,
    PaymentNotCancellableError,
    Payments,
    StripeGateway,
)
from dropkit.core.money import Money

USD_30 = Money("30.00", "USD")
MakeOrder = Callable[..., Awaitable[str]]


async def authorize(gw: StripeGateway, *, capture: bool = True) -> GatewayPayment:
    return await gw.authorize(
        amount=USD_30,
        order_id="ord_c",
        idempotency_key="auth",
        customer_email=None,
        capture=capture,
    )


async def test_fetch_reads_the_intent_as_stripe_holds_it(
    stripe: StripeGateway, stripe_server: FakeStripe
) -> None:
    gp = await authorize(stripe, capture=False)
    state = await stripe.fetch(gp.reference)
    assert (state.status, state.amount, state.captured_amount) == (
        "requires_action",
        USD_30,
        Money.zero("USD"),
    )
    assert await confirm_intent(stripe_server, gp.reference) == 200
    assert (await stripe.fetch(gp.reference)).status == "authorized"
    reads = stripe_server.calls("GET", f"/v1/payment_intents/{gp.reference}")
    assert len(reads) == 2
    seen = reads[-1]
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert "idempotency-key" not in seen.headers  # a read changes nothing: no key


async def test_fetch_is_retried_and_unknown_intents_are_an_error(
    stripe: StripeGateway, stripe_server: FakeStripe
) -> None:
    gp = await authorize(stripe)
    stripe_server.fail_next(2)
    assert (await stripe.fetch(gp.reference)).status == "requires_action"
    assert len(stripe_server.calls("GET", f"/v1/payment_intents/{gp.reference}")) == 3
    with pytest.raises(PaymentError, match="No such payment_intent"):
        await stripe.fetch("pi_doesnotexist")
    with pytest.raises(PaymentError, match="not a Stripe object id"):
        await stripe.fetch("pi_1/../../v1/refunds")


async def test_cancel_releases_a_held_payment_once(
    stripe: StripeGateway, stripe_server: FakeStripe
) -> None:
    gp = await authorize(stripe, capture=False)
    assert await confirm_intent(stripe_server, gp.reference) == 200
    stripe_server.fail_next(1)  # the first attempt fails; the resend carries the same key
    state = await stripe.cancel(gp.reference, idempotency_key="cancel:1")
    assert state.status == "cancelled"
    assert stripe_server.intents[gp.reference]["status"] == "canceled"
    assert stripe_server.intents[gp.reference]["amount_capturable"] == 0
    calls = stripe_server.calls("POST", f"/v1/payment_intents/{gp.reference}/cancel")
    assert [c.headers["idempotency-key"] for c in calls] == ["cancel:1", "cancel:1"]
    # Cancelling again (another key: a retry after a lost answer) is still success.
    assert (await stripe.cancel(gp.reference, idempotency_key="cancel:2")).status == "cancelled"


async def test_a_succeeded_payment_cannot_be_cancelled(
    stripe: StripeGateway, stripe_server: FakeStripe
) -> None:
    gp = await authorize(stripe)
    assert await confirm_intent(stripe_server, gp.reference) == 200
    with pytest.raises(PaymentNotCancellableError, match="refund it instead") as caught:
        await stripe.cancel(gp.reference, idempotency_key="cancel:paid")
    assert caught.value.status == "captured"
    assert caught.value.code == "payment_intent_unexpected_state"
    assert stripe_server.intents[gp.reference]["status"] == "succeeded"


async def test_manual_gateway_fetch_and_cancel() -> None:
    gateway = ManualGateway("bank_transfer")
    gp = await gateway.authorize(
        amount=USD_30, order_id="o", idempotency_key="k", customer_email=None, capture=True
    )
    fetched = await gateway.fetch(gp.reference)
    assert (fetched.status, fetched.amount) == ("pending_offline", None)
    cancelled = await gateway.cancel(gp.reference, idempotency_key="c")
    assert (cancelled.reference, cancelled.status) == (gp.reference, "cancelled")
    with pytest.raises(PaymentError, match="not a 'bank_transfer' payment reference"):
        await gateway.cancel("COD-ABCDEFGHJK", idempotency_key="c")


async def test_the_ledger_cancels_open_payments_and_refuses_captured_ones(
    payments: Payments, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    held = await payments.start(
        await make_order(), "stripe", USD_30, idempotency_key="held", capture=False
    )
    assert held.reference is not None
    assert await confirm_intent(stripe_server, held.reference) == 200
    assert (await payments.fetch(held.id)).status == "authorized"
    cancelled = await payments.cancel(held.id)
    assert cancelled.status == "cancelled"
    assert stripe_server.intents[held.reference]["status"] == "canceled"
    assert (await payments.cancel(held.id)).status == "cancelled"  # no second call
    assert len(stripe_server.calls("POST", f"/v1/payment_intents/{held.reference}/cancel")) == 1

    paid = await payments.start(await make_order(), "stripe", USD_30, idempotency_key="paid")
    assert paid.reference is not None
    assert await confirm_intent(stripe_server, paid.reference) == 200
    # The ledger has not heard of the success yet (no webhook): Stripe refuses, nothing moves.
    with pytest.raises(PaymentNotCancellableError):
        await payments.cancel(paid.id)
    assert (await payments.get(paid.id)).status == "requires_action"
    captured = await payments.capture(
        (
            await payments.start(
                await make_order(), "cash_on_delivery", USD_30, idempotency_key="cod"
            )
        ).id
    )
    with pytest.raises(PaymentNotCancellableError, match="captured"):
        await payments.cancel(captured.id)
