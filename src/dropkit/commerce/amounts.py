"""Money in and out of the database: decimal amounts beside a currency code, never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dropkit.core.money import Money

__all__ = ["money_from_db", "to_db"]


def money_from_db(amount: Any, currency: str) -> Money:
    """A stored amount (NUMERIC on PostgreSQL, TEXT on SQLite) as Money."""
    return Money(Decimal(str(amount)), currency)


def to_db(value: Money | Decimal) -> str:
    """The canonical text of an amount: exact, and accepted by NUMERIC and TEXT columns alike."""
    amount = value.amount if isinstance(value, Money) else value
    return format(amount, "f")
