"""Money to and from Stripe's integer ``amount``, which is not always ISO 4217's minor unit.

Stripe counts most currencies in their ISO minor unit (cents), but its zero-decimal currencies
in whole units (MGA has two ISO decimals, yet Stripe takes whole ariary), its three-decimal
currencies in thousandths whose last digit must be 0, and ISK, zero-decimal in ISO, as a
two-decimal value ending in 00 (kept for backwards compatibility). An amount Stripe cannot
express is refused here rather than rounded: a checkout must never charge a different sum.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from dropkit.commerce.errors import PaymentError
from dropkit.core.errors import InvalidAmountError
from dropkit.core.money import Money

__all__ = [
    "THREE_DECIMAL",
    "ZERO_DECIMAL",
    "from_stripe_amount",
    "stripe_exponent",
    "to_stripe_amount",
]

ZERO_DECIMAL: Final = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL: Final = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
_TWO_DECIMAL_OVERRIDES: Final = frozenset({"ISK"})


def stripe_exponent(currency: str) -> int:
    """How many decimal digits Stripe's integer amount carries for ``currency``."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in _TWO_DECIMAL_OVERRIDES:
        return 2
    return Money.zero(code).exponent


def to_stripe_amount(money: Money) -> int:
    """``money`` as Stripe's integer ``amount``; :class:`PaymentError` if Stripe cannot take it."""
    scaled = money.amount.scaleb(stripe_exponent(money.currency))
    if scaled != scaled.to_integral_value():
        raise PaymentError(f"Stripe takes {money.currency} in whole units only, not {money}")
    minor = int(scaled)
    if money.currency in THREE_DECIMAL and minor % 10:
        raise PaymentError(
            f"Stripe takes {money.currency} amounts in thousandths ending in 0, not {money}"
        )
    if money.currency in _TWO_DECIMAL_OVERRIDES and minor % 100:
        raise PaymentError(f"Stripe takes {money.currency} amounts ending in 00, not {money}")
    return minor


def from_stripe_amount(amount: Any, currency: Any) -> Money:
    """Stripe's ``amount`` and lower-case ``currency`` as :class:`Money`."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not isinstance(currency, str):
        raise PaymentError(f"Stripe sent a malformed amount: {amount!r} {currency!r}")
    code = currency.upper()
    try:
        return Money(Decimal(amount).scaleb(-stripe_exponent(code)), code)
    except InvalidAmountError as exc:
        raise PaymentError(f"Stripe sent a malformed amount: {exc}") from None
