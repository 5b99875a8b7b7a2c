"""Stripe's own units: whole yen, thousandths of a dinar ending in 0, ISK as two decimals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from fake_stripe import FakeStripe, confirm_intent

from dropkit.commerce.errors import PaymentError
from dropkit.commerce.payments import Payments, StripeGateway
from dropkit.commerce.payments.stripe_amounts import (
    THREE_DECIMAL,
    ZERO_DECIMAL,
    from_stripe_amount,
    to_stripe_amount,
)
from dropkit.core.money import Money

MakeOrder = Callable[..., Awaitable[str]]


@pytest.mark.parametrize("code", sorted(ZERO_DECIMAL))
def test_zero_decimal_currencies_are_whole_units(code: str) -> None:
    assert to_stripe_amount(Money("1234", code)) == 1234
    assert from_stripe_amount(1234, code.lower()) == Money("1234", code)


@pytest.mark.parametrize("code", sorted(THREE_DECIMAL))
def test_three_decimal_currencies_are_thousandths_ending_in_zero(code: str) -> None:
    assert to_stripe_amount(Money("12.340", code)) == 12340
    assert from_stripe_amount(12340, code.lower()) == Money("12.34", code)
    with pytest.raises(PaymentError, match="ending in 0"):
        to_stripe_amount(Money("12.345", code))


def test_other_currencies() -> None:
    assert to_stripe_amount(Money("19.99", "USD")) == 1999
    assert to_stripe_amount(Money("19.99", "EUR")) == 1999
    # MGA has two ISO decimals, but Stripe takes whole ariary and refuses fractions.
    assert to_stripe_amount(Money("5000", "MGA")) == 5000
    assert from_stripe_amount(5000, "mga") == Money("5000", "MGA")
    with pytest.raises(PaymentError, match="whole units"):
        to_stripe_amount(Money("5000.50", "MGA"))
    # ISK has no ISO decimals, but Stripe still counts it in hundredths (ending in 00).
    assert to_stripe_amount(Money("1500", "ISK")) == 150000
    assert from_stripe_amount(150000, "isk") == Money("1500", "ISK")
    with pytest.raises(PaymentError, match="malformed"):
        from_stripe_amount(150050, "isk")
    with pytest.raises(PaymentError, match="malformed"):
        from_stripe_amount(100, "xyz")


async def test_a_jpy_payment_at_the_server(
    payments: Payments, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    amount = Money("4980", "JPY")
    payment = await payments.start(
        await make_order("4980", "JPY"), "stripe", amount, idempotency_key="jpy"
    )
    assert payment.reference is not None
    (created,) = stripe_server.calls("POST", "/v1/payment_intents")
    assert (created.form["amount"], created.form["currency"]) == ("4980", "jpy")
    assert stripe_server.intents[payment.reference]["amount"] == 4980
    assert await confirm_intent(stripe_server, payment.reference) == 200
    assert (await payments.fetch(payment.id)).captured_amount == amount
    headers, body = stripe_server.webhook("payment_intent.succeeded", payment.reference)
    outcome = await payments.handle_webhook("stripe", headers, body)
    assert outcome.payment is not None
    assert outcome.payment.captured_amount == amount
    refund = await payments.refund(payment.id, Money("980", "JPY"))
    assert stripe_server.calls("POST", "/v1/refunds")[0].form["amount"] == "980"
    assert refund.amount == Money("980", "JPY")


async def test_a_kwd_payment_at_the_server(
    payments: Payments,
    stripe: StripeGateway,
    stripe_server: FakeStripe,
    make_order: MakeOrder,
) -> None:
    amount = Money("12.340", "KWD")
    payment = await payments.start(
        await make_order("12.340", "KWD"), "stripe", amount, idempotency_key="kwd"
    )
    assert payment.reference is not None
    (created,) = stripe_server.calls("POST", "/v1/payment_intents")
    assert (created.form["amount"], created.form["currency"]) == ("12340", "kwd")
    assert payment.amount == amount
    assert await confirm_intent(stripe_server, payment.reference) == 200
    assert (await payments.fetch(payment.id)).captured_amount == amount
    # A fils Stripe cannot take is refused before any request is sent.
    with pytest.raises(PaymentError, match="ending in 0"):
        await stripe.authorize(
            amount=Money("12.345", "KWD"),
            order_id="o",
            idempotency_key="kwd-bad",
            customer_email=None,
            capture=True,
        )
    assert len(stripe_server.calls("POST", "/v1/payment_intents")) == 1
