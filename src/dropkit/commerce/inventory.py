"""Stock: what can be sold, and reservations that never take the same unit twice.

A variant sells from its own stock first, then from a supplier offer whose stock figure is
fresh (synced within ``supplier_ttl``; older figures count as unknown, i.e. zero). Every
reservation is one guarded ``UPDATE`` of a counter::

    UPDATE ... SET stock_reserved = stock_reserved + q WHERE id = ? AND stock - stock_reserved >= q

On PostgreSQL the row lock makes a concurrent reservation wait and then re-check the condition
against the committed value; on SQLite ``BEGIN IMMEDIATE`` serialises writers. Either way, under
any number of concurrent checkouts the last ``k`` units go to exactly ``k`` buyers. Callers lock
in a fixed order (variant ids sorted) so that multi-line carts cannot deadlock each other.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from dropkit.commerce.errors import InvalidQuantityError, OutOfStockError, UnknownSkuError
from dropkit.commerce.events import StockLow
from dropkit.commerce.suppliers import RoutingPolicy
from dropkit.core.database import Database, param_list
from dropkit.core.events import EventBus

__all__ = [
    "MAX_QUANTITY",
    "Inventory",
    "Reservation",
    "ReservationState",
    "RoutingPolicy",
    "StockLevel",
    "check_quantity",
]

#: No single line asks for more than this: larger numbers are typos or attacks.
MAX_QUANTITY = 10_000


def check_quantity(quantity: int) -> int:
    """A positive, sane line quantity, or :class:`InvalidQuantityError`."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidQuantityError(f"quantity must be a whole number, not {quantity!r}")
    if not 0 < quantity <= MAX_QUANTITY:
        raise InvalidQuantityError(f"quantity must be between 1 and {MAX_QUANTITY}, not {quantity}")
    return quantity


class ReservationState(StrEnum):
    HELD = "held"  # a cart holds the units until expires_at
    ORDERED = "ordered"  # an order holds them until it ships or is cancelled
    RELEASED = "released"  # given back (expired, cancelled)
    CONSUMED = "consumed"  # shipped: the units left the stock


@dataclass(frozen=True)
class Reservation:
    id: str
    variant_id: str
    offer_id: str | None
    quantity: int
    state: ReservationState
    expires_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Reservation:
        expires = row["expires_at"]
        return cls(
            id=row["id"],
            variant_id=row["variant_id"],
            offer_id=row["offer_id"],
            quantity=int(row["quantity"]),
            state=ReservationState(row["state"]),
            expires_at=None if expires is None else datetime.fromtimestamp(float(expires), UTC),
        )


@dataclass(frozen=True)
class StockLevel:
    """How many units of a variant can be sold now, and from where."""

    variant_id: str
    sku: str
    own: int
    supplier: int

    @property
    def available(self) -> int:
        return max(0, self.own) + max(0, self.supplier)


class Inventory:
    """Availability and reservations of variants' stock."""

    def __init__(
        self,
        database: Database,
        events: EventBus,
        *,
        supplier_ttl: float = 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._events = events
        self.supplier_ttl = supplier_ttl
        self._clock = clock

    async def level(self, variant_id: str) -> StockLevel:
        """Own stock plus fresh supplier stock, minus what is reserved."""
        levels = await self.levels([variant_id])
        if variant_id not in levels:
            raise UnknownSkuError(f"no variant {variant_id!r}")
        return levels[variant_id]

    async def levels(self, variant_ids: list[str]) -> dict[str, StockLevel]:
        """Stock levels of many variants in two queries (for listings)."""
        if not variant_ids:
            return {}
        marks = param_list(len(variant_ids))
        rows = await self._db.fetch(
            f"SELECT id, sku, stock_on_hand - stock_reserved AS own FROM commerce_variants"
            f" WHERE id IN ({marks})",
            *variant_ids,
        )
        offers = await self._db.fetch(
            "SELECT variant_id, SUM(stock - stock_reserved) AS free FROM commerce_supplier_offers"
            f" WHERE variant_id IN ({marks}) AND synced_at >= {{}} GROUP BY variant_id",
            *variant_ids,
            self._clock() - self.supplier_ttl,
        )
        supplier = {r["variant_id"]: int(r["free"] or 0) for r in offers}
        return {
            r["id"]: StockLevel(r["id"], r["sku"], int(r["own"]), supplier.get(r["id"], 0))
            for r in rows
        }

    async def ranked_offers(
        self,
        variant_id: str,
        quantity: int,
        policy: RoutingPolicy = RoutingPolicy.CHEAPEST_IN_STOCK,
    ) -> list[str]:
        """Fresh offers with ``quantity`` free units, best first by ``policy``.

        Costs are compared as exact decimals; offers in a currency other than the cheapest
        offer's are ranked after it (no exchange rates are guessed).
        """
        rows = await self._db.fetch(
            "SELECT o.id, o.cost_amount, o.cost_currency, o.lead_time_days, s.preferred"
            " FROM commerce_supplier_offers o JOIN commerce_suppliers s ON s.id = o.supplier_id"
            " WHERE o.variant_id = {} AND o.stock - o.stock_reserved >= {} AND o.synced_at >= {}",
            variant_id,
            quantity,
            self._clock() - self.supplier_ttl,
        )
        if not rows:
            return []
        currencies = [r["cost_currency"] for r in rows]
        main = max(set(currencies), key=currencies.count)

        def cost(row: dict[str, Any]) -> tuple[int, Decimal]:
            return (row["cost_currency"] != main, Decimal(str(row["cost_amount"])))

        if policy is RoutingPolicy.FASTEST:
            rows.sort(key=lambda r: (int(r["lead_time_days"]), *cost(r)))
        elif policy is RoutingPolicy.PREFERRED:
            rows.sort(key=lambda r: (not bool(r["preferred"]), *cost(r)))
        else:
            rows.sort(key=cost)
        return [r["id"] for r in rows]

    async def reserve(
        self,
        variant_id: str,
        quantity: int,
        *,
        offer_ids: Sequence[str] | None = None,
        routing: RoutingPolicy = RoutingPolicy.CHEAPEST_IN_STOCK,
        cart_id: str | None = None,
        order_id: str | None = None,
        hold_for: float | None = None,
    ) -> Reservation:
        """Take ``quantity`` units: own stock first, then the given offers in order.

        Supplier offers are tried in ``offer_ids`` order, or ranked by ``routing`` (only when own
        stock falls short, so the common case costs one statement). Raises
        :class:`OutOfStockError` when no single source has enough; run it inside the caller's
        transaction so a later failure gives the units back.
        """
        check_quantity(quantity)
        now = self._clock()
        row = await self._db.fetchrow(
            "UPDATE commerce_variants SET stock_reserved = stock_reserved + {}, updated_at = {}"
            " WHERE id = {} AND stock_on_hand - stock_reserved >= {}"
            " RETURNING sku, stock_on_hand - stock_reserved AS left_over, low_stock_threshold",
            quantity,
            now,
            variant_id,
            quantity,
        )
        offer_id: str | None = None
        if row is None:
            if offer_ids is None:
                offer_ids = await self.ranked_offers(variant_id, quantity, routing)
            for candidate in offer_ids:
                taken = await self._db.fetchrow(
                    "UPDATE commerce_supplier_offers SET stock_reserved = stock_reserved + {}"
                    " WHERE id = {} AND variant_id = {} AND stock - stock_reserved >= {}"
                    " AND synced_at >= {} RETURNING id",
                    quantity,
                    candidate,
                    variant_id,
                    quantity,
                    now - self.supplier_ttl,
                )
                if taken is not None:
                    offer_id = candidate
                    break
            else:
                level = await self.level(variant_id)
                raise OutOfStockError(level.sku, quantity, level.available)
        elif row["low_stock_threshold"] and int(row["left_over"]) <= int(
            row["low_stock_threshold"]
        ):
            await self._events.publish(
                StockLow(
                    variant_id=variant_id,
                    sku=row["sku"],
                    available=int(row["left_over"]),
                    threshold=int(row["low_stock_threshold"]),
                )
            )
        state = ReservationState.ORDERED if order_id else ReservationState.HELD
        expires = now + hold_for if hold_for is not None else None
        created = await self._db.fetchrow(
            "INSERT INTO commerce_reservations (id, variant_id, offer_id, quantity, cart_id,"
            " order_id, state, expires_at, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})"
            " RETURNING *",
            f"res_{uuid.uuid4().hex}",
            variant_id,
            offer_id,
            quantity,
            cart_id,
            order_id,
            state.value,
            expires,
            now,
        )
        assert created is not None
        return Reservation.from_row(created)

    async def _give_back(self, reservation: Reservation, *, consumed: bool) -> None:
        """Undo a reservation's counters; ``consumed`` also takes the units out of stock."""
        q = reservation.quantity
        if reservation.offer_id is None:
            await self._db.execute(
                "UPDATE commerce_variants SET stock_reserved = stock_reserved - {},"
                " stock_on_hand = stock_on_hand - {}, updated_at = {} WHERE id = {}",
                q,
                q if consumed else 0,
                self._clock(),
                reservation.variant_id,
            )
        else:
            await self._db.execute(
                "UPDATE commerce_supplier_offers SET stock_reserved = stock_reserved - {},"
                " stock = stock - {} WHERE id = {}",
                q,
                q if consumed else 0,
                reservation.offer_id,
            )

    async def _settle(self, where: str, args: list[Any], state: ReservationState) -> int:
        async with self._db.transaction():
            rows = await self._db.fetch(
                f"UPDATE commerce_reservations SET state = {{}}, expires_at = NULL"
                f" WHERE {where} RETURNING *",
                state.value,
                *args,
            )
            for row in sorted(rows, key=lambda r: (r["variant_id"], r["id"])):
                await self._give_back(
                    Reservation.from_row(row), consumed=state is ReservationState.CONSUMED
                )
        return len(rows)

    async def attach_to_order(self, cart_id: str, order_id: str) -> int:
        """A cart's held units now belong to its order (no expiry)."""
        rows = await self._db.fetch(
            "UPDATE commerce_reservations SET state = {}, order_id = {}, expires_at = NULL"
            " WHERE cart_id = {} AND state = {} RETURNING id",
            ReservationState.ORDERED.value,
            order_id,
            cart_id,
            ReservationState.HELD.value,
        )
        return len(rows)

    async def release_cart(self, cart_id: str) -> int:
        """Give back what a cart holds."""
        return await self._settle(
            "cart_id = {} AND state = {}",
            [cart_id, ReservationState.HELD.value],
            ReservationState.RELEASED,
        )

    async def release_order(self, order_id: str) -> int:
        """Give back what a cancelled order holds."""
        return await self._settle(
            "order_id = {} AND state = {}",
            [order_id, ReservationState.ORDERED.value],
            ReservationState.RELEASED,
        )

    async def consume(self, reservation_ids: list[str]) -> int:
        """Shipped: the reserved units leave the stock for good."""
        if not reservation_ids:
            return 0
        marks = param_list(len(reservation_ids))
        return await self._settle(
            f"id IN ({marks}) AND state = {{}}",
            [*reservation_ids, ReservationState.ORDERED.value],
            ReservationState.CONSUMED,
        )

    async def release_expired(self) -> int:
        """Give back holds whose time ran out (run on a schedule)."""
        return await self._settle(
            "state = {} AND expires_at < {}",
            [ReservationState.HELD.value, self._clock()],
            ReservationState.RELEASED,
        )

    async def for_order(self, order_id: str) -> list[Reservation]:
        rows = await self._db.fetch(
            "SELECT * FROM commerce_reservations WHERE order_id = {} ORDER BY variant_id, id",
            order_id,
        )
        return [Reservation.from_row(row) for row in rows]
