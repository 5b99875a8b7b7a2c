"""Money: an exact ``Decimal`` amount in an ISO 4217 currency.

Why not ``float``: binary floats cannot hold most decimal fractions (``0.1 + 0.2 != 0.3``), and
an error of one cent compounds across orders, refunds and payouts. A :class:`Money` is a
``Decimal`` quantized to exactly the currency's exponent (2 for USD, 0 for JPY, 3 for KWD, 4 for
CLF), and floats are refused everywhere. Construction also refuses amounts finer than the currency
allows instead of silently rounding them; rounding happens only where it is asked for
(:meth:`Money.rounded`) or is inherent in the operation (``*``, :meth:`Money.percent`), and then it
is exponent-aware, half-even by default. :meth:`Money.allocate` splits without losing a minor unit.

Every refusal raises :class:`~dropkit.core.errors.InvalidAmountError` (bad amount, currency code,
factor, ratio or rounding mode) or :class:`~dropkit.core.errors.CurrencyMismatchError` (mixing
currencies); both are ``ValueError`` subclasses, so pydantic reports them as validation errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_05UP,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from fractions import Fraction
from typing import TYPE_CHECKING, Final, NoReturn, final

from pydantic_core import core_schema

from dropkit.core.currencies import CURRENCY_EXPONENTS
from dropkit.core.errors import CurrencyMismatchError, InvalidAmountError

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue

MAX_DIGITS: Final = 50
"""Most significant digits (minor units included) an amount may have; larger is refused."""

_TRAPS: Final = [InvalidOperation, DivisionByZero, Overflow]
# Quantizing: a result needing more than MAX_DIGITS digits signals InvalidOperation (refused).
_QUANTIZE: Final = Context(
    prec=MAX_DIGITS, rounding=ROUND_HALF_EVEN, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=_TRAPS
)
# Adding and multiplying: exact (no precision limit), so rounding happens once, at quantize time.
_EXACT: Final = Context(
    prec=MAX_PREC, rounding=ROUND_HALF_EVEN, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=_TRAPS
)
_ROUNDING_MODES: Final = frozenset(
    {
        ROUND_05UP,
        ROUND_CEILING,
        ROUND_DOWN,
        ROUND_FLOOR,
        ROUND_HALF_DOWN,
        ROUND_HALF_EVEN,
        ROUND_HALF_UP,
        ROUND_UP,
    }
)
_EXPONENT_STEPS: Final = {exp: Decimal(1).scaleb(-exp) for exp in set(CURRENCY_EXPONENTS.values())}


def _refuse_float(value: float, what: str) -> NoReturn:
    raise InvalidAmountError(
        f"floats are never money: got {what} {value!r}; pass a Decimal, int or str instead"
    )


def _to_decimal(value: object, what: str = "amount") -> Decimal:
    """A finite ``Decimal`` from ``value`` (Decimal, int or str); anything else is refused."""
    if isinstance(value, bool):
        raise InvalidAmountError(f"{what} must be a Decimal, int or str, not bool ({value!r})")
    if isinstance(value, float):
        _refuse_float(value, what)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidAmountError(f"{what} {value!r} is not a decimal number") from None
    else:
        raise InvalidAmountError(
            f"{what} must be a Decimal, int or str, not {type(value).__name__}"
        )
    if not result.is_finite():
        raise InvalidAmountError(f"{what} must be finite, got {result}")
    return result


def _currency_code(currency: object) -> tuple[str, int]:
    """The upper-case code and exponent of ``currency``; unknown codes are refused."""
    if not isinstance(currency, str):
        raise InvalidAmountError(
            f"currency must be an ISO 4217 code string, not {type(currency).__name__}"
        )
    code = currency.upper()
    exponent = CURRENCY_EXPONENTS.get(code)
    if exponent is None:
        raise InvalidAmountError(f"unknown currency code {currency!r} (not in ISO 4217)")
    return code, exponent


def _check_rounding(rounding: str) -> None:
    if rounding not in _ROUNDING_MODES:
        raise InvalidAmountError(f"unknown rounding mode {rounding!r}")


def _quantize(value: Decimal, exponent: int, rounding: str) -> Decimal:
    try:
        result = value.quantize(_EXPONENT_STEPS[exponent], rounding=rounding, context=_QUANTIZE)
    except InvalidOperation:
        raise InvalidAmountError(
            f"{value} is too large: money is limited to {MAX_DIGITS} significant digits"
        ) from None
    # No negative zero: -0.004 rounded is 0.00, and str() should say so.
    return result.copy_abs() if result.is_zero() else result


@final
class Money:
    """An immutable, hashable amount of one currency: ``Money("12.30", "USD")``.

    ``amount`` may be a ``Decimal``, ``int`` or ``str``; a ``float`` (or ``bool``) is refused, as
    are NaN, infinities and amounts with more decimals than the currency has (use
    :meth:`rounded` to round instead). Trailing zeros that do not change the value
    (``"1.500"`` USD) are fine. The currency code is case-insensitive and stored upper-case.
    """

    __slots__ = ("_amount", "_currency")

    _amount: Decimal
    _currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        code, exponent = _currency_code(currency)
        value = _to_decimal(amount)
        quantized = _quantize(value, exponent, ROUND_HALF_EVEN)
        if quantized != value:
            raise InvalidAmountError(
                f"{value} has more decimals than {code} allows ({exponent}); "
                "use Money.rounded() to round"
            )
        object.__setattr__(self, "_amount", quantized)
        object.__setattr__(self, "_currency", code)

    @classmethod
    def _of(cls, value: Decimal, code: str, rounding: str = ROUND_HALF_EVEN) -> Money:
        """Build from an already-validated code, rounding ``value`` to the exponent."""
        self = object.__new__(cls)
        object.__setattr__(self, "_amount", _quantize(value, CURRENCY_EXPONENTS[code], rounding))
        object.__setattr__(self, "_currency", code)
        return self

    # -- alternative constructors ---------------------------------------------------------------

    @classmethod
    def rounded(
        cls, amount: Decimal | int | str, currency: str, rounding: str = ROUND_HALF_EVEN
    ) -> Money:
        """``amount`` rounded to the currency's exponent (half-even unless ``rounding`` says).

        ``rounding`` is one of the :mod:`decimal` rounding constants (``ROUND_HALF_UP``, ...).
        """
        code, _ = _currency_code(currency)
        _check_rounding(rounding)
        return cls._of(_to_decimal(amount), code, rounding)

    @classmethod
    def from_minor(cls, minor_units: int, currency: str) -> Money:
        """``minor_units`` of the currency's smallest unit: ``(1230, "USD")`` is 12.30 USD."""
        if isinstance(minor_units, bool) or not isinstance(minor_units, int):
            raise InvalidAmountError(
                f"minor units must be an int, not {type(minor_units).__name__}"
            )
        code, exponent = _currency_code(currency)
        return cls._of(Decimal(minor_units).scaleb(-exponent, context=_EXACT), code)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``; also the start value for ``sum(items, Money.zero("USD"))``."""
        code, _ = _currency_code(currency)
        return cls._of(Decimal(0), code)

    @classmethod
    def parse(cls, text: str) -> Money:
        """Parse ``"12.30 USD"`` (the :func:`str` form); the same rules as the constructor apply."""
        if not isinstance(text, str):
            raise InvalidAmountError(f"expected a string like '12.30 USD', not {text!r}")
        parts = text.split()
        if len(parts) != 2:
            raise InvalidAmountError(
                f"expected '<amount> <currency>' like '12.30 USD', not {text!r}"
            )
        return cls(parts[0], parts[1])

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Money:
        """Rebuild from :meth:`to_dict` output: ``{"amount": "12.30", "currency": "USD"}``."""
        if not isinstance(data, Mapping):
            raise InvalidAmountError(f"expected a mapping with amount and currency, not {data!r}")
        keys = set(data)
        if keys != {"amount", "currency"}:
            missing = sorted({"amount", "currency"} - keys)
            extra = sorted(str(key) for key in keys - {"amount", "currency"})
            raise InvalidAmountError(
                f"money mapping needs exactly 'amount' and 'currency' "
                f"(missing: {missing}, unexpected: {extra})"
            )
        amount = _to_decimal(data["amount"])
        currency = data["currency"]
        if not isinstance(currency, str):
            raise InvalidAmountError(f"currency must be a string, not {type(currency).__name__}")
        return cls(amount, currency)

    # -- accessors -------------------------------------------------------------------------------

    @property
    def amount(self) -> Decimal:
        """The amount, with exactly :attr:`exponent` decimal places."""
        return self._amount

    @property
    def currency(self) -> str:
        """The upper-case ISO 4217 code."""
        return self._currency

    @property
    def exponent(self) -> int:
        """Number of minor-unit digits of the currency (2 for USD, 0 for JPY)."""
        return CURRENCY_EXPONENTS[self._currency]

    @property
    def minor_units(self) -> int:
        """The amount in the currency's smallest unit, as Stripe-style APIs want (12.30 -> 1230)."""
        return int(self._amount.scaleb(self.exponent, context=_EXACT))

    def is_zero(self) -> bool:
        """Whether the amount is zero."""
        return self._amount.is_zero()

    # -- arithmetic ------------------------------------------------------------------------------

    def _same_currency(self, other: Money, operation: str) -> None:
        if other._currency != self._currency:
            raise CurrencyMismatchError(
                f"cannot {operation} {self._currency} and {other._currency} amounts"
            )

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return Money._of(_EXACT.add(self._amount, other._amount), self._currency)

    def __radd__(self, other: int) -> Money:
        # Lets sum() start from its default 0; any other non-Money operand is not supported.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money._of(_EXACT.subtract(self._amount, other._amount), self._currency)

    def __neg__(self) -> Money:
        return Money._of(-self._amount, self._currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return self if self._amount >= 0 else -self

    def _factor(self, factor: object, what: str) -> Decimal | None:
        """``factor`` as a finite Decimal, None if its type is not supported (NotImplemented)."""
        if isinstance(factor, float):
            _refuse_float(factor, what)
        if isinstance(factor, bool) or not isinstance(factor, int | Decimal):
            return None
        return _to_decimal(factor, what)

    def __mul__(self, factor: int | Decimal) -> Money:
        value = self._factor(factor, "factor")
        if value is None:
            return NotImplemented
        return Money._of(_EXACT.multiply(self._amount, value), self._currency)

    def __rmul__(self, factor: int | Decimal) -> Money:
        return self.__mul__(factor)

    def percent(self, p: Decimal | int | str, rounding: str = ROUND_HALF_EVEN) -> Money:
        """``p`` percent of this amount, rounded to the exponent (half-even by default)."""
        _check_rounding(rounding)
        value = _to_decimal(p, "percentage")
        product = _EXACT.multiply(self._amount, value).scaleb(-2, context=_EXACT)
        return Money._of(product, self._currency, rounding)

    def allocate(self, ratios: Sequence[int | Decimal]) -> list[Money]:
        """Split into parts proportional to ``ratios`` that sum exactly to this amount.

        Each part gets its share rounded toward zero to a whole minor unit; the minor units left
        over go one each to the parts with the largest remainders (the earlier part on a tie), so
        nothing is lost or created: ``Money("100", "USD").allocate([1, 1, 1])`` is 33.34, 33.33,
        33.33. Ratios must be non-negative ints or Decimals with a positive total; a zero ratio
        gets zero.
        """
        if isinstance(ratios, str | bytes) or not isinstance(ratios, Sequence):
            raise InvalidAmountError("ratios must be a sequence of ints or Decimals")
        if not ratios:
            raise InvalidAmountError("ratios must not be empty")
        weights: list[Fraction] = []
        for ratio in ratios:
            if isinstance(ratio, float):
                _refuse_float(ratio, "ratio")
            if isinstance(ratio, bool) or not isinstance(ratio, int | Decimal):
                raise InvalidAmountError(
                    f"ratios must be ints or Decimals, not {type(ratio).__name__}"
                )
            weight = Fraction(_to_decimal(ratio, "ratio"))
            if weight < 0:
                raise InvalidAmountError(f"ratios must not be negative, got {ratio}")
            weights.append(weight)
        total_weight = sum(weights, Fraction(0))
        if total_weight == 0:
            raise InvalidAmountError("ratios must not all be zero")

        total = self.minor_units
        magnitude = abs(total)
        sign = -1 if total < 0 else 1
        shares = [magnitude * weight / total_weight for weight in weights]
        parts = [share.numerator // share.denominator for share in shares]
        leftover = magnitude - sum(parts)
        by_remainder = sorted(range(len(parts)), key=lambda i: (parts[i] - shares[i], i))
        for index in by_remainder[:leftover]:
            parts[index] += 1
        return [Money.from_minor(sign * part, self._currency) for part in parts]

    def split(self, n: int) -> list[Money]:
        """Split into ``n`` parts as equal as possible that sum exactly to this amount."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidAmountError(f"can only split into a positive int of parts, not {n!r}")
        return self.allocate([1] * n)

    # -- comparison ------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self._currency == other._currency and self._amount == other._amount

    def __hash__(self) -> int:
        return hash((self._amount, self._currency))

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self._amount < other._amount

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self._amount <= other._amount

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self._amount > other._amount

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self._amount >= other._amount

    # -- immutability ----------------------------------------------------------------------------

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Money is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Money is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[Money], tuple[str, str]]:
        return (Money, (format(self._amount, "f"), self._currency))

    def __copy__(self) -> Money:
        return self

    def __deepcopy__(self, memo: object) -> Money:
        return self

    # -- formatting and serialisation ------------------------------------------------------------

    def __str__(self) -> str:
        return f"{format(self._amount, 'f')} {self._currency}"

    def __repr__(self) -> str:
        return f"Money({format(self._amount, 'f')!r}, {self._currency!r})"

    def to_dict(self) -> dict[str, str]:
        """``{"amount": "12.30", "currency": "USD"}``: the amount as a string, never a float."""
        return {"amount": format(self._amount, "f"), "currency": self._currency}

    # -- pydantic --------------------------------------------------------------------------------

    @classmethod
    def _validate(cls, value: object) -> Money:
        if isinstance(value, Money):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        if isinstance(value, str):
            return cls.parse(value)
        raise InvalidAmountError(
            "expected Money, {'amount': ..., 'currency': ...} or a string like '12.30 USD', "
            f"not {type(value).__name__}"
        )

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate Money, a ``to_dict()`` mapping or ``"12.30 USD"``; dump JSON as the dict."""
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                Money.to_dict, when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        validating = handler.mode == "validation"
        amount: JsonSchemaValue = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}
        as_object: JsonSchemaValue = {
            "type": "object",
            "title": "Money",
            "properties": {
                "amount": {"anyOf": [amount, {"type": "integer"}]} if validating else amount,
                "currency": {
                    "type": "string",
                    "pattern": "^[A-Za-z]{3}$" if validating else "^[A-Z]{3}$",
                },
            },
            "required": ["amount", "currency"],
            "additionalProperties": False,
        }
        if not validating:
            return as_object
        as_text = {"type": "string", "pattern": r"^\s*-?\d+(\.\d+)?\s+[A-Za-z]{3}\s*$"}
        return {"anyOf": [as_object, as_text]}


__all__ = ["MAX_DIGITS", "Money"]
