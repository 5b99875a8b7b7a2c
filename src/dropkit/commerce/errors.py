"""Store errors: every one is a :class:`~dropkit.core.errors.CommerceError`.

Each names what was wrong in its message; none leaves anything half-written.
"""

from __future__ import annotations

from dropkit.core.errors import CommerceError

__all__ = [
    "CartError",
    "CouponError",
    "IllegalTransitionError",
    "InvalidQuantityError",
    "MarginTooLowError",
    "OutOfStockError",
    "PaymentError",
    "UnknownSkuError",
    "VendorAccessError",
]


class OutOfStockError(CommerceError):
    """Fewer units are available than asked for."""

    def __init__(self, sku: str, requested: int, available: int) -> None:
        self.sku = sku
        self.requested = requested
        self.available = available
        super().__init__(f"{sku}: {requested} requested, {max(available, 0)} available")


class UnknownSkuError(CommerceError, LookupError):
    """No variant has this SKU (or it is not for sale)."""


class InvalidQuantityError(CommerceError, ValueError):
    """A quantity is zero, negative or absurdly large."""


class CartError(CommerceError):
    """The cart cannot be used as asked (empty, already checked out, mixed currencies...)."""


class CouponError(CommerceError):
    """A discount code is unknown, expired, exhausted or not applicable."""


class IllegalTransitionError(CommerceError):
    """An order or fulfilment cannot move from its current status to the requested one."""


class MarginTooLowError(CommerceError):
    """A line's supplier cost leaves less than the configured margin."""


class PaymentError(CommerceError):
    """A payment gateway refused or failed an operation."""


class VendorAccessError(CommerceError, PermissionError):
    """A vendor-scoped view touched another vendor's record."""
