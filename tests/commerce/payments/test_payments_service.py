"""The payments ledger with Stripe (on loopback): record, capture, refund guards; both engines."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import anyio
import pytest
from fake_stripe import FakeStripe, confirm_intent

from dropkit.commerce.errors import PaymentError
from dropkit.commerce.payments import Payment, PaymentGatewayError, Payments
from dropkit.core.errors import NotFoundError
from dropkit.core.money import Money

MakeOrder = Callable[..., Awaitable[str]]
USD_30 = Money("30.00", "USD")


async def captured_payment(
    payments: Payments, server: FakeStripe, make_order: MakeOrder
) -> Payment:
    order_id = await make_order()
    payment = await payments.start(order_id, "stripe", USD_30, idempotency_key=f"chk-{order_id}")
    assert payment.reference is not None
    assert await confirm_intent(server, payment.reference) == 200
    outcome = await payments.handle_webhook(
        "stripe", *server.webhook("payment_intent.succeeded", payment.reference)
    )
    assert outcome.payment is not None
    return outcome.payment


async def test_authorize_before_and_record_inside_the_order_transaction(
    payments: Payments, stripe_server: FakeStripe
) -> None:
    db = payments.db
    order_id = f"ord_{uuid.uuid4().hex[:8]}"
    gp = await payments.authorize(order_id, "stripe", USD_30, idempotency_key="chk-1", email=None)
    assert stripe_server.intents[gp.reference]["metadata"] == {"order_id": order_id}

    now = time.time()
    async with db.transaction():
        await db.execute(
            "INSERT INTO commerce_orders (id, number, email, status, currency, subtotal_amount,"
            " discount_amount, tax_amount, shipping_amount, total_amount, refunded_amount,"
            " shipping_address, payment_gateway, flags, placed_at, updated_at) VALUES"
            " ({}, 1, 'a@example.com', 'pending_payment', 'USD', '30.00', '0', '0', '0',"
            " '30.00', '0', {}, 'stripe', {}, {}, {})",
            order_id,
            "{}",
            "{}",
            now,
            now,
        )
        payment = await payments.record(order_id, "stripe", gp, USD_30)
        assert await payments.record(order_id, "stripe", gp) == payment  # a retry: same row

    assert payment.status == "requires_action"
    assert payment.client_secret == gp.client_secret
    assert payment.amount == USD_30
    assert payment.refunded_amount == Money.zero("USD")
    assert await payments.for_order(order_id) == [payment]
    with pytest.raises(PaymentError, match=r"not the 31\.00 USD expected"):
        await payments.record(order_id, "stripe", gp, Money("31.00", "USD"))
    with pytest.raises(PaymentError, match="unknown payment gateway 'paypal'"):
        await payments.authorize(order_id, "paypal", USD_30, idempotency_key="k")
    with pytest.raises(NotFoundError):
        await payments.get("pay_missing")


async def test_a_rolled_back_order_leaves_no_payment(
    payments: Payments, make_order: MakeOrder
) -> None:
    order_id = await make_order()
    gp = await payments.authorize(order_id, "stripe", USD_30, idempotency_key="k")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with payments.db.transaction():
            await payments.record(order_id, "stripe", gp)
            raise Boom
    assert await payments.for_order(order_id) == []


async def test_capture_of_a_held_payment(
    payments: Payments, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    order_id = await make_order()
    payment = await payments.start(order_id, "stripe", USD_30, idempotency_key="chk", capture=False)
    assert payment.reference is not None
    with pytest.raises(PaymentError, match="requires_action: nothing to capture"):
        await payments.capture(payment.id)

    assert await confirm_intent(stripe_server, payment.reference) == 200
    outcome = await payments.handle_webhook(
        "stripe",
        *stripe_server.webhook("payment_intent.amount_capturable_updated", payment.reference),
    )
    assert outcome.payment is not None and outcome.payment.status == "authorized"
    with pytest.raises(PaymentError, match=r"only 30\.00 USD was authorized"):
        await payments.capture(payment.id, Money("30.01", "USD"))
    captured = await payments.capture(payment.id, Money("25.00", "USD"))
    assert captured.status == "captured"
    assert captured.captured_amount == Money("25.00", "USD")
    assert stripe_server.requests[-1].headers["idempotency-key"] == f"capture:{payment.id}"
    assert stripe_server.requests[-1].form == {"amount_to_capture": "2500"}
    assert captured.refundable == Money("25.00", "USD")


async def test_refund_guards(
    payments: Payments, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    payment = await captured_payment(payments, stripe_server, make_order)
    assert payment.status == "captured"
    assert payment.captured_amount == USD_30

    for bad, message in [
        (Money("0", "USD"), "must be positive"),
        (Money("-1", "USD"), "must be positive"),
        (Money("5", "EUR"), "cannot refund 5.00 EUR of a 30.00 USD payment"),
        (Money("30.01", "USD"), "only 30.00 USD of payment"),
    ]:
        with pytest.raises(PaymentError, match=message):
            await payments.refund(payment.id, bad)
    assert await payments.refunds(payment.id) == []
    assert not stripe_server.refunds

    first = await payments.refund(payment.id, Money("10.00", "USD"), "late delivery")
    assert first.reference in stripe_server.refunds
    with pytest.raises(PaymentError, match=r"only 20\.00 USD"):
        await payments.refund(payment.id, Money("20.01", "USD"))
    await payments.refund(payment.id, Money("20.00", "USD"))
    done = await payments.get(payment.id)
    assert (done.status, done.refunded_amount) == ("refunded", USD_30)
    with pytest.raises(PaymentError, match=r"only 0\.00 USD"):
        await payments.refund(payment.id, Money("0.01", "USD"))
    assert len(stripe_server.refunds) == 2


async def test_concurrent_refunds_never_exceed_the_capture(
    payments: Payments, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    payment = await captured_payment(payments, stripe_server, make_order)
    outcomes: list[str] = []

    async def refund() -> None:
        try:
            await payments.refund(payment.id, Money("20.00", "USD"))
            outcomes.append("ok")
        except PaymentError:
            outcomes.append("refused")

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(refund)
    assert sorted(outcomes) == ["ok", "refused", "refused"]
    assert (await payments.get(payment.id)).refunded_amount == Money("20.00", "USD")
    assert len(stripe_server.refunds) == 1


async def test_refund_with_an_idempotency_key_happens_once(
    payments: Payments, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    payment = await captured_payment(payments, stripe_server, make_order)
    first = await payments.refund(payment.id, Money("5.00", "USD"), idempotency_key="rma-7")
    again = await payments.refund(payment.id, Money("5.00", "USD"), idempotency_key="rma-7")
    assert again == first
    with pytest.raises(PaymentError, match="used for another amount"):
        await payments.refund(payment.id, Money("6.00", "USD"), idempotency_key="rma-7")
    assert len(stripe_server.refunds) == 1
    assert (await payments.get(payment.id)).refunded_amount == Money("5.00", "USD")


async def test_a_refused_refund_releases_its_reservation(
    payments: Payments, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    payment = await captured_payment(payments, stripe_server, make_order)
    assert payment.reference is not None
    stripe_server.refund_directly(payment.reference, 2500)  # in the dashboard, unknown to us
    with pytest.raises(PaymentGatewayError, match="greater than unrefunded"):
        await payments.refund(payment.id, Money("10.00", "USD"))
    after = await payments.get(payment.id)
    assert (after.status, after.refunded_amount) == ("captured", Money.zero("USD"))
    assert await payments.refunds(payment.id) == []


async def test_an_unknown_outcome_keeps_the_reservation_until_retried(
    payments: Payments, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    payment = await captured_payment(payments, stripe_server, make_order)
    stripe_server.fail_next(10)
    with pytest.raises(PaymentGatewayError) as caught:
        await payments.refund(payment.id, Money("30.00", "USD"), idempotency_key="rma-1")
    assert caught.value.retryable
    (pending,) = await payments.refunds(payment.id)
    assert pending.reference is None
    assert (await payments.get(payment.id)).refunded_amount == USD_30  # nobody refunds it twice
    with pytest.raises(PaymentError, match=r"only 0\.00 USD"):
        await payments.refund(payment.id, Money("1.00", "USD"))

    stripe_server.fail_next(0)
    done = await payments.refund(payment.id, Money("30.00", "USD"), idempotency_key="rma-1")
    assert done.id == pending.id
    assert done.reference in stripe_server.refunds
    assert len(stripe_server.refunds) == 1
    assert (await payments.get(payment.id)).status == "refunded"
