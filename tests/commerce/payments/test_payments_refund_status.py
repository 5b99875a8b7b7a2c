"""Refund status: a pending Stripe refund is not money back until Stripe says it succeeded;
a failed one is released. Orders count only succeeded refunds; the migration keeps old rows."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

import pytest
from fake_stripe import (
    WEBHOOK_SECRET,
    FakeStripe,
    confirm_intent,
    event_body,
    stripe_signature,
)

from dropkit.commerce.errors import IllegalTransitionError
from dropkit.commerce.inventory import Inventory
from dropkit.commerce.orders import Orders, OrderStatus
from dropkit.commerce.payments import Payment, Payments
from dropkit.commerce.schema import COMMERCE_MIGRATIONS
from dropkit.core.database import Database
from dropkit.core.errors import ValidationError
from dropkit.core.events import EventBus
from dropkit.core.jobs import JobRegistry, Jobs, LedgerOnlyDispatcher
from dropkit.core.migrations import Migrator
from dropkit.core.money import Money
from dropkit.core.schema import CORE_MIGRATIONS

MakeOrder = Callable[..., Awaitable[str]]
USD = "USD"


def usd(amount: str) -> Money:
    return Money(amount, USD)


async def paid_payment(
    payments: Payments, stripe_server: FakeStripe, make_order: MakeOrder
) -> Payment:
    order_id = await make_order()
    payment = await payments.start(order_id, "stripe", usd("30.00"), idempotency_key=order_id)
    assert payment.reference is not None
    await confirm_intent(stripe_server, payment.reference)
    headers, body = stripe_server.webhook("payment_intent.succeeded", payment.reference)
    outcome = await payments.handle_webhook("stripe", headers, body)
    assert outcome.payment is not None and outcome.payment.status == "captured"
    return outcome.payment


@pytest.fixture
def orders(commerce_db: Database) -> Orders:
    registry = JobRegistry()
    events = EventBus(commerce_db, Jobs(commerce_db, registry, dispatcher=LedgerOnlyDispatcher()))
    events.register_jobs(registry)
    return Orders(commerce_db, events, Inventory(commerce_db, events))


async def test_a_pending_refund_succeeds_by_webhook(
    payments: Payments, orders: Orders, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    payment = await paid_payment(payments, stripe_server, make_order)
    stripe_server.refund_status = "pending"
    refund = await payments.refund(payment.id, usd("10.00"))
    assert refund.status == "pending"
    assert refund.reference is not None
    # Reserved: it cannot be refunded twice, but it is not money back yet.
    assert (await payments.get(payment.id)).refundable == usd("20.00")
    totals = await orders.refund_totals(payment.order_id)
    assert (totals.succeeded, totals.pending) == (usd("0.00"), usd("10.00"))

    headers, body = stripe_server.refund_webhook(refund.reference, "succeeded")
    outcome = await payments.handle_webhook("stripe", headers, body)
    assert outcome.event.type == "refund.updated"
    assert outcome.event.refund_reference == refund.reference
    (settled,) = await payments.refunds(payment.id)
    assert settled.status == "succeeded"
    totals = await orders.refund_totals(payment.order_id)
    assert (totals.succeeded, totals.pending) == (usd("10.00"), usd("0.00"))
    assert (await payments.handle_webhook("stripe", headers, body)).duplicate


async def test_a_failed_refund_is_released(
    payments: Payments, orders: Orders, stripe_server: FakeStripe, make_order: MakeOrder
) -> None:
    payment = await paid_payment(payments, stripe_server, make_order)
    stripe_server.refund_status = "pending"
    refund = await payments.refund(payment.id, usd("30.00"))
    assert refund.reference is not None
    assert (await payments.get(payment.id)).status == "refunded"  # all of it is reserved

    headers, body = stripe_server.refund_webhook(
        refund.reference, "failed", event_type="charge.refund.updated"
    )
    outcome = await payments.handle_webhook("stripe", headers, body)
    assert outcome.changed
    assert outcome.payment is not None
    assert (outcome.payment.status, outcome.payment.refunded_amount) == ("captured", usd("0.00"))
    (failed,) = await payments.refunds(payment.id)
    assert failed.status == "failed"
    totals = await orders.refund_totals(payment.order_id)
    assert (totals.succeeded, totals.pending) == (usd("0.00"), usd("0.00"))

    # Failed is final: a late "succeeded" about it changes nothing; the money can be refunded.
    late_refund = {**stripe_server.refunds[refund.reference], "status": "succeeded"}
    body = event_body("refund.updated", late_refund)
    headers = {"Stripe-Signature": stripe_signature(WEBHOOK_SECRET, body)}
    late = await payments.handle_webhook("stripe", headers, body)
    assert not late.changed
    stripe_server.refund_status = "succeeded"
    again = await payments.refund(payment.id, usd("30.00"), idempotency_key="second try")
    assert again.status == "succeeded"
    totals = await orders.refund_totals(payment.order_id)
    assert totals.succeeded == usd("30.00")


async def test_orders_count_only_succeeded_refunds(
    orders: Orders, commerce_db: Database, make_order: MakeOrder
) -> None:
    order_id = await make_order("30.00")
    await commerce_db.execute(
        "UPDATE commerce_orders SET status = 'paid', refunded_amount = '0.00' WHERE id = {}",
        order_id,
    )
    pending = await orders.record_refund(order_id, usd("20.00"), status="pending", reference="re_1")
    assert pending.refunded == usd("0.00")
    assert pending.status is OrderStatus.PAID
    with pytest.raises(ValidationError, match="exceeds"):  # the pending 20 is spoken for
        await orders.record_refund(order_id, usd("15.00"))
    await orders.record_refund(order_id, usd("10.00"))
    refund_id = await commerce_db.fetchval(
        "SELECT id FROM commerce_refunds WHERE reference = 're_1'"
    )
    done = await orders.settle_refund(refund_id, "succeeded")
    assert done.refunded == usd("30.00")
    assert done.status is OrderStatus.REFUNDED
    assert (await orders.settle_refund(refund_id, "succeeded")).refunded == usd("30.00")
    with pytest.raises(IllegalTransitionError):
        await orders.settle_refund(refund_id, "failed")


async def test_a_failed_order_refund_never_counts(
    orders: Orders, commerce_db: Database, make_order: MakeOrder
) -> None:
    order_id = await make_order("30.00")
    await orders.record_refund(order_id, usd("30.00"), status="pending")
    refund_id = await commerce_db.fetchval("SELECT id FROM commerce_refunds")
    failed = await orders.settle_refund(refund_id, "failed")
    assert failed.refunded == usd("0.00")
    totals = await orders.refund_totals(order_id)
    assert (totals.succeeded, totals.pending) == (usd("0.00"), usd("0.00"))
    with pytest.raises(ValidationError, match="succeeded or pending"):
        await orders.record_refund(order_id, usd("1.00"), status="failed")


async def test_the_migration_keeps_old_refunds_and_marks_unanswered_ones_pending(
    database_url: str,
) -> None:
    v1 = [m for m in COMMERCE_MIGRATIONS if m.version == 1]
    async with Database(database_url) as db:
        await Migrator(db, [*CORE_MIGRATIONS, *v1]).migrate()
        now = time.time()
        await db.execute(
            "INSERT INTO commerce_orders (id, number, email, status, currency, subtotal_amount,"
            " discount_amount, tax_amount, shipping_amount, total_amount, refunded_amount,"
            " shipping_address, payment_gateway, flags, placed_at, updated_at) VALUES"
            " ('ord_old', 1, 'a@example.com', 'paid', 'USD', '30', '0', '0', '0', '30', '0',"
            " {}, 'stripe', {}, {}, {})",
            json.dumps({}),
            json.dumps([]),
            now,
            now,
        )
        for refund_id, reference in (
            ("ref_manual", None),
            ("rfd_done", "re_1"),
            ("rfd_lost", None),
        ):
            await db.execute(
                "INSERT INTO commerce_refunds (id, order_id, amount, currency, reference,"
                " created_at) VALUES ({}, 'ord_old', '5', 'USD', {}, {})",
                refund_id,
                reference,
                now,
            )
        await Migrator(db, [*CORE_MIGRATIONS, *COMMERCE_MIGRATIONS]).migrate()
        rows = await db.fetch("SELECT id, status FROM commerce_refunds ORDER BY id")
    assert {r["id"]: r["status"] for r in rows} == {
        "ref_manual": "succeeded",
        "rfd_done": "succeeded",
        "rfd_lost": "pending",
    }
