"""Vendors: the marketplace sellers whose products the store lists.

A vendor's ``commission_rate`` (a fraction in [0, 1]) is what the store keeps on each sale; the
order lines copy it at checkout, so changing it later never rewrites past orders. A suspended
vendor keeps its records but cannot list new products.
"""

from __future__ import annotations

import builtins
import enum
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict

from dropkit.commerce._records import check_slug, from_ts, new_id, slugify
from dropkit.commerce.amounts import to_db
from dropkit.commerce.customers import normalize_email
from dropkit.core.database import Database, Row
from dropkit.core.errors import ConflictError, IntegrityError, NotFoundError, ValidationError
from dropkit.core.events import EventBus

__all__ = ["Vendor", "VendorStatus", "Vendors"]


class VendorStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Vendor(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    slug: str
    status: VendorStatus
    commission_rate: Decimal
    email: str | None
    created_at: datetime
    updated_at: datetime


def _vendor(row: Row) -> Vendor:
    return Vendor(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        status=VendorStatus(row["status"]),
        commission_rate=Decimal(str(row["commission_rate"])),
        email=row["email"],
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
    )


def _rate(value: Decimal | int | str) -> Decimal:
    """A commission rate as an exact Decimal in [0, 1]; floats are refused like money."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValidationError(
            f"commission_rate must be a Decimal, int or str, not {type(value).__name__}"
        )
    try:
        rate = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValidationError(f"commission_rate {value!r} is not a number") from None
    if not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
        raise ValidationError(f"commission_rate must be between 0 and 1, got {value}")
    if rate != rate.quantize(Decimal("0.000001")):
        raise ValidationError(f"commission_rate {value} has more than 6 decimals")
    return rate


class Vendors:
    """Creates and looks up vendors, and suspends or reinstates them."""

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
        self,
        name: str,
        *,
        slug: str | None = None,
        commission_rate: Decimal | int | str = Decimal(0),
        email: str | None = None,
    ) -> Vendor:
        """A new active vendor; a taken slug is a :class:`ConflictError`."""
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
            raise ValidationError("vendor name must be 1-200 characters")
        name = name.strip()
        slug = check_slug(slug) if slug is not None else slugify(name, fallback="vendor")
        rate = _rate(commission_rate)
        address = normalize_email(email) if email is not None else None
        now = self._clock()
        vendor_id = new_id("ven")
        async with self._db.transaction():
            if await self._db.fetchval("SELECT id FROM commerce_vendors WHERE slug = {}", slug):
                raise ConflictError(f"a vendor with slug {slug!r} already exists")
            try:
                await self._db.execute(
                    "INSERT INTO commerce_vendors (id, name, slug, status, commission_rate,"
                    " email, created_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                    vendor_id,
                    name,
                    slug,
                    VendorStatus.ACTIVE.value,
                    to_db(rate),
                    address,
                    now,
                    now,
                )
            except IntegrityError as exc:
                raise ConflictError(f"a vendor with slug {slug!r} already exists") from exc
        return await self.get(vendor_id)

    async def get(self, vendor_id: str) -> Vendor:
        row = await self._db.fetchrow("SELECT * FROM commerce_vendors WHERE id = {}", vendor_id)
        if row is None:
            raise NotFoundError(f"no vendor {vendor_id!r}")
        return _vendor(row)

    async def get_by_slug(self, slug: str) -> Vendor:
        row = await self._db.fetchrow("SELECT * FROM commerce_vendors WHERE slug = {}", slug)
        if row is None:
            raise NotFoundError(f"no vendor with slug {slug!r}")
        return _vendor(row)

    async def list(self, *, status: VendorStatus | str | None = None) -> builtins.list[Vendor]:
        """Vendors by name, optionally only those with ``status``."""
        if status is None:
            rows = await self._db.fetch("SELECT * FROM commerce_vendors ORDER BY name, id")
        else:
            rows = await self._db.fetch(
                "SELECT * FROM commerce_vendors WHERE status = {} ORDER BY name, id",
                _status(status).value,
            )
        return [_vendor(row) for row in rows]

    async def suspend(self, vendor_id: str) -> Vendor:
        """Stop the vendor from listing new products (existing records are kept)."""
        return await self._set_status(vendor_id, VendorStatus.SUSPENDED)

    async def activate(self, vendor_id: str) -> Vendor:
        return await self._set_status(vendor_id, VendorStatus.ACTIVE)

    async def _set_status(self, vendor_id: str, status: VendorStatus) -> Vendor:
        row = await self._db.fetchrow(
            "UPDATE commerce_vendors SET status = {}, updated_at = {} WHERE id = {} RETURNING *",
            status.value,
            self._clock(),
            vendor_id,
        )
        if row is None:
            raise NotFoundError(f"no vendor {vendor_id!r}")
        return _vendor(row)


def _status(value: VendorStatus | str) -> VendorStatus:
    try:
        return VendorStatus(value)
    except ValueError:
        raise ValidationError(f"vendor status {value!r} is not 'active' or 'suspended'") from None
