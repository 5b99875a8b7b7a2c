"""Discounts, taxes and shipping, and the arithmetic that turns cart lines into order totals.

All amounts are :class:`Money`; every rounding is the currency's, half-even, once per line, and a
discount is spread over the lines with :meth:`Money.allocate` so that the parts add up exactly.
A discount's usage limits are enforced by :meth:`Pricing.claim` inside the checkout transaction:
the guarded ``UPDATE`` of its counter locks the discount row, so concurrent checkouts count one
after the other and no limit is ever exceeded.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from dropkit.commerce.amounts import money_from_db, to_db
from dropkit.commerce.errors import CouponError
from dropkit.core.database import Database
from dropkit.core.errors import IntegrityError, NotFoundError, ValidationError
from dropkit.core.money import Money

__all__ = [
    "Discount",
    "DiscountKind",
    "LineQuote",
    "Pricing",
    "Quote",
    "ShippingKind",
    "ShippingMethod",
    "TaxRate",
    "quote",
]


class DiscountKind(StrEnum):
    PERCENTAGE = "percentage"
    FIXED = "fixed"
    FREE_SHIPPING = "free_shipping"


class ShippingKind(StrEnum):
    FLAT = "flat"  # one price per order
    FREE_OVER = "free_over"  # flat, free once the subtotal reaches a threshold
    PER_VENDOR = "per_vendor"  # one price per vendor in the order (each ships its own parcel)


def _ts(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


@dataclass(frozen=True)
class Discount:
    id: str
    code: str
    kind: DiscountKind
    value: Decimal  # percent (0-100) or an amount in ``currency``
    currency: str | None
    minimum_subtotal: Money | None
    usage_limit: int | None
    usage_limit_per_customer: int | None
    times_used: int
    starts_at: datetime | None
    ends_at: datetime | None
    active: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Discount:
        currency = row["currency"]
        minimum = row["minimum_subtotal"]
        return cls(
            id=row["id"],
            code=row["code"],
            kind=DiscountKind(row["kind"]),
            value=Decimal(str(row["value"])),
            currency=currency,
            minimum_subtotal=None
            if minimum is None or currency is None
            else money_from_db(minimum, currency),
            usage_limit=row["usage_limit"],
            usage_limit_per_customer=row["usage_limit_per_customer"],
            times_used=int(row["times_used"]),
            starts_at=_ts(row["starts_at"]),
            ends_at=_ts(row["ends_at"]),
            active=bool(row["active"]),
        )


@dataclass(frozen=True)
class TaxRate:
    country: str
    region: str
    rate: Decimal
    inclusive: bool
    name: str


@dataclass(frozen=True)
class ShippingMethod:
    id: str
    name: str
    kind: ShippingKind
    price: Money
    free_over: Money | None
    vendor_id: str | None
    countries: tuple[str, ...]
    active: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ShippingMethod:
        currency = row["currency"]
        free = row["free_over_amount"]
        countries = row["countries"]
        return cls(
            id=row["id"],
            name=row["name"],
            kind=ShippingKind(row["kind"]),
            price=money_from_db(row["price_amount"], currency),
            free_over=None if free is None else money_from_db(free, currency),
            vendor_id=row["vendor_id"],
            countries=tuple(json.loads(countries) if isinstance(countries, str) else countries),
            active=bool(row["active"]),
        )


@dataclass(frozen=True)
class LineQuote:
    """One priced line: what the customer pays for it and how much of that is tax."""

    variant_id: str
    vendor_id: str
    quantity: int
    unit_price: Money
    line_total: Money  # unit price x quantity, before discount
    discount: Money
    tax: Money


@dataclass(frozen=True)
class Quote:
    currency: str
    lines: tuple[LineQuote, ...]
    subtotal: Money
    discount: Money
    tax: Money
    shipping: Money
    total: Money
    tax_inclusive: bool


def _check_country(country: str) -> str:
    code = country.strip().upper()
    if len(code) != 2 or not code.isalpha() or not code.isascii():
        raise ValidationError(f"country must be an ISO 3166 alpha-2 code, not {country!r}")
    return code


def quote(
    lines: Sequence[tuple[str, str, int, Money]],
    *,
    currency: str,
    discount: Discount | None = None,
    tax: TaxRate | None = None,
    shipping: ShippingMethod | None = None,
) -> Quote:
    """Price ``(variant_id, vendor_id, quantity, unit_price)`` lines. Pure arithmetic."""
    zero = Money.zero(currency)
    totals = [unit * quantity for _, _, quantity, unit in lines]
    subtotal = sum(totals, zero)
    discount_total = zero
    if discount is not None and discount.kind is DiscountKind.PERCENTAGE:
        discount_total = subtotal.percent(discount.value)
    elif discount is not None and discount.kind is DiscountKind.FIXED:
        discount_total = min(Money(discount.value, currency), subtotal)
    if discount_total.is_zero() or subtotal.is_zero():
        shares = [zero] * len(lines)
    else:
        shares = discount_total.allocate([t.minor_units for t in totals])
    quoted: list[LineQuote] = []
    for (variant_id, vendor_id, quantity, unit), line_total, share in zip(
        lines, totals, shares, strict=True
    ):
        net = line_total - share
        if tax is None or tax.rate == 0:
            line_tax = zero
        elif tax.inclusive:
            line_tax = net - Money.rounded(net.amount / (1 + tax.rate), currency)
        else:
            line_tax = Money.rounded(net.amount * tax.rate, currency)
        quoted.append(LineQuote(variant_id, vendor_id, quantity, unit, line_total, share, line_tax))
    tax_total = sum((q.tax for q in quoted), zero)
    shipping_total = zero
    if shipping is not None:
        if shipping.price.currency != currency:
            raise ValidationError(
                f"shipping method {shipping.name!r} is priced in {shipping.price.currency}, "
                f"the cart in {currency}"
            )
        if shipping.kind is ShippingKind.PER_VENDOR:
            shipping_total = shipping.price * len({q.vendor_id for q in quoted})
        elif shipping.kind is ShippingKind.FREE_OVER and shipping.free_over is not None:
            shipping_total = zero if subtotal >= shipping.free_over else shipping.price
        else:
            shipping_total = shipping.price
        if discount is not None and discount.kind is DiscountKind.FREE_SHIPPING:
            shipping_total = zero
    inclusive = tax is not None and tax.inclusive
    total = subtotal - discount_total + shipping_total + (zero if inclusive else tax_total)
    return Quote(
        currency,
        tuple(quoted),
        subtotal,
        discount_total,
        tax_total,
        shipping_total,
        total,
        inclusive,
    )


class Pricing:
    """Discount codes, the tax table and shipping methods."""

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = database
        self._clock = clock

    # -- discounts ------------------------------------------------------------------------

    async def create_discount(
        self,
        code: str,
        kind: DiscountKind | str,
        value: Decimal | int | str = 0,
        *,
        currency: str | None = None,
        minimum_subtotal: Money | None = None,
        usage_limit: int | None = None,
        usage_limit_per_customer: int | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> Discount:
        """A discount code; percentage in 0-100, fixed amounts in ``currency``."""
        code = code.strip().upper()
        if not code or len(code) > 64 or not code.replace("-", "").replace("_", "").isalnum():
            raise ValidationError(f"discount code must be 1-64 letters, digits, - or _: {code!r}")
        kind = DiscountKind(kind)
        amount = Decimal(str(value))
        if kind is DiscountKind.PERCENTAGE and not 0 < amount <= 100:
            raise ValidationError("a percentage discount must be above 0 and at most 100")
        if kind is DiscountKind.FIXED:
            if currency is None:
                raise ValidationError("a fixed discount needs a currency")
            amount = Money(amount, currency).amount  # refuses excess decimals, bad codes
            if amount <= 0:
                raise ValidationError("a fixed discount must be positive")
        if minimum_subtotal is not None:
            if currency is not None and minimum_subtotal.currency != currency:
                raise ValidationError("minimum subtotal and discount differ in currency")
            currency = minimum_subtotal.currency
        for limit in (usage_limit, usage_limit_per_customer):
            if limit is not None and limit < 1:
                raise ValidationError("usage limits must be at least 1")
        try:
            row = await self._db.fetchrow(
                "INSERT INTO commerce_discounts (id, code, kind, value, currency,"
                " minimum_subtotal, usage_limit, usage_limit_per_customer, starts_at, ends_at,"
                " active, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
                " RETURNING *",
                f"dsc_{uuid.uuid4().hex}",
                code,
                kind.value,
                to_db(amount),
                currency,
                None if minimum_subtotal is None else to_db(minimum_subtotal),
                usage_limit,
                usage_limit_per_customer,
                None if starts_at is None else starts_at.timestamp(),
                None if ends_at is None else ends_at.timestamp(),
                True,
                self._clock(),
            )
        except IntegrityError as exc:
            raise CouponError(f"discount code {code} already exists") from exc
        assert row is not None
        return Discount.from_row(row)

    async def discount(self, code: str) -> Discount:
        row = await self._db.fetchrow(
            "SELECT * FROM commerce_discounts WHERE code = {}", code.strip().upper()
        )
        if row is None:
            raise CouponError(f"unknown discount code {code!r}")
        return Discount.from_row(row)

    def check(self, discount: Discount, subtotal: Money) -> None:
        """Refuse a code that is inactive, outside its dates or under its minimum."""
        now = self._clock()
        if not discount.active:
            raise CouponError(f"discount {discount.code} is not active")
        if discount.starts_at is not None and now < discount.starts_at.timestamp():
            raise CouponError(f"discount {discount.code} is not valid yet")
        if discount.ends_at is not None and now > discount.ends_at.timestamp():
            raise CouponError(f"discount {discount.code} has expired")
        if discount.currency is not None and discount.currency != subtotal.currency:
            raise CouponError(f"discount {discount.code} applies to {discount.currency} orders")
        if discount.minimum_subtotal is not None and subtotal < discount.minimum_subtotal:
            raise CouponError(
                f"discount {discount.code} needs a subtotal of {discount.minimum_subtotal}"
            )

    async def claim(self, discount: Discount, *, customer_key: str, order_id: str) -> None:
        """Count one use inside the checkout transaction, or refuse an exhausted code."""
        row = await self._db.fetchrow(
            "UPDATE commerce_discounts SET times_used = times_used + 1 WHERE id = {}"
            " AND (usage_limit IS NULL OR times_used < usage_limit) RETURNING id",
            discount.id,
        )
        if row is None:
            raise CouponError(f"discount {discount.code} has been used up")
        if discount.usage_limit_per_customer is not None:
            used = await self._db.fetchval(
                "SELECT COUNT(*) FROM commerce_discount_uses"
                " WHERE discount_id = {} AND customer_key = {}",
                discount.id,
                customer_key,
            )
            if int(used) >= discount.usage_limit_per_customer:
                raise CouponError(f"discount {discount.code} was already used by this customer")
        await self._db.execute(
            "INSERT INTO commerce_discount_uses (discount_id, customer_key, order_id, created_at)"
            " VALUES ({}, {}, {}, {})",
            discount.id,
            customer_key,
            order_id,
            self._clock(),
        )

    # -- taxes ----------------------------------------------------------------------------

    async def set_tax_rate(
        self,
        country: str,
        rate: Decimal | str,
        *,
        region: str = "",
        inclusive: bool = False,
        name: str = "",
    ) -> TaxRate:
        """Set the rate (a fraction: 0.2 for 20 %) for a country or one of its regions."""
        value = Decimal(str(rate))
        if not 0 <= value < 1:
            raise ValidationError(f"tax rate is a fraction between 0 and 1, not {rate}")
        country = _check_country(country)
        async with self._db.transaction():
            await self._db.execute(
                "DELETE FROM commerce_tax_rates WHERE country = {} AND region = {}",
                country,
                region,
            )
            await self._db.execute(
                "INSERT INTO commerce_tax_rates (id, country, region, rate, inclusive, name)"
                " VALUES ({}, {}, {}, {}, {}, {})",
                f"tax_{uuid.uuid4().hex}",
                country,
                region,
                to_db(value),
                inclusive,
                name,
            )
        return TaxRate(country, region, value, inclusive, name)

    async def tax_rate(self, country: str, region: str = "") -> TaxRate | None:
        """The region's rate, else the country's, else none."""
        rows = await self._db.fetch(
            "SELECT * FROM commerce_tax_rates WHERE country = {} AND region IN ({}, '')",
            _check_country(country),
            region,
        )
        best = sorted(rows, key=lambda r: r["region"] == "")
        if not best:
            return None
        row = best[0]
        return TaxRate(
            row["country"],
            row["region"],
            Decimal(str(row["rate"])),
            bool(row["inclusive"]),
            row["name"],
        )

    # -- shipping -------------------------------------------------------------------------

    async def create_shipping_method(
        self,
        name: str,
        kind: ShippingKind | str,
        price: Money,
        *,
        free_over: Money | None = None,
        vendor_id: str | None = None,
        countries: Sequence[str] = (),
    ) -> ShippingMethod:
        kind = ShippingKind(kind)
        if free_over is not None and free_over.currency != price.currency:
            raise ValidationError("free-over threshold and price differ in currency")
        if kind is ShippingKind.FREE_OVER and free_over is None:
            raise ValidationError("a free-over method needs its threshold")
        if price.amount < 0:
            raise ValidationError("shipping price must not be negative")
        row = await self._db.fetchrow(
            "INSERT INTO commerce_shipping_methods (id, name, kind, price_amount, currency,"
            " free_over_amount, vendor_id, countries, active)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING *",
            f"shp_{uuid.uuid4().hex}",
            name,
            kind.value,
            to_db(price),
            price.currency,
            None if free_over is None else to_db(free_over),
            vendor_id,
            json.dumps([_check_country(c) for c in countries]),
            True,
        )
        assert row is not None
        return ShippingMethod.from_row(row)

    async def shipping_method(self, method_id: str) -> ShippingMethod:
        row = await self._db.fetchrow(
            "SELECT * FROM commerce_shipping_methods WHERE id = {}", method_id
        )
        if row is None:
            raise NotFoundError(f"no shipping method {method_id!r}")
        return ShippingMethod.from_row(row)
