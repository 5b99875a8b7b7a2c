"""Webhooks through the ledger: verified, applied once, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from fake_stripe import WEBHOOK_SECRET, FakeStripe, event_body, stripe_signature

from dropkit.commerce.errors import PaymentError
from dropkit.commerce.payments import GatewayEvent, Payment, Payments, WebhookSignatureError
from dropkit.core.money import Money

MakeOrder = Callable[..., Awaitable[str]]
USD_30 = Money("30.00", "USD")


def signed(body: bytes) -> dict[str, str]:
    return {"Stripe-Signature": stripe_signature(WEBHOOK_SECRET, body)}


def intent_object(reference: str, received: int = 3000) -> dict[str, object]:
    return {
        "id": reference,
        "object": "payment_intent",
        "amount": 3000,
        "amount_received": received,
        "currency": "usd",
        "status": "succeeded" if received else "requires_payment_method",
    }


async def pending_payment(payments: Payments, make_order: MakeOrder) -> Payment:
    order_id = await make_order()
    return await payments.start(order_id, "stripe", USD_30, idempotency_key=f"chk-{order_id}")


async def event_rows(payments: Payments) -> list[dict[str, object]]:
    return await payments.db.fetch(
        "SELECT gateway, event_id, payment_id, type FROM commerce_payment_events ORDER BY event_id"
    )


async def test_duplicate_delivery_changes_nothing(
    payments: Payments, make_order: MakeOrder
) -> None:
    payment = await pending_payment(payments, make_order)
    assert payment.reference is not None
    body = event_body("payment_intent.succeeded", intent_object(payment.reference), "evt_ok")
    calls: list[tuple[Payment, GatewayEvent, bool]] = []

    async def mark_paid(p: Payment, event: GatewayEvent) -> None:
        calls.append((p, event, payments.db.in_transaction))
        await payments.db.execute(
            "UPDATE commerce_orders SET status = 'paid' WHERE id = {}", p.order_id
        )

    first = await payments.handle_webhook("stripe", signed(body), body, on_event=mark_paid)
    assert not first.duplicate
    assert first.changed
    assert first.event.type == "payment.succeeded"
    assert first.payment is not None
    assert first.payment.status == "captured"
    assert first.payment.captured_amount == USD_30
    assert [(p.id, e.event_id, tx) for p, e, tx in calls] == [(payment.id, "evt_ok", True)]

    after_first = await payments.get(payment.id)
    again = await payments.handle_webhook("stripe", signed(body), body, on_event=mark_paid)
    assert again.duplicate
    assert not again.changed
    assert len(calls) == 1
    assert await payments.get(payment.id) == after_first  # updated_at included
    assert await event_rows(payments) == [
        {
            "gateway": "stripe",
            "event_id": "evt_ok",
            "payment_id": payment.id,
            "type": "payment_intent.succeeded",
        }
    ]
    status = await payments.db.fetchval(
        "SELECT status FROM commerce_orders WHERE id = {}", payment.order_id
    )
    assert status == "paid"


async def test_a_failing_callback_rolls_everything_back(
    payments: Payments, make_order: MakeOrder
) -> None:
    payment = await pending_payment(payments, make_order)
    assert payment.reference is not None
    body = event_body("payment_intent.succeeded", intent_object(payment.reference), "evt_1")

    async def broken(p: Payment, event: GatewayEvent) -> None:
        raise RuntimeError("orders service is down")

    with pytest.raises(RuntimeError):
        await payments.handle_webhook("stripe", signed(body), body, on_event=broken)
    assert (await payments.get(payment.id)).status == "requires_action"
    assert await event_rows(payments) == []

    redelivered = await payments.handle_webhook("stripe", signed(body), body)
    assert not redelivered.duplicate
    assert redelivered.payment is not None and redelivered.payment.status == "captured"


async def test_failure_then_success(payments: Payments, make_order: MakeOrder) -> None:
    payment = await pending_payment(payments, make_order)
    assert payment.reference is not None
    failed = event_body("payment_intent.payment_failed", intent_object(payment.reference, 0))
    outcome = await payments.handle_webhook("stripe", signed(failed), failed)
    assert outcome.payment is not None and outcome.payment.status == "failed"

    # The customer tries another card on the same intent.
    ok = event_body("payment_intent.succeeded", intent_object(payment.reference))
    outcome = await payments.handle_webhook("stripe", signed(ok), ok)
    assert outcome.payment is not None and outcome.payment.status == "captured"

    late_failure = event_body("payment_intent.payment_failed", intent_object(payment.reference, 0))
    outcome = await payments.handle_webhook("stripe", signed(late_failure), late_failure)
    assert not outcome.changed
    assert outcome.payment is not None and outcome.payment.status == "captured"


async def test_refunds_made_at_stripe_are_recorded_once(
    payments: Payments, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    payment = await pending_payment(payments, make_order)
    assert payment.reference is not None
    ok = event_body("payment_intent.succeeded", intent_object(payment.reference))
    await payments.handle_webhook("stripe", signed(ok), ok)
    stripe_server.intents[payment.reference].update(status="succeeded", amount_received=3000)

    # Our own refund: Stripe then reports the charge's refunded total, which we already know.
    await payments.refund(payment.id, Money("10.00", "USD"))
    charge = stripe_server.charge_object(payment.reference)
    body = event_body("charge.refunded", charge, "evt_r1")
    outcome = await payments.handle_webhook("stripe", signed(body), body)
    assert not outcome.changed
    assert len(await payments.refunds(payment.id)) == 1

    # A refund in the Stripe dashboard: the ledger catches up with a row for the difference.
    stripe_server.refund_directly(payment.reference, 500)
    body = event_body("charge.refunded", stripe_server.charge_object(payment.reference), "evt_r2")
    outcome = await payments.handle_webhook("stripe", signed(body), body)
    assert outcome.changed
    assert outcome.payment is not None
    assert outcome.payment.refunded_amount == Money("15.00", "USD")
    refunds = await payments.refunds(payment.id)
    assert [r.amount for r in refunds] == [Money("10.00", "USD"), Money("5.00", "USD")]
    assert refunds[1].reference == "evt_r2"

    again = await payments.handle_webhook("stripe", signed(body), body)
    assert again.duplicate
    assert len(await payments.refunds(payment.id)) == 2
    assert (await payments.get(payment.id)).refunded_amount == Money("15.00", "USD")


async def test_untrusted_webhooks_write_nothing(payments: Payments, make_order: MakeOrder) -> None:
    payment = await pending_payment(payments, make_order)
    assert payment.reference is not None
    body = event_body("payment_intent.succeeded", intent_object(payment.reference))
    headers = signed(body)
    with pytest.raises(WebhookSignatureError):
        await payments.handle_webhook("stripe", headers, body.replace(b"3000", b"1"))
    with pytest.raises(WebhookSignatureError):
        await payments.handle_webhook(
            "stripe", {"Stripe-Signature": stripe_signature("whsec_wrong", body)}, body
        )
    with pytest.raises(PaymentError, match="does not receive webhooks"):
        await payments.handle_webhook("bank_transfer", headers, body)
    assert await event_rows(payments) == []
    assert (await payments.get(payment.id)).status == "requires_action"


async def test_events_about_unknown_payments_are_recorded_and_ignored(
    payments: Payments,
) -> None:
    body = event_body("payment_intent.succeeded", intent_object("pi_elsewhere"), "evt_x")
    outcome = await payments.handle_webhook("stripe", signed(body), body)
    assert (outcome.duplicate, outcome.payment, outcome.changed) == (False, None, False)
    other = event_body("customer.created", {"id": "cus_1", "object": "customer"}, "evt_y")
    outcome = await payments.handle_webhook("stripe", signed(other), other)
    assert outcome.event.type == "other"
    assert [row["payment_id"] for row in await event_rows(payments)] == [None, None]
    assert (await payments.handle_webhook("stripe", signed(body), body)).duplicate
