"""Bank transfer and cash on delivery: the gateway alone, then the full flow on both engines."""

from __future__ import annotations

import importlib
import types
from collections.abc import Awaitable, Callable

import pytest

from dropkit.commerce.errors import PaymentError
from dropkit.commerce.payments import ManualGateway, PaymentGateway, Payments
from dropkit.core.errors import ConfigurationError
from dropkit.core.money import Money

EUR_42 = Money("42.00", "EUR")
MakeOrder = Callable[..., Awaitable[str]]


def test_public_names_are_exactly_all() -> None:
    module = importlib.import_module("dropkit.commerce.payments")
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.discard("annotations")
    assert public == set(module.__all__)


async def test_bank_transfer_issues_a_stable_reference_and_instructions() -> None:
    gw = ManualGateway("bank_transfer", instructions="IBAN DE00; send {amount} ref {reference}")
    assert isinstance(gw, PaymentGateway)
    assert gw.name == "bank_transfer"
    gp = await gw.authorize(
        amount=EUR_42, order_id="o1", idempotency_key="chk-1", customer_email=None, capture=True
    )
    assert gp.status == "pending_offline"
    assert gp.reference.startswith("BT-")
    assert gp.instructions == f"IBAN DE00; send 42.00 EUR ref {gp.reference}"
    assert gp.captured_amount == Money.zero("EUR")
    assert gp.client_secret is None

    again = await gw.authorize(
        amount=EUR_42, order_id="o1", idempotency_key="chk-1", customer_email=None, capture=True
    )
    other = await gw.authorize(
        amount=EUR_42, order_id="o2", idempotency_key="chk-2", customer_email=None, capture=True
    )
    assert again.reference == gp.reference
    assert other.reference != gp.reference
    assert gw.instructions_for(gp.reference, EUR_42) == gp.instructions


async def test_cash_on_delivery_capture_refund_and_no_webhooks() -> None:
    gw = ManualGateway("cash_on_delivery", name="cod")
    gp = await gw.authorize(
        amount=EUR_42, order_id="o1", idempotency_key="k", customer_email=None, capture=True
    )
    assert gp.reference.startswith("COD-")
    assert gp.instructions is not None and "courier" in gp.instructions
    with pytest.raises(PaymentError, match="needs the amount"):
        await gw.capture(gp.reference, amount=None, idempotency_key="c")
    captured = await gw.capture(gp.reference, amount=EUR_42, idempotency_key="c")
    assert captured.status == "captured"
    assert captured.captured_amount == EUR_42
    refund = await gw.refund(gp.reference, amount=Money("2", "EUR"), idempotency_key="r")
    assert refund.status == "succeeded"
    assert refund.amount == Money("2", "EUR")
    with pytest.raises(PaymentError, match="does not receive webhooks"):
        gw.verify_webhook({}, b"{}")
    with pytest.raises(ConfigurationError):
        ManualGateway("cheque")  # type: ignore[arg-type]


async def test_offline_payment_flow(payments: Payments, make_order: MakeOrder) -> None:
    order_id = await make_order("42.00", "EUR", "bank_transfer")
    payment = await payments.start(
        order_id, "bank_transfer", EUR_42, idempotency_key="chk-1", email="a@example.com"
    )
    assert payment.id.startswith("pay_")
    assert payment.status == "pending_offline"
    assert payment.reference is not None and payment.reference.startswith("BT-")
    assert payment.captured_amount == Money.zero("EUR")

    with pytest.raises(PaymentError, match="nothing to refund"):
        await payments.refund(payment.id, Money("1", "EUR"))

    # The operator sees the transfer arrive and confirms it.
    captured = await payments.capture(payment.id)
    assert captured.status == "captured"
    assert captured.captured_amount == EUR_42
    assert await payments.capture(payment.id) == captured  # confirming twice changes nothing

    refund = await payments.refund(payment.id, Money("12.00", "EUR"), "damaged box")
    assert refund.reason == "damaged box"
    assert refund.reference is not None
    assert refund.order_id == order_id
    with pytest.raises(PaymentError, match=r"only 30\.00 EUR"):
        await payments.refund(payment.id, Money("30.01", "EUR"))
    await payments.refund(payment.id, Money("30.00", "EUR"))

    final = await payments.get(payment.id)
    assert final.status == "refunded"
    assert final.refunded_amount == EUR_42
    assert final.refundable == Money.zero("EUR")
    assert [r.amount for r in await payments.refunds(payment.id)] == [
        Money("12.00", "EUR"),
        Money("30.00", "EUR"),
    ]
    assert await payments.for_order(order_id) == [final]
