"""How failures reach storefront clients: typed GraphQL errors, never a 500 or a traceback.

A dropkit error a customer can act on (bad input, unknown SKU, out of stock, bad coupon...)
keeps its message and gains ``extensions.code``; anything else (a bug, a database outage) is
masked as ``"Unexpected error."`` with code ``INTERNAL_SERVER_ERROR`` and logged in full on the
server. Errors GraphQL itself raises (syntax, unknown field, depth or cost limit) keep their
message and get ``GRAPHQL_VALIDATION_FAILED`` unless they already carry a code.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from dropkit.commerce.errors import (
    CartError,
    CouponError,
    IllegalTransitionError,
    InvalidQuantityError,
    MarginTooLowError,
    OutOfStockError,
    PaymentError,
    UnknownSkuError,
)
from dropkit.core.errors import (
    CommerceError,
    ConflictError,
    MoneyError,
    NotFoundError,
    ValidationError,
)

__all__ = ["ErrorCode", "StorefrontErrors", "describe_error"]

logger = logging.getLogger("dropkit.commerce.graphql")


class ErrorCode:
    """The values of ``extensions.code`` (stable: clients switch on them)."""

    BAD_INPUT = "BAD_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNKNOWN_SKU = "UNKNOWN_SKU"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    INVALID_COUPON = "INVALID_COUPON"
    CART_ERROR = "CART_ERROR"
    CONFLICT = "CONFLICT"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    UNAVAILABLE = "UNAVAILABLE"
    COMMERCE_ERROR = "COMMERCE_ERROR"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


# Most specific first: the first class an error is an instance of decides its code.
_CODES: tuple[tuple[type[Exception], str], ...] = (
    (OutOfStockError, ErrorCode.OUT_OF_STOCK),
    (UnknownSkuError, ErrorCode.UNKNOWN_SKU),
    (InvalidQuantityError, ErrorCode.BAD_INPUT),
    (CouponError, ErrorCode.INVALID_COUPON),
    (CartError, ErrorCode.CART_ERROR),
    (PaymentError, ErrorCode.PAYMENT_FAILED),
    (IllegalTransitionError, ErrorCode.CONFLICT),
    (ValidationError, ErrorCode.BAD_INPUT),
    (MoneyError, ErrorCode.BAD_INPUT),
    (NotFoundError, ErrorCode.NOT_FOUND),
    (ConflictError, ErrorCode.CONFLICT),
    (CommerceError, ErrorCode.COMMERCE_ERROR),
)


def describe_error(exc: BaseException) -> tuple[str, dict[str, Any]] | None:
    """The public message and extensions for ``exc``, or None if it must be masked."""
    if isinstance(exc, MarginTooLowError):
        # Its message names the supplier cost: an internal figure no customer may see.
        return "this cart cannot be checked out right now", {"code": ErrorCode.UNAVAILABLE}
    for cls, code in _CODES:
        if isinstance(exc, cls):
            extensions: dict[str, Any] = {"code": code}
            if isinstance(exc, OutOfStockError):
                extensions |= {
                    "sku": exc.sku,
                    "requested": exc.requested,
                    "available": max(exc.available, 0),
                }
            return str(exc), extensions
    return None


def is_unexpected(error: GraphQLError) -> bool:
    """True for an error raised by a resolver that is not one of dropkit's typed errors."""
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, GraphQLError)
        and describe_error(original) is None
    )


class StorefrontErrors(MaskErrors):
    """``MaskErrors`` that also gives every error an ``extensions.code``."""

    def __init__(self) -> None:
        # Every error goes through anonymise_error, which decides what to keep.
        super().__init__(should_mask_error=lambda _error: True, error_message="Unexpected error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None and error.path is not None:
            # Raised by GraphQL during execution (e.g. null for a non-null field): a bug.
            masked = super().anonymise_error(error)
            return self._copy(masked, masked.message, {"code": ErrorCode.INTERNAL_SERVER_ERROR})
        if original is None or isinstance(original, GraphQLError):
            extensions = dict(error.extensions or {})
            extensions.setdefault("code", ErrorCode.GRAPHQL_VALIDATION_FAILED)
            return self._copy(error, error.message, extensions)
        described = describe_error(original)
        if described is None:
            masked = super().anonymise_error(error)
            return self._copy(masked, masked.message, {"code": ErrorCode.INTERNAL_SERVER_ERROR})
        message, extensions = described
        return self._copy(error, message, extensions)

    @staticmethod
    def _copy(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions,
        )
