"""Carts: lines of variants in one currency, an optional coupon, and an optional stock hold.

A cart only records intent; prices are read fresh at checkout. ``hold`` reserves the cart's
units for a while (the customer is paying), so that checkout then finds them already taken.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from dropkit.commerce.amounts import money_from_db
from dropkit.commerce.errors import CartError, UnknownSkuError
from dropkit.commerce.inventory import Inventory, check_quantity
from dropkit.core.database import Database
from dropkit.core.errors import NotFoundError
from dropkit.core.money import Money

__all__ = ["LINE_ORDER", "Cart", "CartLine", "CartState", "Carts", "cart_from_rows"]

#: The order of a cart's lines (``l``: cart lines, ``v``: variants); pricing spreads a
#: discount over the lines in this order, so every reader of a cart must use it.
LINE_ORDER = "l.added_at, v.sku"


class CartState(StrEnum):
    OPEN = "open"
    CHECKED_OUT = "checked_out"


@dataclass(frozen=True)
class CartLine:
    variant_id: str
    sku: str
    title: str
    quantity: int
    unit_price: Money

    @property
    def line_total(self) -> Money:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Cart:
    id: str
    currency: str
    customer_id: str | None
    email: str | None
    coupon_code: str | None
    state: CartState
    order_id: str | None
    lines: tuple[CartLine, ...]
    updated_at: datetime

    @property
    def subtotal(self) -> Money:
        return sum((line.line_total for line in self.lines), Money.zero(self.currency))


def cart_from_rows(row: dict[str, Any], lines: Sequence[dict[str, Any]]) -> Cart:
    """A cart from its ``commerce_carts`` row and its line rows (``variant_id``, ``quantity``,
    ``sku``, ``title``, ``variant_title``, ``price_amount``, ``price_currency``), in order."""
    return Cart(
        id=row["id"],
        currency=row["currency"],
        customer_id=row["customer_id"],
        email=row["email"],
        coupon_code=row["coupon_code"],
        state=CartState(row["state"]),
        order_id=row["order_id"],
        lines=tuple(
            CartLine(
                variant_id=r["variant_id"],
                sku=r["sku"],
                title=f"{r['title']} {r['variant_title']}".strip(),
                quantity=int(r["quantity"]),
                unit_price=money_from_db(r["price_amount"], r["price_currency"]),
            )
            for r in lines
        ),
        updated_at=datetime.fromtimestamp(float(row["updated_at"]), UTC),
    )


class Carts:
    """Create and change carts."""

    def __init__(
        self,
        database: Database,
        inventory: Inventory,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._inventory = inventory
        self._clock = clock

    async def create(
        self, currency: str, *, customer_id: str | None = None, email: str | None = None
    ) -> Cart:
        currency = Money.zero(currency).currency  # validates the code
        now = self._clock()
        cart_id = f"cart_{uuid.uuid4().hex}"
        await self._db.execute(
            "INSERT INTO commerce_carts (id, customer_id, email, currency, state, created_at,"
            " updated_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
            cart_id,
            customer_id,
            email,
            currency,
            CartState.OPEN.value,
            now,
            now,
        )
        return await self.get(cart_id)

    async def get(self, cart_id: str) -> Cart:
        row = await self._db.fetchrow("SELECT * FROM commerce_carts WHERE id = {}", cart_id)
        if row is None:
            raise NotFoundError(f"no cart {cart_id!r}")
        lines = await self._db.fetch(
            "SELECT l.variant_id, l.quantity, v.sku, v.title AS variant_title, v.price_amount,"
            " v.currency AS price_currency, p.title FROM commerce_cart_lines l"
            " JOIN commerce_variants v ON v.id = l.variant_id"
            " JOIN commerce_products p ON p.id = v.product_id"
            f" WHERE l.cart_id = {{}} ORDER BY {LINE_ORDER}",
            cart_id,
        )
        return cart_from_rows(row, lines)

    async def _open(self, cart_id: str) -> dict[str, Any]:
        row = await self._db.fetchrow("SELECT * FROM commerce_carts WHERE id = {}", cart_id)
        if row is None:
            raise NotFoundError(f"no cart {cart_id!r}")
        if row["state"] != CartState.OPEN.value:
            raise CartError(f"cart {cart_id} is {row['state']} and can no longer change")
        return row

    async def _variant(self, sku: str) -> dict[str, Any]:
        row = await self._db.fetchrow(
            "SELECT v.id, v.currency, p.status FROM commerce_variants v"
            " JOIN commerce_products p ON p.id = v.product_id WHERE v.sku = {}",
            sku,
        )
        if row is None or row["status"] != "active":
            raise UnknownSkuError(f"no variant for sale with SKU {sku!r}")
        return row

    async def set_quantity(self, cart_id: str, sku: str, quantity: int) -> Cart:
        """Set a line's quantity; 0 removes the line."""
        if quantity != 0:
            check_quantity(quantity)
        async with self._db.transaction():
            cart = await self._open(cart_id)
            variant = await self._variant(sku)
            if variant["currency"] != cart["currency"]:
                raise CartError(
                    f"{sku} is priced in {variant['currency']}; this cart is in {cart['currency']}"
                )
            await self._db.execute(
                "DELETE FROM commerce_cart_lines WHERE cart_id = {} AND variant_id = {}",
                cart_id,
                variant["id"],
            )
            if quantity:
                await self._db.execute(
                    "INSERT INTO commerce_cart_lines (cart_id, variant_id, quantity, added_at)"
                    " VALUES ({}, {}, {}, {})",
                    cart_id,
                    variant["id"],
                    quantity,
                    self._clock(),
                )
            await self._touch(cart_id)
        return await self.get(cart_id)

    async def add(self, cart_id: str, sku: str, quantity: int = 1) -> Cart:
        """Add units of a SKU (on top of what the cart has)."""
        check_quantity(quantity)
        current = await self.get(cart_id)
        have = next((line.quantity for line in current.lines if line.sku == sku), 0)
        return await self.set_quantity(cart_id, sku, check_quantity(have + quantity))

    async def remove(self, cart_id: str, sku: str) -> Cart:
        return await self.set_quantity(cart_id, sku, 0)

    async def apply_coupon(self, cart_id: str, code: str | None) -> Cart:
        """Attach a discount code (checked fully at checkout) or remove it with ``None``."""
        async with self._db.transaction():
            await self._open(cart_id)
            if code is not None:
                exists = await self._db.fetchval(
                    "SELECT id FROM commerce_discounts WHERE code = {}", code.strip().upper()
                )
                if exists is None:
                    from dropkit.commerce.errors import CouponError

                    raise CouponError(f"unknown discount code {code!r}")
                code = code.strip().upper()
            await self._db.execute(
                "UPDATE commerce_carts SET coupon_code = {} WHERE id = {}", code, cart_id
            )
            await self._touch(cart_id)
        return await self.get(cart_id)

    async def hold(self, cart_id: str, *, seconds: float = 900) -> Cart:
        """Reserve the cart's units for ``seconds`` while the customer pays."""
        async with self._db.transaction():
            await self._open(cart_id)
            await self._inventory.release_cart(cart_id)
            cart = await self.get(cart_id)
            if not cart.lines:
                raise CartError(f"cart {cart_id} is empty")
            for line in sorted(cart.lines, key=lambda item: item.variant_id):
                await self._inventory.reserve(
                    line.variant_id, line.quantity, cart_id=cart_id, hold_for=seconds
                )
        return cart

    async def _touch(self, cart_id: str) -> None:
        await self._db.execute(
            "UPDATE commerce_carts SET updated_at = {} WHERE id = {}", self._clock(), cart_id
        )
