"""Checkout: one call turns a cart into an order, all or nothing, exactly once.

1. Validate the cart (open, not empty, one currency) and price it from current catalog data.
2. Ask the payment gateway to authorize the total, keyed by the checkout's idempotency key, so a
   retried checkout reuses the same payment (a PaymentIntent is not a charge until confirmed).
3. In one transaction: reserve stock (variants in id order), claim the discount, draw the order
   number, write the order, its lines (frozen prices, costs, suppliers, commissions), the payment
   record and ``order.placed``, and close the cart. Any failure rolls all of it back.
4. If that transaction fails and no order holds the authorisation, cancel it at the gateway
   (best effort, logged if it fails) so the customer's money is not left on hold.

The same idempotency key (by default the cart id) yields one order however often and however
concurrently it is submitted: ``commerce_orders`` has unique ``idempotency_key`` and ``cart_id``
columns, and the loser of a race returns the winner's order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from dropkit.commerce.amounts import money_from_db, to_db
from dropkit.commerce.carts import LINE_ORDER, Cart, Carts, CartState, cart_from_rows
from dropkit.commerce.errors import CartError, MarginTooLowError, UnknownSkuError
from dropkit.commerce.events import OrderPlaced
from dropkit.commerce.inventory import Inventory, RoutingPolicy
from dropkit.commerce.orders import Order, Orders, OrderStatus
from dropkit.commerce.pricing import Pricing, Quote, quote
from dropkit.core.database import Database, param_list
from dropkit.core.errors import CommerceError, IntegrityError, NotFoundError, ValidationError
from dropkit.core.events import EventBus
from dropkit.core.money import Money

__all__ = ["Address", "Checkout", "MarginPolicy", "PaymentReleaser", "PaymentStarter"]

logger = logging.getLogger("dropkit.commerce.checkout")

#: Order lines per ``INSERT`` statement: 19 parameters each stays far below the drivers'
#: parameter limits (32767 on asyncpg, 32766 on SQLite).
LINES_PER_INSERT = 500


@dataclass(frozen=True)
class _Snapshot:
    """What checkout reads before its transaction, in one statement."""

    existing_order_id: str | None
    cart: Cart
    variants: dict[str, dict[str, Any]]


class MarginPolicy(StrEnum):
    REFUSE = "refuse"  # the checkout fails with MarginTooLowError
    FLAG = "flag"  # the order is placed with a "low_margin" flag for a human to look at


@dataclass(frozen=True)
class Address:
    """Where the parcel goes."""

    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str = ""
    region: str = ""

    def __post_init__(self) -> None:
        for name in ("name", "line1", "city", "postal_code"):
            value = getattr(self, name)
            if not value.strip() or len(value) > 200:
                raise ValidationError(f"address {name} must be 1-200 characters")
        code = self.country.strip().upper()
        if len(code) != 2 or not code.isalpha() or not code.isascii():
            raise ValidationError(f"country must be an ISO 3166 alpha-2 code: {self.country!r}")
        object.__setattr__(self, "country", code)

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
        }


class PaymentStarter(Protocol):
    """What checkout needs from payments: authorize before, record inside the transaction."""

    async def authorize_order(
        self, *, order_id: str, gateway: str, amount: Money, key: str, email: str
    ) -> Any: ...

    async def record_order_payment(
        self, *, order_id: str, gateway: str, authorization: Any, amount: Money
    ) -> None: ...


@runtime_checkable
class PaymentReleaser(Protocol):
    """A :class:`PaymentStarter` that can also call off an authorisation no order was written
    for (checkout failed after it); without it such a payment stays held at the provider."""

    async def cancel_order_payment(self, *, gateway: str, authorization: Any, key: str) -> None: ...


def _check_email(email: str) -> str:
    value = email.strip().lower()
    local, _, domain = value.partition("@")
    if (
        not local
        or "." not in domain
        or domain.startswith(".")
        or domain.endswith(".")
        or any(c.isspace() for c in value)
        or len(value) > 254
    ):
        raise ValidationError(f"not an email address: {email!r}")
    return value


class Checkout:
    """Places orders from carts."""

    def __init__(
        self,
        database: Database,
        events: EventBus,
        *,
        carts: Carts,
        inventory: Inventory,
        pricing: Pricing,
        orders: Orders,
        payments: PaymentStarter | None = None,
        routing: RoutingPolicy = RoutingPolicy.CHEAPEST_IN_STOCK,
        margin_floor: Decimal = Decimal("0"),
        margin_policy: MarginPolicy = MarginPolicy.REFUSE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._events = events
        self._carts = carts
        self._inventory = inventory
        self._pricing = pricing
        self._orders = orders
        self._payments = payments
        self._releaser = payments if isinstance(payments, PaymentReleaser) else None
        self.routing = routing
        self.margin_floor = margin_floor
        self.margin_policy = margin_policy
        self._clock = clock

    async def __call__(
        self,
        cart_id: str,
        *,
        email: str,
        shipping_address: Address | Mapping[str, str],
        shipping_method_id: str | None = None,
        payment_gateway: str = "manual",
        idempotency_key: str | None = None,
        customer_id: str | None = None,
    ) -> Order:
        """Turn the cart into an order (or return the order this key already produced)."""
        key = idempotency_key or f"cart:{cart_id}"
        snapshot = await self._snapshot(cart_id, key)
        if snapshot is None:  # no such cart: an order under this key is still the answer
            existing = await self._orders.find(idempotency_key=key, cart_id=cart_id)
            if existing is not None:
                return existing
            raise NotFoundError(f"no cart {cart_id!r}")
        if snapshot.existing_order_id is not None:
            return await self._orders.get(snapshot.existing_order_id)
        address = (
            shipping_address
            if isinstance(shipping_address, Address)
            else Address(**dict(shipping_address))
        )
        email = _check_email(email)
        cart, variants = snapshot.cart, snapshot.variants
        if cart.state is not CartState.OPEN:
            raise CartError(f"cart {cart_id} is already checked out")
        if not cart.lines:
            raise CartError(f"cart {cart_id} is empty")
        lines = []
        for line in cart.lines:
            v = variants[line.variant_id]
            if v["status"] != "active":
                raise UnknownSkuError(f"{line.sku} is no longer for sale")
            lines.append((line.variant_id, v["vendor_id"], line.quantity, line.unit_price))
        discount = None
        if cart.coupon_code:
            discount = await self._pricing.discount(cart.coupon_code)
            self._pricing.check(discount, cart.subtotal)
        tax = await self._pricing.tax_rate(address.country, address.region)
        shipping = (
            await self._pricing.shipping_method(shipping_method_id) if shipping_method_id else None
        )
        priced = quote(lines, currency=cart.currency, discount=discount, tax=tax, shipping=shipping)
        # Derived from the key: a retried checkout asks the gateway for the very same payment
        # (Stripe replays a request only when its parameters, order id included, are equal).
        order_id = "ord_" + hashlib.sha256(key.encode()).hexdigest()[:32]
        authorization = None
        if self._payments is not None:
            authorization = await self._payments.authorize_order(
                order_id=order_id,
                gateway=payment_gateway,
                amount=priced.total,
                key=key,
                email=email,
            )
        try:
            async with self._db.transaction():
                order = await self._place(
                    order_id=order_id,
                    key=key,
                    cart_id=cart_id,
                    email=email,
                    customer_id=customer_id or cart.customer_id,
                    address=address,
                    shipping_method_id=shipping_method_id,
                    gateway=payment_gateway,
                    coupon=cart.coupon_code,
                    discount=discount,
                    priced=priced,
                    variants=variants,
                    authorization=authorization,
                )
        except Exception as exc:
            # Lost a race with the same key or cart (on the unique key, or on the stock the
            # winner took): that checkout's order is the answer. Otherwise the error stands.
            # The winner committed before we could see its effect (its row locks, SQLite's
            # single writer), so "no order with our key" means our authorisation is orphaned.
            # The same key asked the gateway for the same payment: the winner's is ours too.
            existing = None
            if isinstance(exc, (IntegrityError, CommerceError)):
                existing = await self._orders.find(idempotency_key=key, cart_id=cart_id)
            if authorization is not None and (existing is None or existing.idempotency_key != key):
                await self._release(payment_gateway, authorization, key)
            if existing is None:
                raise
            return existing
        return order

    async def _release(self, gateway: str, authorization: Any, key: str) -> None:
        """Cancel an authorisation no order holds, so the customer's money is not kept.

        Best effort: a failure is logged, never raised, so the checkout's own error stands.
        """
        if self._releaser is None:
            logger.warning(
                "checkout %s failed after its %s payment was authorised; the payment starter"
                " cannot cancel it, so it stays held at the provider",
                key,
                gateway,
            )
            return
        try:
            await self._releaser.cancel_order_payment(
                gateway=gateway, authorization=authorization, key=key
            )
        except Exception:
            logger.exception(
                "checkout %s failed after its %s payment was authorised, and cancelling that"
                " payment failed too: release it at the provider",
                key,
                gateway,
            )

    async def _snapshot(self, cart_id: str, key: str) -> _Snapshot | None:
        """In one statement: the order this key or cart already produced, the cart, its lines
        (in the cart's order) and, per line, what the order line freezes from the catalog.

        ``None`` if there is no such cart. Prices are read outside the transaction on purpose:
        the order is priced as the customer saw the catalog; stock is what the transaction
        guards.
        """
        rows = await self._db.fetch(
            "SELECT c.id, c.currency, c.customer_id, c.email, c.coupon_code, c.state, c.order_id,"
            " c.updated_at, (SELECT o.id FROM commerce_orders o"
            " WHERE o.idempotency_key = {} OR o.cart_id = {}"
            " ORDER BY o.idempotency_key = {} DESC LIMIT 1) AS existing_order_id,"
            " l.variant_id, l.quantity, v.sku, v.title AS variant_title, v.price_amount,"
            " v.currency AS price_currency, v.product_id, p.title, p.status, p.vendor_id,"
            " ven.commission_rate FROM commerce_carts c"
            " LEFT JOIN commerce_cart_lines l ON l.cart_id = c.id"
            " LEFT JOIN commerce_variants v ON v.id = l.variant_id"
            " LEFT JOIN commerce_products p ON p.id = v.product_id"
            " LEFT JOIN commerce_vendors ven ON ven.id = p.vendor_id"
            f" WHERE c.id = {{}} ORDER BY {LINE_ORDER}",
            key,
            cart_id,
            key,
            cart_id,
        )
        if not rows:
            return None
        lines = [row for row in rows if row["variant_id"] is not None]
        return _Snapshot(
            existing_order_id=rows[0]["existing_order_id"],
            cart=cart_from_rows(rows[0], lines),
            variants={row["variant_id"]: row for row in lines},
        )

    async def _place(
        self,
        *,
        order_id: str,
        key: str,
        cart_id: str,
        email: str,
        customer_id: str | None,
        address: Address,
        shipping_method_id: str | None,
        gateway: str,
        coupon: str | None,
        discount: Any,
        priced: Quote,
        variants: dict[str, dict[str, Any]],
        authorization: Any,
    ) -> Order:
        """Write the order (inside the caller's transaction) and return it as stored."""
        now = self._clock()
        # Take the cart's hold if it has one; otherwise reserve now, in id order (no deadlocks).
        held = await self._inventory.attach_to_order(cart_id, order_id)
        if held:
            reservations = await self._inventory.for_order(order_id)
        else:
            reservations = [
                await self._inventory.reserve(
                    line.variant_id, line.quantity, routing=self.routing, order_id=order_id
                )
                for line in sorted(priced.lines, key=lambda item: item.variant_id)
            ]
        sources = {r.variant_id: r.offer_id for r in reservations}
        offers = await self._offers([o for o in sources.values() if o])
        flags: list[str] = []
        rows: list[list[Any]] = []
        for line in priced.lines:
            v = variants[line.variant_id]
            rate = Decimal(str(v["commission_rate"]))
            net = line.line_total - line.discount
            offer = offers.get(sources.get(line.variant_id) or "")
            unit_cost = (
                money_from_db(offer["cost_amount"], offer["cost_currency"]) if offer else None
            )
            if unit_cost is not None and unit_cost.currency == line.unit_price.currency:
                margin = (net.amount / line.quantity) - unit_cost.amount
                floor = line.unit_price.amount * self.margin_floor
                if margin < floor:
                    if self.margin_policy is MarginPolicy.REFUSE:
                        raise MarginTooLowError(
                            f"{v['sku']}: supplier cost {unit_cost} leaves a margin below "
                            f"{self.margin_floor:%} of the price"
                        )
                    flags.append(f"low_margin:{v['sku']}")
            rows.append(
                [
                    f"oli_{uuid.uuid4().hex}",
                    order_id,
                    line.variant_id,
                    v["product_id"],
                    v["vendor_id"],
                    v["sku"],
                    f"{v['title']} {v['variant_title']}".strip(),
                    line.quantity,
                    to_db(line.unit_price),
                    to_db(line.line_total),
                    to_db(line.tax),
                    to_db(line.discount),
                    to_db(rate),
                    to_db(Money.rounded(net.amount * rate, net.currency)),
                    offer["supplier_id"] if offer else None,
                    offer["id"] if offer else None,
                    None if unit_cost is None else to_db(unit_cost),
                    None if unit_cost is None else unit_cost.currency,
                    "supplier" if offer else "own",
                ]
            )
        if discount is not None:
            await self._pricing.claim(
                discount, customer_key=customer_id or email, order_id=order_id
            )
        order_row = await self._insert_order(
            order_id=order_id,
            key=key,
            cart_id=cart_id,
            customer_id=customer_id,
            email=email,
            priced=priced,
            coupon=coupon,
            address=address,
            shipping_method_id=shipping_method_id,
            gateway=gateway,
            flags=flags,
            now=now,
        )
        line_rows = await self._insert_lines(order_id, rows)
        if self._payments is not None:
            await self._payments.record_order_payment(
                order_id=order_id,
                gateway=gateway,
                authorization=authorization,
                amount=priced.total,
            )
        await self._db.execute(
            "UPDATE commerce_carts SET state = {}, order_id = {}, updated_at = {} WHERE id = {}",
            CartState.CHECKED_OUT.value,
            order_id,
            now,
            cart_id,
        )
        await self._events.publish(
            OrderPlaced(
                order_id=order_id,
                number=int(order_row["number"]),
                email=email,
                total=priced.total,
                vendor_ids=sorted({v["vendor_id"] for v in variants.values()}),
            )
        )
        return Order.from_rows(order_row, line_rows)

    async def _offers(self, offer_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not offer_ids:
            return {}
        marks = param_list(len(offer_ids))
        rows = await self._db.fetch(
            f"SELECT * FROM commerce_supplier_offers WHERE id IN ({marks})", *offer_ids
        )
        return {row["id"]: row for row in rows}

    async def _insert_order(
        self,
        *,
        order_id: str,
        key: str,
        cart_id: str,
        customer_id: str | None,
        email: str,
        priced: Quote,
        coupon: str | None,
        address: Address,
        shipping_method_id: str | None,
        gateway: str,
        flags: list[str],
        now: float,
    ) -> dict[str, Any]:
        """Insert the order row and return it as stored (``RETURNING *``: no read-back)."""
        if self._db.dialect == "postgres":
            number_sql, number_args = "nextval('commerce_order_number')", []
        else:
            number_sql, number_args = "{}", [await self._next_sqlite_number()]
        row = await self._db.fetchrow(
            "INSERT INTO commerce_orders (id, number, idempotency_key, cart_id, customer_id, email,"
            " status, currency, subtotal_amount, discount_amount, tax_amount, shipping_amount,"
            " total_amount, refunded_amount, coupon_code, shipping_address, shipping_method_id,"
            f" payment_gateway, flags, placed_at, updated_at) VALUES ({{}}, {number_sql}, {{}},"
            " {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
            " RETURNING *",
            order_id,
            *number_args,
            key,
            cart_id,
            customer_id,
            email,
            OrderStatus.PENDING_PAYMENT.value,
            priced.currency,
            to_db(priced.subtotal),
            to_db(priced.discount),
            to_db(priced.tax),
            to_db(priced.shipping),
            to_db(priced.total),
            to_db(Money.zero(priced.currency)),
            coupon,
            json.dumps(address.to_dict()),
            shipping_method_id,
            gateway,
            json.dumps(flags),
            now,
            now,
        )
        assert row is not None
        return row

    async def _insert_lines(self, order_id: str, rows: list[list[Any]]) -> list[dict[str, Any]]:
        """Insert the order's lines, :data:`LINES_PER_INSERT` per statement, and return them
        as stored, in the order :meth:`Orders.get` reads them (``sku, id``)."""
        columns = (
            "id, order_id, variant_id, product_id, vendor_id, sku, title, quantity,"
            " unit_price_amount, line_total_amount, tax_amount, discount_amount, commission_rate,"
            " commission_amount, supplier_id, offer_id, unit_cost_amount, cost_currency, source"
        )
        chunks = [rows[i : i + LINES_PER_INSERT] for i in range(0, len(rows), LINES_PER_INSERT)]
        stored: list[dict[str, Any]] = []
        for chunk in chunks:
            values = ", ".join(f"({param_list(len(chunk[0]))})" for _ in chunk)
            insert = f"INSERT INTO commerce_order_lines ({columns}) VALUES {values} RETURNING *"
            if self._db.dialect == "postgres":
                # Sorted by the database, so that text collation matches a read-back exactly.
                insert = f"WITH added AS ({insert}) SELECT * FROM added ORDER BY sku, id"
            stored += await self._db.fetch(insert, *(value for row in chunk for value in row))
        if len(chunks) > 1:  # only the database can merge sorted chunks by its collation
            return await self._db.fetch(
                "SELECT * FROM commerce_order_lines WHERE order_id = {} ORDER BY sku, id",
                order_id,
            )
        if self._db.dialect == "sqlite":
            stored.sort(key=lambda row: (row["sku"], row["id"]))  # BINARY: code point order
        return stored

    async def _next_sqlite_number(self) -> int:
        """The next order number from SQLite's counter row (writers are serialised)."""
        return int(
            await self._db.fetchval(
                "UPDATE commerce_order_number_seq SET value = value + 1 WHERE name = 'orders'"
                " RETURNING value"
            )
        )
