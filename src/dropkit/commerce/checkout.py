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
from dropkit.commerce.carts import Carts, CartState
from dropkit.commerce.errors import CartError, MarginTooLowError, UnknownSkuError
from dropkit.commerce.events import OrderPlaced
from dropkit.commerce.inventory import Inventory, RoutingPolicy
from dropkit.commerce.orders import Order, Orders, OrderStatus
from dropkit.commerce.pricing import Pricing, Quote, quote
from dropkit.core.database import Database, param_list
from dropkit.core.errors import CommerceError, IntegrityError, ValidationError
from dropkit.core.events import EventBus
from dropkit.core.money import Money

__all__ = ["Address", "Checkout", "MarginPolicy", "PaymentReleaser", "PaymentStarter"]

logger = logging.getLogger("dropkit.commerce.checkout")


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
        existing = await self._orders.find(idempotency_key=key, cart_id=cart_id)
        if existing is not None:
            return existing
        address = (
            shipping_address
            if isinstance(shipping_address, Address)
            else Address(**dict(shipping_address))
        )
        email = _check_email(email)
        cart = await self._carts.get(cart_id)
        if cart.state is not CartState.OPEN:
            raise CartError(f"cart {cart_id} is already checked out")
        if not cart.lines:
            raise CartError(f"cart {cart_id} is empty")
        variants = await self._variants([line.variant_id for line in cart.lines])
        lines = []
        for line in cart.lines:
            v = variants[line.variant_id]
            if v["status"] != "active":
                raise UnknownSkuError(f"{line.sku} is no longer for sale")
            lines.append(
                (
                    line.variant_id,
                    v["vendor_id"],
                    line.quantity,
                    money_from_db(v["price_amount"], v["currency"]),
                )
            )
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
                await self._place(
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
        return await self._orders.get(order_id)

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

    async def _variants(self, variant_ids: list[str]) -> dict[str, dict[str, Any]]:
        marks = param_list(len(variant_ids))
        rows = await self._db.fetch(
            "SELECT v.id, v.sku, v.title AS variant_title, v.price_amount, v.currency,"
            " v.product_id, p.title, p.status, p.vendor_id, ven.commission_rate, ven.status"
            " AS vendor_status FROM commerce_variants v"
            " JOIN commerce_products p ON p.id = v.product_id"
            " JOIN commerce_vendors ven ON ven.id = p.vendor_id"
            f" WHERE v.id IN ({marks})",
            *variant_ids,
        )
        return {row["id"]: row for row in rows}

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
    ) -> None:
        now = self._clock()
        # Take the cart's hold if it has one; otherwise reserve now, in id order (no deadlocks).
        held = await self._inventory.attach_to_order(cart_id, order_id)
        if not held:
            for line in sorted(priced.lines, key=lambda item: item.variant_id):
                await self._inventory.reserve(
                    line.variant_id, line.quantity, routing=self.routing, order_id=order_id
                )
        sources = {r.variant_id: r.offer_id for r in await self._inventory.for_order(order_id)}
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
        number = await self._next_number()
        await self._db.execute(
            "INSERT INTO commerce_orders (id, number, idempotency_key, cart_id, customer_id, email,"
            " status, currency, subtotal_amount, discount_amount, tax_amount, shipping_amount,"
            " total_amount, refunded_amount, coupon_code, shipping_address, shipping_method_id,"
            " payment_gateway, flags, placed_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {},"
            " {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            order_id,
            number,
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
        for values in rows:
            await self._db.execute(
                "INSERT INTO commerce_order_lines (id, order_id, variant_id, product_id, vendor_id,"
                " sku, title, quantity, unit_price_amount, line_total_amount, tax_amount,"
                " discount_amount, commission_rate, commission_amount, supplier_id, offer_id,"
                " unit_cost_amount, cost_currency, source) VALUES ({}, {}, {}, {}, {}, {}, {}, {},"
                " {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                *values,
            )
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
                number=number,
                email=email,
                total=priced.total,
                vendor_ids=sorted({v["vendor_id"] for v in variants.values()}),
            )
        )

    async def _offers(self, offer_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not offer_ids:
            return {}
        marks = param_list(len(offer_ids))
        rows = await self._db.fetch(
            f"SELECT * FROM commerce_supplier_offers WHERE id IN ({marks})", *offer_ids
        )
        return {row["id"]: row for row in rows}

    async def _next_number(self) -> int:
        if self._db.dialect == "postgres":
            return int(await self._db.fetchval("SELECT nextval('commerce_order_number')"))
        return int(
            await self._db.fetchval(
                "UPDATE commerce_order_number_seq SET value = value + 1 WHERE name = 'orders'"
                " RETURNING value"
            )
        )
