"""The payments ledger: what each gateway was asked to do, and what it said happened.

Network calls never run inside a database transaction here: a slow provider must not hold the
SQLite write lock or a PostgreSQL row lock. Checkout therefore calls :meth:`Payments.authorize`
(gateway only) before its order transaction and :meth:`Payments.record` (database only) inside
it. Refunds reserve the amount in the database first, then call the gateway, so two concurrent
refunds can never give back more than was captured.

A refund is ``pending`` until the gateway says the money is back (Stripe's ``refund.updated``
webhook); the reserved amount stays on ``refunded_amount`` meanwhile, so nothing can be refunded
twice, and is released only if the refund fails.

Webhooks are at-least-once: every verified event is written to ``commerce_payment_events``
keyed by ``(gateway, event_id)`` in the same transaction as its effect, so a redelivery finds
the row and changes nothing.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from dropkit.commerce.amounts import money_from_db, to_db
from dropkit.commerce.errors import PaymentError
from dropkit.commerce.payments.gateway import (
    GatewayEvent,
    GatewayPayment,
    GatewayPaymentState,
    GatewayRefundStatus,
    PaymentGateway,
    PaymentGatewayError,
    PaymentNotCancellableError,
)
from dropkit.commerce.payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    WebhookOutcome,
)
from dropkit.core.database import Database, Row
from dropkit.core.errors import NotFoundError
from dropkit.core.money import Money

__all__ = ["OnPaymentEvent", "Payments"]

OnPaymentEvent = Callable[[Payment, GatewayEvent], Awaitable[None]]
"""Called inside the webhook's transaction, e.g. to mark the order paid atomically."""

_CAPTURABLE: tuple[PaymentStatus, ...] = ("authorized", "pending_offline")
_OPEN: tuple[PaymentStatus, ...] = ("requires_action", "authorized", "pending_offline", "failed")


def _derived_id(prefix: str, *parts: str) -> str:
    """A stable id from an idempotency key, so a retried call finds its first attempt's row."""
    return prefix + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


class Payments:
    """Payments of orders through named gateways (``{"stripe": StripeGateway(...), ...}``).

    ``clock`` returns epoch seconds (tests pass a fake one). The database must carry the
    commerce schema.
    """

    def __init__(
        self,
        database: Database,
        gateways: Mapping[str, PaymentGateway],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = database
        self._gateways = dict(gateways)
        self._clock = clock

    def gateway(self, name: str) -> PaymentGateway:
        """The gateway registered as ``name``."""
        try:
            return self._gateways[name]
        except KeyError:
            known = ", ".join(sorted(self._gateways)) or "none"
            raise PaymentError(f"unknown payment gateway {name!r} (configured: {known})") from None

    @property
    def gateway_names(self) -> list[str]:
        return sorted(self._gateways)

    # -- taking money -----------------------------------------------------------------------

    async def authorize(
        self,
        order_id: str,
        gateway_name: str,
        amount: Money,
        *,
        idempotency_key: str,
        email: str | None = None,
        capture: bool = True,
    ) -> GatewayPayment:
        """Ask the gateway to start a payment; touches no database (call it before the order
        transaction, then :meth:`record` inside it)."""
        if not isinstance(amount, Money) or amount.amount <= 0:
            raise PaymentError(f"a payment amount must be positive Money, got {amount!r}")
        return await self.gateway(gateway_name).authorize(
            amount=amount,
            order_id=order_id,
            idempotency_key=idempotency_key,
            customer_email=email,
            capture=capture,
        )

    async def record(
        self,
        order_id: str,
        gateway_name: str,
        gp: GatewayPayment,
        amount: Money | None = None,
    ) -> Payment:
        """Store what :meth:`authorize` returned; one insert, meant for the caller's transaction.

        Recording the same gateway reference for the same order again returns the first row,
        so a retried checkout does not create a second payment.
        """
        self.gateway(gateway_name)
        if amount is not None and amount != gp.amount:
            raise PaymentError(f"gateway authorized {gp.amount}, not the {amount} expected")
        existing = await self.db.fetchrow(
            "SELECT * FROM commerce_payments"
            " WHERE order_id = {} AND gateway = {} AND reference = {}",
            order_id,
            gateway_name,
            gp.reference,
        )
        if existing is not None:
            return Payment.from_row(existing)
        now = self._clock()
        row = await self.db.fetchrow(
            "INSERT INTO commerce_payments (id, order_id, gateway, reference, status, amount,"
            " currency, captured_amount, refunded_amount, client_secret, created_at, updated_at)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING *",
            f"pay_{uuid.uuid4().hex}",
            order_id,
            gateway_name,
            gp.reference,
            gp.status,
            to_db(gp.amount),
            gp.amount.currency,
            to_db(gp.captured_amount),
            to_db(Money.zero(gp.amount.currency)),
            gp.client_secret,
            now,
            now,
        )
        assert row is not None
        return Payment.from_row(row)

    async def start(
        self,
        order_id: str,
        gateway_name: str,
        amount: Money,
        *,
        idempotency_key: str,
        email: str | None = None,
        capture: bool = True,
    ) -> Payment:
        """:meth:`authorize` then :meth:`record`, for callers with no transaction of their own."""
        gp = await self.authorize(
            order_id,
            gateway_name,
            amount,
            idempotency_key=idempotency_key,
            email=email,
            capture=capture,
        )
        return await self.record(order_id, gateway_name, gp, amount)

    async def capture(
        self,
        payment_id: str,
        amount: Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Payment:
        """Take held funds, or confirm an offline payment arrived (all of it by default).

        Capturing a payment that is already captured returns it unchanged.
        """
        payment = await self.get(payment_id)
        if payment.status in ("captured", "refunded"):
            return payment
        if payment.status not in _CAPTURABLE or payment.reference is None:
            raise PaymentError(f"payment {payment_id} is {payment.status}: nothing to capture")
        amount = payment.amount if amount is None else amount
        if amount.currency != payment.amount.currency or amount.amount <= 0:
            raise PaymentError(f"cannot capture {amount} of a {payment.amount} payment")
        if amount > payment.amount:
            raise PaymentError(f"cannot capture {amount}: only {payment.amount} was authorized")
        gp = await self.gateway(payment.gateway).capture(
            payment.reference,
            amount=amount,
            idempotency_key=idempotency_key or f"capture:{payment_id}",
        )
        captured = gp.captured_amount if not gp.captured_amount.is_zero() else amount
        row = await self.db.fetchrow(
            "UPDATE commerce_payments SET status = 'captured', captured_amount = {},"
            " updated_at = {} WHERE id = {} AND status IN ('authorized', 'pending_offline')"
            " RETURNING *",
            to_db(captured),
            self._clock(),
            payment_id,
        )
        # No row: a webhook recorded the capture meanwhile; its state is as good as ours.
        return Payment.from_row(row) if row is not None else await self.get(payment_id)

    # -- calling a payment off --------------------------------------------------------------

    async def fetch(self, payment_id: str) -> GatewayPaymentState:
        """What the payment's gateway says about it now (the ledger is not changed)."""
        payment = await self.get(payment_id)
        if payment.reference is None:
            raise PaymentError(f"payment {payment_id} has no gateway reference")
        return await self.gateway(payment.gateway).fetch(payment.reference)

    async def release(
        self, gateway_name: str, reference: str, *, idempotency_key: str
    ) -> GatewayPaymentState:
        """Cancel a payment at the gateway only (one never recorded: a checkout that failed
        after :meth:`authorize`); touches no database."""
        return await self.gateway(gateway_name).cancel(reference, idempotency_key=idempotency_key)

    async def cancel(self, payment_id: str, *, idempotency_key: str | None = None) -> Payment:
        """Call off a payment that took no money yet, releasing what the gateway holds.

        A cancelled payment is returned unchanged; a captured or refunded one raises
        :class:`PaymentNotCancellableError` (refund it instead), as does one the gateway
        reports as already succeeded (its webhook has not arrived yet).
        """
        payment = await self.get(payment_id)
        if payment.status == "cancelled":
            return payment
        if payment.status not in _OPEN or payment.reference is None:
            raise PaymentNotCancellableError(
                f"payment {payment_id} is {payment.status}: refund it instead",
                status=payment.status,
            )
        await self.gateway(payment.gateway).cancel(
            payment.reference, idempotency_key=idempotency_key or f"cancel:{payment_id}"
        )
        placeholders = ", ".join("{}" for _ in _OPEN)
        row = await self.db.fetchrow(
            "UPDATE commerce_payments SET status = 'cancelled', updated_at = {}"
            f" WHERE id = {{}} AND status IN ({placeholders}) RETURNING *",
            self._clock(),
            payment_id,
            *_OPEN,
        )
        return Payment.from_row(row) if row is not None else await self.get(payment_id)

    # -- giving money back ------------------------------------------------------------------

    async def refund(
        self,
        payment_id: str,
        amount: Money,
        reason: str = "",
        *,
        idempotency_key: str | None = None,
    ) -> Refund:
        """Refund ``amount`` of a captured payment; never more than captured minus refunded.

        The amount is reserved (refund row + ``refunded_amount``) in one transaction before the
        gateway is called. A refusal by the gateway releases it. When the outcome is unknown
        (network failure after retries) the reservation stays and the error is raised: call
        again with the same ``idempotency_key`` to finish it (the gateway dedupes the resend).
        """
        if not isinstance(amount, Money) or amount.amount <= 0:
            raise PaymentError(f"a refund amount must be positive Money, got {amount!r}")
        refund_id = (
            _derived_id("rfd_", payment_id, idempotency_key)
            if idempotency_key
            else f"rfd_{uuid.uuid4().hex}"
        )
        existing = await self._refund_row(refund_id)
        if (
            existing is not None
            and money_from_db(existing["amount"], existing["currency"]) != amount
        ):
            raise PaymentError(f"idempotency key {idempotency_key!r} was used for another amount")
        if existing is not None and existing["reference"] is not None:
            return Refund.from_row(existing)
        if existing is None:
            payment = await self._reserve_refund(refund_id, payment_id, amount, reason)
        else:
            payment = await self.get(payment_id)
        assert payment.reference is not None
        try:
            result = await self.gateway(payment.gateway).refund(
                payment.reference, amount=amount, idempotency_key=f"refund:{refund_id}"
            )
        except PaymentGatewayError as exc:
            if exc.retryable:
                raise  # outcome unknown: keep the reservation (see the docstring)
            await self._release_refund(refund_id, payment_id, amount)
            raise
        except PaymentError:
            await self._release_refund(refund_id, payment_id, amount)
            raise
        row = await self.db.fetchrow(
            "UPDATE commerce_refunds SET reference = {}, status = {} WHERE id = {} RETURNING *",
            result.reference,
            result.status,
            refund_id,
        )
        assert row is not None
        return Refund.from_row(row)

    async def _reserve_refund(
        self, refund_id: str, payment_id: str, amount: Money, reason: str
    ) -> Payment:
        async with self.db.transaction():
            payment = await self._locked(payment_id)
            if payment.status not in ("captured", "refunded"):
                raise PaymentError(f"payment {payment_id} is {payment.status}: nothing to refund")
            if amount.currency != payment.amount.currency:
                raise PaymentError(f"cannot refund {amount} of a {payment.amount} payment")
            if amount > payment.refundable:
                raise PaymentError(
                    f"cannot refund {amount}: only {payment.refundable} of payment {payment_id}"
                    " is left to refund"
                )
            await self._set_refunded(payment, payment.refunded_amount + amount)
            await self._insert_refund(refund_id, payment, amount, reason, None, "pending")
        return payment

    async def _release_refund(self, refund_id: str, payment_id: str, amount: Money) -> None:
        """Undo a reservation the gateway refused."""
        async with self.db.transaction():
            payment = await self._locked(payment_id)
            await self._set_refunded(payment, payment.refunded_amount - amount)
            await self.db.execute("DELETE FROM commerce_refunds WHERE id = {}", refund_id)

    async def _set_refunded(self, payment: Payment, refunded: Money) -> None:
        if refunded >= payment.captured_amount:
            status: PaymentStatus = "refunded"
        elif payment.status == "refunded":
            status = "captured"
        else:
            status = payment.status
        await self.db.execute(
            "UPDATE commerce_payments SET refunded_amount = {}, status = {}, updated_at = {}"
            " WHERE id = {}",
            to_db(refunded),
            status,
            self._clock(),
            payment.id,
        )

    async def _insert_refund(
        self,
        refund_id: str,
        payment: Payment,
        amount: Money,
        reason: str,
        reference: str | None,
        status: RefundStatus,
    ) -> None:
        await self.db.execute(
            "INSERT INTO commerce_refunds (id, order_id, payment_id, amount, currency, reason,"
            " reference, status, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            refund_id,
            payment.order_id,
            payment.id,
            to_db(amount),
            amount.currency,
            reason,
            reference,
            status,
            self._clock(),
        )

    async def _settle_refund(
        self, payment: Payment, reference: str, status: GatewayRefundStatus
    ) -> bool:
        """Apply a refund's new status (caller holds the payment's lock); ``True`` if it moved.

        ``failed`` is final: the reserved amount goes back to refundable. A refund we never
        asked for (made in the provider's dashboard) is left to the ``refund.succeeded`` total.
        """
        row = await self.db.fetchrow(
            "SELECT * FROM commerce_refunds WHERE payment_id = {} AND reference = {}",
            payment.id,
            reference,
        )
        if row is None or row["status"] in (status, "failed"):
            return False
        await self.db.execute(
            "UPDATE commerce_refunds SET status = {} WHERE id = {}", status, row["id"]
        )
        if status == "failed":
            released = money_from_db(row["amount"], row["currency"])
            await self._set_refunded(payment, payment.refunded_amount - released)
        return True

    # -- webhooks ---------------------------------------------------------------------------

    async def handle_webhook(
        self,
        gateway_name: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        on_event: OnPaymentEvent | None = None,
    ) -> WebhookOutcome:
        """Verify and apply one webhook delivery, at most once per event id.

        Raises :class:`~dropkit.commerce.payments.WebhookSignatureError` for an untrusted
        request (answer 400) and nothing is written. ``on_event(payment, event)`` runs in the
        same transaction for a new event about a known payment; if it raises, everything rolls
        back, including the dedupe row, so the provider's redelivery tries again.
        """
        event = self.gateway(gateway_name).verify_webhook(headers, body)
        async with self.db.transaction():
            payment: Payment | None = None
            if event.reference is not None:
                row = await self.db.fetchrow(
                    "SELECT id FROM commerce_payments WHERE gateway = {} AND reference = {}"
                    " ORDER BY created_at LIMIT 1",
                    gateway_name,
                    event.reference,
                )
                if row is not None:
                    payment = await self._locked(row["id"])
            inserted = await self.db.fetchrow(
                "INSERT INTO commerce_payment_events (gateway, event_id, payment_id, type,"
                " received_at) VALUES ({}, {}, {}, {}, {})"
                " ON CONFLICT (gateway, event_id) DO NOTHING RETURNING event_id",
                gateway_name,
                event.event_id,
                payment.id if payment else None,
                event.raw_type,
                self._clock(),
            )
            if inserted is None:
                return WebhookOutcome(duplicate=True, event=event, payment=payment)
            if payment is None:
                return WebhookOutcome(duplicate=False, event=event)
            updated = await self._apply(payment, event)
            if on_event is not None:
                await on_event(updated, event)
            return WebhookOutcome(
                duplicate=False, event=event, payment=updated, changed=updated != payment
            )

    async def _apply(self, payment: Payment, event: GatewayEvent) -> Payment:
        """Move ``payment`` as ``event`` says; events that change nothing are fine."""
        amount = event.amount
        if amount is not None and amount.currency != payment.amount.currency:
            raise PaymentError(
                f"event {event.event_id} is in {amount.currency}, payment {payment.id} in "
                f"{payment.amount.currency}"
            )
        if event.type == "payment.authorized" and payment.status in ("requires_action", "failed"):
            await self._update(payment.id, status="authorized")
        elif event.type == "payment.succeeded" and payment.status in _OPEN:
            captured = amount if amount is not None and not amount.is_zero() else payment.amount
            await self._update(payment.id, status="captured", captured_amount=captured)
        elif event.type == "payment.failed" and payment.status in ("requires_action", "authorized"):
            await self._update(payment.id, status="failed")
        elif (
            event.type == "refund.succeeded"
            and amount is not None
            and amount > payment.refunded_amount
        ):
            # A refund made at the provider (its dashboard): add a row for the difference so
            # the refunds always sum to refunded_amount.
            difference = amount - payment.refunded_amount
            refund_id = _derived_id("rfd_", payment.id, "event", event.event_id)
            await self._insert_refund(
                refund_id,
                payment,
                difference,
                "refunded at the gateway",
                event.event_id,
                "succeeded",
            )
            await self._set_refunded(payment, amount)
        elif event.type == "refund.updated" and event.refund_reference and event.refund_status:
            if not await self._settle_refund(payment, event.refund_reference, event.refund_status):
                return payment
        else:
            return payment
        return await self.get(payment.id)

    async def _update(self, payment_id: str, **values: Any) -> None:
        sets = ", ".join(f"{column} = {{}}" for column in values)
        args = [to_db(v) if isinstance(v, Money) else v for v in values.values()]
        await self.db.execute(
            f"UPDATE commerce_payments SET {sets}, updated_at = {{}} WHERE id = {{}}",
            *args,
            self._clock(),
            payment_id,
        )

    # -- reading ----------------------------------------------------------------------------

    async def get(self, payment_id: str) -> Payment:
        """The payment ``payment_id``; :class:`NotFoundError` if there is none."""
        row = await self.db.fetchrow("SELECT * FROM commerce_payments WHERE id = {}", payment_id)
        if row is None:
            raise NotFoundError(f"no payment {payment_id!r}")
        return Payment.from_row(row)

    async def for_order(self, order_id: str) -> list[Payment]:
        """The order's payments, oldest first."""
        rows = await self.db.fetch(
            "SELECT * FROM commerce_payments WHERE order_id = {} ORDER BY created_at, id", order_id
        )
        return [Payment.from_row(row) for row in rows]

    async def refunds(self, payment_id: str) -> list[Refund]:
        """The payment's refunds, oldest first."""
        rows = await self.db.fetch(
            "SELECT * FROM commerce_refunds WHERE payment_id = {} ORDER BY created_at, id",
            payment_id,
        )
        return [Refund.from_row(row) for row in rows]

    async def _locked(self, payment_id: str) -> Payment:
        """Read a payment for update (PostgreSQL row lock; SQLite's write lock is already
        held by ``BEGIN IMMEDIATE``)."""
        lock = " FOR UPDATE" if self.db.dialect == "postgres" else ""
        row = await self.db.fetchrow(
            "SELECT * FROM commerce_payments WHERE id = {}" + lock, payment_id
        )
        if row is None:
            raise NotFoundError(f"no payment {payment_id!r}")
        return Payment.from_row(row)

    async def _refund_row(self, refund_id: str) -> Row | None:
        return await self.db.fetchrow("SELECT * FROM commerce_refunds WHERE id = {}", refund_id)
