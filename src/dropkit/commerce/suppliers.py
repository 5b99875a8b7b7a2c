"""Suppliers, their offers per variant, and the routing policy that picks an offer per order.

An offer is what a supplier last told us about one variant: their SKU, our cost, their stock and
lead time, and when we synced it (``synced_at``). Supplier stock older than a TTL is *unknown*,
not zero and not trusted: :func:`choose_offer` and :func:`fresh_supplier_stock` ignore it, so a
stale feed can never sell units that may be gone.

Costs are compared only within one currency (there is no FX table in the store): offers in
another currency than the one being compared are skipped, as documented on
:func:`choose_offer`.
"""

from __future__ import annotations

import builtins
import enum
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from dropkit.commerce._records import (
    MAX_STOCK,
    check_slug,
    fetch_grouped,
    from_ts,
    new_id,
    slugify,
)
from dropkit.commerce.amounts import money_from_db, to_db
from dropkit.commerce.errors import InvalidQuantityError
from dropkit.core.database import Database, Row
from dropkit.core.errors import ConflictError, IntegrityError, NotFoundError, ValidationError
from dropkit.core.events import EventBus
from dropkit.core.money import Money

__all__ = [
    "Offer",
    "RoutingPolicy",
    "Supplier",
    "Suppliers",
    "choose_offer",
    "fresh_supplier_stock",
]

_MAX_LEAD_DAYS = 365


class RoutingPolicy(enum.StrEnum):
    """How an order line picks among a variant's supplier offers."""

    CHEAPEST_IN_STOCK = "cheapest_in_stock"
    FASTEST = "fastest"
    PREFERRED = "preferred"


class Supplier(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    slug: str
    preferred: bool
    created_at: datetime


class Offer(BaseModel):
    """One supplier's offer for one variant; ``preferred`` is copied from the supplier."""

    model_config = ConfigDict(frozen=True)

    id: str
    supplier_id: str
    variant_id: str
    supplier_sku: str
    cost: Money
    stock: int
    stock_reserved: int
    lead_time_days: int
    synced_at: datetime
    preferred: bool = False

    @property
    def available(self) -> int:
        """Supplier units not yet promised to our orders."""
        return max(self.stock - self.stock_reserved, 0)

    def is_fresh(self, now: datetime, ttl: timedelta) -> bool:
        """Whether the supplier's stock figure is recent enough to trust."""
        return now - self.synced_at <= ttl


def _supplier(row: Row) -> Supplier:
    return Supplier(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        preferred=bool(row["preferred"]),
        created_at=from_ts(row["created_at"]),
    )


def _offer(row: Row) -> Offer:
    return Offer(
        id=row["id"],
        supplier_id=row["supplier_id"],
        variant_id=row["variant_id"],
        supplier_sku=row["supplier_sku"],
        cost=money_from_db(row["cost_amount"], row["cost_currency"]),
        stock=int(row["stock"]),
        stock_reserved=int(row["stock_reserved"]),
        lead_time_days=int(row["lead_time_days"]),
        synced_at=from_ts(row["synced_at"]),
        preferred=bool(row.get("preferred", False)),
    )


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{what} must be a timezone-aware datetime")
    return value


def choose_offer(
    offers: Iterable[Offer],
    quantity: int,
    policy: RoutingPolicy | str,
    *,
    now: datetime,
    ttl: timedelta,
    currency: str | None = None,
) -> Offer | None:
    """The offer that should fill ``quantity`` units under ``policy``, or None if none can.

    Only offers synced within ``ttl`` of ``now`` with at least ``quantity`` available units are
    eligible. Then:

    * ``cheapest_in_stock``: lowest cost; costs are compared in ``currency`` only (default: the
      currency of the first eligible offer, in the order given), offers in other currencies are
      skipped because without an FX table they cannot be compared;
    * ``fastest``: shortest lead time; ties go to a preferred supplier, then to the lower cost
      when in the same currency;
    * ``preferred``: the cheapest offer among preferred suppliers, falling back to
      ``cheapest_in_stock`` when no preferred supplier can fill the line.

    Remaining ties are broken by offer id, so the choice is deterministic.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidQuantityError(f"quantity must be a positive integer, not {quantity!r}")
    try:
        rule = RoutingPolicy(policy)
    except ValueError:
        choices = ", ".join(p.value for p in RoutingPolicy)
        raise ValidationError(f"routing policy {policy!r} is not one of {choices}") from None
    _aware(now, "now")
    eligible = [o for o in offers if o.is_fresh(now, ttl) and o.available >= quantity]
    if not eligible:
        return None
    if rule is RoutingPolicy.FASTEST:
        reference = currency.upper() if currency else eligible[0].cost.currency

        def speed(offer: Offer) -> tuple[int, int, int, object, str]:
            same = offer.cost.currency == reference
            return (
                offer.lead_time_days,
                0 if offer.preferred else 1,
                0 if same else 1,
                offer.cost.amount if same else 0,
                offer.id,
            )

        return min(eligible, key=speed)
    if rule is RoutingPolicy.PREFERRED:
        chosen = _cheapest([o for o in eligible if o.preferred], currency)
        if chosen is not None:
            return chosen
    return _cheapest(eligible, currency)


def _cheapest(offers: Sequence[Offer], currency: str | None) -> Offer | None:
    if not offers:
        return None
    reference = currency.upper() if currency else offers[0].cost.currency
    comparable = [o for o in offers if o.cost.currency == reference]
    if not comparable:
        return None
    return min(comparable, key=lambda o: (o.cost.amount, o.lead_time_days, o.id))


def fresh_supplier_stock(offers: Iterable[Offer], now: datetime, ttl: timedelta) -> int:
    """Units the suppliers can still ship, counting only offers synced within ``ttl``."""
    _aware(now, "now")
    return sum(o.available for o in offers if o.is_fresh(now, ttl))


class Suppliers:
    """Suppliers and their per-variant offers (kept fresh by a sync job calling upsert)."""

    def __init__(
        self,
        database: Database,
        events: EventBus,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._events = events
        self._clock = clock

    async def create(
        self, name: str, *, slug: str | None = None, preferred: bool = False
    ) -> Supplier:
        """A new supplier; a taken slug is a :class:`ConflictError`."""
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
            raise ValidationError("supplier name must be 1-200 characters")
        name = name.strip()
        slug = check_slug(slug) if slug is not None else slugify(name, fallback="supplier")
        supplier_id = new_id("sup")
        async with self._db.transaction():
            if await self._db.fetchval("SELECT id FROM commerce_suppliers WHERE slug = {}", slug):
                raise ConflictError(f"a supplier with slug {slug!r} already exists")
            try:
                await self._db.execute(
                    "INSERT INTO commerce_suppliers (id, name, slug, preferred, created_at)"
                    " VALUES ({}, {}, {}, {}, {})",
                    supplier_id,
                    name,
                    slug,
                    bool(preferred),
                    self._clock(),
                )
            except IntegrityError as exc:
                raise ConflictError(f"a supplier with slug {slug!r} already exists") from exc
        return await self.get(supplier_id)

    async def get(self, supplier_id: str) -> Supplier:
        row = await self._db.fetchrow("SELECT * FROM commerce_suppliers WHERE id = {}", supplier_id)
        if row is None:
            raise NotFoundError(f"no supplier {supplier_id!r}")
        return _supplier(row)

    async def list(self) -> builtins.list[Supplier]:
        rows = await self._db.fetch("SELECT * FROM commerce_suppliers ORDER BY name, id")
        return [_supplier(row) for row in rows]

    async def set_preferred(self, supplier_id: str, preferred: bool) -> Supplier:
        row = await self._db.fetchrow(
            "UPDATE commerce_suppliers SET preferred = {} WHERE id = {} RETURNING *",
            bool(preferred),
            supplier_id,
        )
        if row is None:
            raise NotFoundError(f"no supplier {supplier_id!r}")
        return _supplier(row)

    async def upsert_offer(
        self,
        supplier_id: str,
        variant_id: str,
        supplier_sku: str,
        cost: Money,
        stock: int,
        lead_time_days: int,
        synced_at: datetime | None = None,
    ) -> Offer:
        """Create or refresh the supplier's offer for a variant (one per supplier and variant).

        Units already reserved against the offer are kept; ``synced_at`` defaults to now.
        """
        if not isinstance(supplier_sku, str) or not 0 < len(supplier_sku.strip()) <= 128:
            raise ValidationError("supplier_sku must be 1-128 characters")
        if not isinstance(cost, Money):
            raise ValidationError(f"cost must be Money, not {type(cost).__name__}")
        if cost.amount < 0:
            raise ValidationError(f"cost must not be negative, got {cost}")
        if isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= MAX_STOCK:
            raise InvalidQuantityError(f"supplier stock must be 0 to {MAX_STOCK}, not {stock!r}")
        if (
            isinstance(lead_time_days, bool)
            or not isinstance(lead_time_days, int)
            or not 0 <= lead_time_days <= _MAX_LEAD_DAYS
        ):
            raise ValidationError(
                f"lead_time_days must be 0 to {_MAX_LEAD_DAYS}, not {lead_time_days!r}"
            )
        synced = self._clock() if synced_at is None else _aware(synced_at, "synced_at").timestamp()
        async with self._db.transaction():
            supplier = await self.get(supplier_id)
            if not await self._db.fetchval(
                "SELECT id FROM commerce_variants WHERE id = {}", variant_id
            ):
                raise NotFoundError(f"no variant {variant_id!r}")
            row = await self._db.fetchrow(
                "INSERT INTO commerce_supplier_offers (id, supplier_id, variant_id, supplier_sku,"
                " cost_amount, cost_currency, stock, lead_time_days, synced_at)"
                " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})"
                " ON CONFLICT (supplier_id, variant_id) DO UPDATE SET"
                " supplier_sku = excluded.supplier_sku, cost_amount = excluded.cost_amount,"
                " cost_currency = excluded.cost_currency, stock = excluded.stock,"
                " lead_time_days = excluded.lead_time_days, synced_at = excluded.synced_at"
                " RETURNING *",
                new_id("off"),
                supplier_id,
                variant_id,
                supplier_sku.strip(),
                to_db(cost),
                cost.currency,
                stock,
                lead_time_days,
                synced,
            )
        assert row is not None
        return _offer({**row, "preferred": supplier.preferred})

    async def offers_for(self, variant_id: str) -> builtins.list[Offer]:
        """The variant's offers, each with its supplier's ``preferred`` flag."""
        return (await self.offers_for_variants([variant_id]))[variant_id]

    async def offers_for_variants(
        self, variant_ids: Sequence[str]
    ) -> dict[str, builtins.list[Offer]]:
        """Offers of many variants in one query (carts and listings need them together)."""
        return await fetch_grouped(
            self._db,
            "SELECT o.*, s.preferred AS preferred FROM commerce_supplier_offers o"
            " JOIN commerce_suppliers s ON s.id = o.supplier_id"
            " WHERE o.variant_id IN ({ids}) ORDER BY o.variant_id, o.id",
            variant_ids,
            "variant_id",
            _offer,
        )
