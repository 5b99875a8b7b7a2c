"""Orders: snapshots of what was bought, a status machine, fulfilments and refunds.

Status moves only along :data:`TRANSITIONS`; every move is a guarded ``UPDATE ... WHERE status
= <expected>`` so two concurrent moves cannot both succeed, and each publishes its event in the
same transaction. Lines freeze price, cost, supplier, vendor and commission at checkout: later
catalog changes never rewrite history.
"""

from __future__ import annotations

import builtins
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from dropkit.commerce.amounts import money_from_db, to_db
from dropkit.commerce.errors import IllegalTransitionError
from dropkit.commerce.events import (
    FulfilmentCreated,
    FulfilmentDelivered,
    FulfilmentShipped,
    OrderCancelled,
    OrderPaid,
    OrderRefunded,
)
from dropkit.commerce.inventory import Inventory
from dropkit.core.database import Database, param_list
from dropkit.core.errors import NotFoundError, ValidationError
from dropkit.core.events import EventBus
from dropkit.core.money import Money

__all__ = [
    "TRANSITIONS",
    "Fulfilment",
    "FulfilmentStatus",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Orders",
    "RefundStatus",
    "RefundTotals",
]

RefundStatus = Literal["pending", "succeeded", "failed"]


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLING = "fulfilling"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.FULFILLING, S.CANCELLED, S.REFUNDED}),
    S.FULFILLING: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.CANCELLED, S.REFUNDED}),
    S.PARTIALLY_SHIPPED: frozenset({S.SHIPPED, S.REFUNDED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.REFUNDED}),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}


class FulfilmentStatus(StrEnum):
    PENDING = "pending"
    SHIPPED = "shipped"
    DELIVERED = "delivered"


def _ts(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class OrderLine:
    id: str
    variant_id: str
    product_id: str
    vendor_id: str
    sku: str
    title: str
    quantity: int
    unit_price: Money
    line_total: Money
    discount: Money
    tax: Money
    commission_rate: Decimal
    commission: Money
    supplier_id: str | None
    offer_id: str | None
    unit_cost: Money | None
    source: str  # "own" stock or "supplier"

    @classmethod
    def from_row(cls, row: dict[str, Any], currency: str) -> OrderLine:
        cost = row["unit_cost_amount"]
        return cls(
            id=row["id"],
            variant_id=row["variant_id"],
            product_id=row["product_id"],
            vendor_id=row["vendor_id"],
            sku=row["sku"],
            title=row["title"],
            quantity=int(row["quantity"]),
            unit_price=money_from_db(row["unit_price_amount"], currency),
            line_total=money_from_db(row["line_total_amount"], currency),
            discount=money_from_db(row["discount_amount"], currency),
            tax=money_from_db(row["tax_amount"], currency),
            commission_rate=Decimal(str(row["commission_rate"])),
            commission=money_from_db(row["commission_amount"], currency),
            supplier_id=row["supplier_id"],
            offer_id=row["offer_id"],
            unit_cost=None if cost is None else money_from_db(cost, row["cost_currency"]),
            source=row["source"],
        )


@dataclass(frozen=True)
class Fulfilment:
    id: str
    order_id: str
    vendor_id: str
    supplier_id: str | None
    status: FulfilmentStatus
    carrier: str | None
    tracking_number: str | None
    line_ids: tuple[str, ...]
    created_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Fulfilment:
        return cls(
            id=row["id"],
            order_id=row["order_id"],
            vendor_id=row["vendor_id"],
            supplier_id=row["supplier_id"],
            status=FulfilmentStatus(row["status"]),
            carrier=row["carrier"],
            tracking_number=row["tracking_number"],
            line_ids=tuple(_json(row["line_ids"])),
            created_at=_ts(row["created_at"]) or datetime.now(UTC),
            shipped_at=_ts(row["shipped_at"]),
            delivered_at=_ts(row["delivered_at"]),
        )


@dataclass(frozen=True)
class Order:
    id: str
    number: int
    status: OrderStatus
    email: str
    customer_id: str | None
    currency: str
    subtotal: Money
    discount: Money
    tax: Money
    shipping: Money
    total: Money
    refunded: Money
    coupon_code: str | None
    shipping_address: dict[str, Any]
    payment_gateway: str
    flags: tuple[str, ...]
    lines: tuple[OrderLine, ...]
    placed_at: datetime
    idempotency_key: str | None = None
    cart_id: str | None = None

    @property
    def vendor_ids(self) -> list[str]:
        return sorted({line.vendor_id for line in self.lines})

    @classmethod
    def from_rows(cls, row: dict[str, Any], lines: Sequence[dict[str, Any]]) -> Order:
        c = row["currency"]
        return cls(
            id=row["id"],
            number=int(row["number"]),
            status=OrderStatus(row["status"]),
            email=row["email"],
            customer_id=row["customer_id"],
            currency=c,
            subtotal=money_from_db(row["subtotal_amount"], c),
            discount=money_from_db(row["discount_amount"], c),
            tax=money_from_db(row["tax_amount"], c),
            shipping=money_from_db(row["shipping_amount"], c),
            total=money_from_db(row["total_amount"], c),
            refunded=money_from_db(row["refunded_amount"], c),
            coupon_code=row["coupon_code"],
            shipping_address=_json(row["shipping_address"]),
            payment_gateway=row["payment_gateway"],
            flags=tuple(_json(row["flags"])),
            lines=tuple(OrderLine.from_row(line, c) for line in lines),
            placed_at=_ts(row["placed_at"]) or datetime.now(UTC),
            idempotency_key=row["idempotency_key"],
            cart_id=row["cart_id"],
        )


@dataclass(frozen=True)
class RefundTotals:
    """An order's refunds by status: ``succeeded`` is money back with the customer,
    ``pending`` is accepted by the provider but not there yet (failed ones count nowhere)."""

    succeeded: Money
    pending: Money


class Orders:
    """Read orders and move them through their life."""

    def __init__(
        self,
        database: Database,
        events: EventBus,
        inventory: Inventory,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._events = events
        self._inventory = inventory
        self._clock = clock

    # -- reading --------------------------------------------------------------------------

    async def get(self, order_id: str) -> Order:
        row = await self._db.fetchrow("SELECT * FROM commerce_orders WHERE id = {}", order_id)
        if row is None:
            raise NotFoundError(f"no order {order_id!r}")
        return await self._with_lines(row)

    async def by_number(self, number: int) -> Order:
        row = await self._db.fetchrow("SELECT * FROM commerce_orders WHERE number = {}", number)
        if row is None:
            raise NotFoundError(f"no order number {number}")
        return await self._with_lines(row)

    async def find(self, *, idempotency_key: str | None, cart_id: str | None) -> Order | None:
        """The order an earlier checkout with this key (or cart) created, if any."""
        row = await self._db.fetchrow(
            "SELECT * FROM commerce_orders WHERE idempotency_key = {} OR cart_id = {}"
            " ORDER BY idempotency_key = {} DESC LIMIT 1",
            idempotency_key,
            cart_id,
            idempotency_key,
        )
        return None if row is None else await self._with_lines(row)

    async def list(
        self,
        *,
        status: OrderStatus | str | None = None,
        vendor_id: str | None = None,
        customer_id: str | None = None,
        limit: int = 50,
    ) -> list[Order]:
        if not 1 <= limit <= 1000:
            raise ValidationError("limit must be 1 to 1000")
        clauses: list[str] = []
        args: list[Any] = []
        if status is not None:
            clauses.append("status = {}")
            args.append(OrderStatus(status).value)
        if customer_id is not None:
            clauses.append("customer_id = {}")
            args.append(customer_id)
        if vendor_id is not None:
            clauses.append("id IN (SELECT order_id FROM commerce_order_lines WHERE vendor_id = {})")
            args.append(vendor_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetch(
            f"SELECT * FROM commerce_orders{where} ORDER BY placed_at DESC, id LIMIT {{}}",
            *args,
            limit,
        )
        if not rows:
            return []
        marks = param_list(len(rows))
        lines = await self._db.fetch(
            f"SELECT * FROM commerce_order_lines WHERE order_id IN ({marks}) ORDER BY sku, id",
            *[r["id"] for r in rows],
        )
        by_order: dict[str, list[dict[str, Any]]] = {}
        for line in lines:
            by_order.setdefault(line["order_id"], []).append(line)
        return [Order.from_rows(r, by_order.get(r["id"], [])) for r in rows]

    async def _with_lines(self, row: dict[str, Any]) -> Order:
        lines = await self._db.fetch(
            "SELECT * FROM commerce_order_lines WHERE order_id = {} ORDER BY sku, id", row["id"]
        )
        return Order.from_rows(row, lines)

    # -- status ---------------------------------------------------------------------------

    async def _move(self, order_id: str, target: OrderStatus) -> Order:
        """Move to ``target`` if the machine allows it from the current status (guarded)."""
        order = await self.get(order_id)
        if target not in TRANSITIONS[order.status]:
            raise IllegalTransitionError(
                f"order {order.number} cannot go from {order.status.value} to {target.value}"
            )
        row = await self._db.fetchrow(
            "UPDATE commerce_orders SET status = {}, updated_at = {}"
            " WHERE id = {} AND status = {} RETURNING id",
            target.value,
            self._clock(),
            order_id,
            order.status.value,
        )
        if row is None:  # someone else moved it first
            current = await self.get(order_id)
            raise IllegalTransitionError(
                f"order {order.number} changed to {current.status.value} meanwhile"
            )
        return await self.get(order_id)

    async def mark_paid(self, order_id: str) -> Order:
        async with self._db.transaction():
            order = await self._move(order_id, OrderStatus.PAID)
            await self._events.publish(
                OrderPaid(order_id=order.id, number=order.number, amount=order.total)
            )
        return order

    async def cancel(self, order_id: str, *, reason: str = "") -> Order:
        """Cancel before shipping; reserved units go back to stock."""
        async with self._db.transaction():
            order = await self._move(order_id, OrderStatus.CANCELLED)
            await self._inventory.release_order(order_id)
            await self._events.publish(
                OrderCancelled(order_id=order.id, number=order.number, reason=reason)
            )
        return order

    # -- fulfilments ----------------------------------------------------------------------

    async def fulfilments(self, order_id: str) -> builtins.list[Fulfilment]:
        rows = await self._db.fetch(
            "SELECT * FROM commerce_fulfilments WHERE order_id = {} ORDER BY created_at, id",
            order_id,
        )
        return [Fulfilment.from_row(row) for row in rows]

    async def fulfilment(self, fulfilment_id: str) -> Fulfilment:
        row = await self._db.fetchrow(
            "SELECT * FROM commerce_fulfilments WHERE id = {}", fulfilment_id
        )
        if row is None:
            raise NotFoundError(f"no fulfilment {fulfilment_id!r}")
        return Fulfilment.from_row(row)

    async def create_fulfilments(self, order_id: str) -> builtins.list[Fulfilment]:
        """Split a paid order into one fulfilment per (vendor, supplier) and start fulfilling."""
        async with self._db.transaction():
            order = await self._move(order_id, OrderStatus.FULFILLING)
            groups: dict[tuple[str, str | None], list[str]] = {}
            for line in order.lines:
                groups.setdefault((line.vendor_id, line.supplier_id), []).append(line.id)
            created: builtins.list[Fulfilment] = []
            for (vendor_id, supplier_id), line_ids in sorted(
                groups.items(), key=lambda item: (item[0][0], item[0][1] or "")
            ):
                row = await self._db.fetchrow(
                    "INSERT INTO commerce_fulfilments (id, order_id, vendor_id, supplier_id,"
                    " status, line_ids, created_at) VALUES ({}, {}, {}, {}, {}, {}, {})"
                    " RETURNING *",
                    f"ful_{uuid.uuid4().hex}",
                    order_id,
                    vendor_id,
                    supplier_id,
                    FulfilmentStatus.PENDING.value,
                    json.dumps(line_ids),
                    self._clock(),
                )
                assert row is not None
                fulfilment = Fulfilment.from_row(row)
                created.append(fulfilment)
                await self._events.publish(
                    FulfilmentCreated(
                        fulfilment_id=fulfilment.id,
                        order_id=order_id,
                        vendor_id=vendor_id,
                        supplier_id=supplier_id,
                    )
                )
        return created

    async def ship(
        self, fulfilment_id: str, *, carrier: str | None = None, tracking_number: str | None = None
    ) -> Fulfilment:
        """Mark a fulfilment shipped; its units leave the stock; the order follows."""
        async with self._db.transaction():
            row = await self._db.fetchrow(
                "UPDATE commerce_fulfilments SET status = {}, carrier = {}, tracking_number = {},"
                " shipped_at = {} WHERE id = {} AND status = {} RETURNING *",
                FulfilmentStatus.SHIPPED.value,
                carrier,
                tracking_number,
                self._clock(),
                fulfilment_id,
                FulfilmentStatus.PENDING.value,
            )
            if row is None:
                current = await self.fulfilment(fulfilment_id)
                raise IllegalTransitionError(
                    f"fulfilment {fulfilment_id} is {current.status.value}, not pending"
                )
            fulfilment = Fulfilment.from_row(row)
            order = await self.get(fulfilment.order_id)
            variants = {line.variant_id for line in order.lines if line.id in fulfilment.line_ids}
            reservations = [
                r.id for r in await self._inventory.for_order(order.id) if r.variant_id in variants
            ]
            await self._inventory.consume(reservations)
            pending = await self._db.fetchval(
                "SELECT COUNT(*) FROM commerce_fulfilments WHERE order_id = {} AND status = {}",
                order.id,
                FulfilmentStatus.PENDING.value,
            )
            target = OrderStatus.PARTIALLY_SHIPPED if int(pending) else OrderStatus.SHIPPED
            if target is not order.status:
                await self._move(order.id, target)
            await self._events.publish(
                FulfilmentShipped(
                    fulfilment_id=fulfilment.id,
                    order_id=order.id,
                    carrier=carrier,
                    tracking_number=tracking_number,
                )
            )
        return fulfilment

    async def deliver(self, fulfilment_id: str) -> Fulfilment:
        """Mark a shipped fulfilment delivered; the order is delivered when all are."""
        async with self._db.transaction():
            row = await self._db.fetchrow(
                "UPDATE commerce_fulfilments SET status = {}, delivered_at = {}"
                " WHERE id = {} AND status = {} RETURNING *",
                FulfilmentStatus.DELIVERED.value,
                self._clock(),
                fulfilment_id,
                FulfilmentStatus.SHIPPED.value,
            )
            if row is None:
                current = await self.fulfilment(fulfilment_id)
                raise IllegalTransitionError(
                    f"fulfilment {fulfilment_id} is {current.status.value}, not shipped"
                )
            fulfilment = Fulfilment.from_row(row)
            undelivered = await self._db.fetchval(
                "SELECT COUNT(*) FROM commerce_fulfilments WHERE order_id = {} AND status <> {}",
                fulfilment.order_id,
                FulfilmentStatus.DELIVERED.value,
            )
            if not int(undelivered):
                await self._move(fulfilment.order_id, OrderStatus.DELIVERED)
            await self._events.publish(
                FulfilmentDelivered(fulfilment_id=fulfilment.id, order_id=fulfilment.order_id)
            )
        return fulfilment

    # -- refunds --------------------------------------------------------------------------

    async def refund_totals(self, order_id: str) -> RefundTotals:
        """What was given back on the order (``succeeded``) and what is on its way
        (``pending``), over every refund row (recorded here or by the payments ledger)."""
        order = await self.get(order_id)
        rows = await self._db.fetch(
            "SELECT status, amount FROM commerce_refunds WHERE order_id = {}", order_id
        )
        sums = {status: Money.zero(order.currency) for status in ("succeeded", "pending")}
        for row in rows:
            if row["status"] in sums:
                sums[row["status"]] += money_from_db(row["amount"], order.currency)
        return RefundTotals(succeeded=sums["succeeded"], pending=sums["pending"])

    async def record_refund(
        self,
        order_id: str,
        amount: Money,
        *,
        reason: str = "",
        payment_id: str | None = None,
        status: RefundStatus = "succeeded",
        reference: str | None = None,
    ) -> Order:
        """Record money given back; a full refund moves the order to ``refunded``.

        A ``pending`` refund (the provider accepted it, the money is not back yet) is written
        but counts in :attr:`Order.refunded` only once :meth:`settle_refund` says it succeeded;
        it still counts against what may be refunded, so the total is never exceeded.
        """
        if status not in ("succeeded", "pending"):
            raise ValidationError(f"a refund is recorded as succeeded or pending, not {status!r}")
        async with self._db.transaction():
            order = await self.get(order_id)
            if amount.currency != order.currency:
                raise ValidationError(f"refund in {amount.currency}, order in {order.currency}")
            if amount.amount <= 0:
                raise ValidationError("a refund must be positive")
            pending = (await self.refund_totals(order_id)).pending
            left = order.total - order.refunded - pending
            if amount > left:
                raise ValidationError(f"refund of {amount} exceeds what is left ({left})")
            refund_id = f"ref_{uuid.uuid4().hex}"
            await self._db.execute(
                "INSERT INTO commerce_refunds (id, order_id, payment_id, amount, currency, reason,"
                " reference, status, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
                refund_id,
                order_id,
                payment_id,
                to_db(amount),
                amount.currency,
                reason,
                reference,
                status,
                self._clock(),
            )
            if status == "succeeded":
                await self._count_refund(order, amount)
        return await self.get(order_id)

    async def settle_refund(self, refund_id: str, status: RefundStatus) -> Order:
        """Move a ``pending`` refund to ``succeeded`` (now counted) or ``failed`` (never).

        Settling it again with the status it already has changes nothing (webhooks repeat).
        """
        if status not in ("succeeded", "failed"):
            raise ValidationError(f"a refund settles as succeeded or failed, not {status!r}")
        async with self._db.transaction():
            row = await self._db.fetchrow("SELECT * FROM commerce_refunds WHERE id = {}", refund_id)
            if row is None:
                raise NotFoundError(f"no refund {refund_id!r}")
            if row["status"] == status:
                return await self.get(row["order_id"])
            moved = await self._db.fetchrow(
                "UPDATE commerce_refunds SET status = {} WHERE id = {} AND status = 'pending'"
                " RETURNING id",
                status,
                refund_id,
            )
            if moved is None:
                raise IllegalTransitionError(
                    f"refund {refund_id} is {row['status']}, it cannot become {status}"
                )
            order = await self.get(row["order_id"])
            if status == "succeeded":
                await self._count_refund(order, money_from_db(row["amount"], row["currency"]))
        return await self.get(row["order_id"])

    async def _count_refund(self, order: Order, amount: Money) -> None:
        """Add a succeeded refund to the order's total (inside the caller's transaction)."""
        refunded = order.refunded + amount
        row = await self._db.fetchrow(
            "UPDATE commerce_orders SET refunded_amount = {}, updated_at = {}"
            " WHERE id = {} AND refunded_amount = {} RETURNING id",
            to_db(refunded),
            self._clock(),
            order.id,
            to_db(order.refunded),
        )
        if row is None:
            raise IllegalTransitionError(f"order {order.number} was refunded meanwhile")
        if refunded == order.total:
            if order.status in (OrderStatus.PENDING_PAYMENT,):
                raise IllegalTransitionError("an unpaid order is cancelled, not refunded")
            await self._move(order.id, OrderStatus.REFUNDED)
            await self._inventory.release_order(order.id)
        await self._events.publish(
            OrderRefunded(order_id=order.id, number=order.number, amount=amount)
        )
