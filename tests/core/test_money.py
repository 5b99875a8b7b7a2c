"""Tests for dropkit.core.money: exact, exponent-aware money that never touches floats."""

from __future__ import annotations

import copy
import pickle
import random
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, localcontext

import pytest
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from dropkit.core.currencies import CURRENCY_EXPONENTS, currency_exponent
from dropkit.core.errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    MoneyError,
)
from dropkit.core.money import MAX_DIGITS, Money

# -- currency table ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("ISK", 0),
        ("XOF", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("LYD", 3),
        ("IQD", 3),
        ("CLF", 4),
        ("UYW", 4),
        ("XCG", 2),
        ("ZWG", 2),
        ("SLE", 2),
        ("VED", 2),
    ],
)
def test_currency_exponents(code: str, exponent: int) -> None:
    assert CURRENCY_EXPONENTS[code] == exponent
    assert currency_exponent(code.lower()) == exponent
    assert Money.zero(code).exponent == exponent


def test_currency_table_is_well_formed_and_read_only() -> None:
    assert len(CURRENCY_EXPONENTS) >= 150
    for code, exponent in CURRENCY_EXPONENTS.items():
        assert len(code) == 3
        assert code.isascii()
        assert code.isupper()
        assert exponent in {0, 2, 3, 4}
    with pytest.raises(TypeError):
        CURRENCY_EXPONENTS["ABC"] = 2  # type: ignore[index]


@pytest.mark.parametrize("code", ["XAU", "XDR", "XXX", "XTS", "HRK", "ABC", "US", "USDD", ""])
def test_codes_without_minor_units_or_unknown_are_refused(code: str) -> None:
    assert currency_exponent(code) is None
    with pytest.raises(InvalidAmountError, match="unknown currency code"):
        Money("1", code)


# -- construction ------------------------------------------------------------------------------


def test_construct_from_str_int_decimal() -> None:
    assert Money("12.3", "USD").amount == Decimal("12.30")
    assert Money(12, "USD").amount == Decimal("12.00")
    assert Money(Decimal("12.30"), "USD").amount == Decimal("12.30")
    assert Money("  7.5 ", "EUR").amount == Decimal("7.50")
    assert Money("-4", "USD").amount == Decimal("-4.00")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("12.3", "USD", "12.30"),
        ("12", "JPY", "12"),
        ("12", "KWD", "12.000"),
        ("1.5", "KWD", "1.500"),
        ("0.0001", "CLF", "0.0001"),
        ("3", "UYW", "3.0000"),
    ],
)
def test_amount_is_quantized_to_exactly_the_exponent(
    amount: str, currency: str, expected: str
) -> None:
    money = Money(amount, currency)
    assert str(money.amount) == expected
    assert money.amount.as_tuple().exponent == -CURRENCY_EXPONENTS[currency]


def test_lowercase_currency_is_normalised() -> None:
    money = Money("1", "usd")
    assert money.currency == "USD"
    assert money == Money("1", "USD")
    assert Money("1", "Jpy").currency == "JPY"


def test_unknown_currency_error_names_the_code() -> None:
    with pytest.raises(InvalidAmountError, match="'XYZ'"):
        Money("1", "XYZ")


def test_non_string_currency_is_refused() -> None:
    with pytest.raises(InvalidAmountError, match="currency"):
        Money("1", 840)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [1.5, 0.1, 1.0, 0.0, float("nan"), float("inf")])
def test_float_is_refused(amount: float) -> None:
    with pytest.raises(InvalidAmountError, match="floats are never money"):
        Money(amount, "USD")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmountError, match="floats are never money"):
        Money.rounded(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [True, False])
def test_bool_is_refused(amount: bool) -> None:
    with pytest.raises(InvalidAmountError, match="bool"):
        Money(amount, "USD")


@pytest.mark.parametrize(
    "amount",
    ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", Decimal("NaN"), Decimal("-Infinity")],
)
def test_non_finite_is_refused(amount: str | Decimal) -> None:
    with pytest.raises(InvalidAmountError, match="finite"):
        Money(amount, "USD")
    with pytest.raises(InvalidAmountError, match="finite"):
        Money.rounded(amount, "USD")


@pytest.mark.parametrize("amount", ["", "abc", "1,50", "12.30 USD", "1.2.3", "$5"])
def test_unparseable_string_is_refused(amount: str) -> None:
    with pytest.raises(InvalidAmountError, match="not a decimal number"):
        Money(amount, "USD")


@pytest.mark.parametrize("amount", [[1], (1,), None, b"1", object()])
def test_other_types_are_refused(amount: object) -> None:
    with pytest.raises(InvalidAmountError, match="Decimal, int or str"):
        Money(amount, "USD")  # type: ignore[arg-type]


def test_excess_decimals_are_refused_with_a_clear_message() -> None:
    with pytest.raises(
        InvalidAmountError, match=r"12\.345 has more decimals than USD allows \(2\)"
    ):
        Money("12.345", "USD")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("0.001", "USD"),
        ("1.5", "JPY"),
        ("0.1", "JPY"),
        ("1.2345", "KWD"),
        ("0.00001", "CLF"),
        (Decimal("9.999"), "EUR"),
    ],
)
def test_excess_decimals_refused_per_exponent(amount: str | Decimal, currency: str) -> None:
    with pytest.raises(InvalidAmountError, match="more decimals than"):
        Money(amount, currency)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1.500", "USD", "1.50"),
        ("1.000000", "USD", "1.00"),
        ("100.00", "JPY", "100"),
        ("2.3400", "KWD", "2.340"),
        ("1E+2", "USD", "100.00"),
        (Decimal("5.0000"), "JPY", "5"),
    ],
)
def test_trailing_zeros_that_do_not_change_value_are_accepted(
    amount: str | Decimal, currency: str, expected: str
) -> None:
    assert str(Money(amount, currency).amount) == expected


def test_negative_zero_is_normalised() -> None:
    assert str(Money("-0", "USD")) == "0.00 USD"
    assert str(Money.rounded("-0.004", "USD")) == "0.00 USD"
    assert str(-Money.zero("USD")) == "0.00 USD"


def test_too_many_digits_is_refused() -> None:
    Money("9" * (MAX_DIGITS - 2), "USD")  # fits with the two minor digits
    with pytest.raises(InvalidAmountError, match="too large"):
        Money("9" * (MAX_DIGITS - 1), "USD")
    with pytest.raises(InvalidAmountError, match="too large"):
        Money("1e1000000", "JPY")


def test_independent_of_the_callers_decimal_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = ROUND_UP
        money = Money("123456.78", "USD")
        assert money.amount == Decimal("123456.78")
        assert (money + money).amount == Decimal("246913.56")
        assert Money.rounded("0.125", "USD").amount == Decimal("0.12")


# -- rounding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        # USD: two decimals, half-even (banker's rounding)
        ("2.345", "USD", "2.34"),
        ("2.355", "USD", "2.36"),
        ("2.3451", "USD", "2.35"),
        ("-2.345", "USD", "-2.34"),
        ("0.005", "USD", "0.00"),
        ("0.015", "USD", "0.02"),
        # JPY: no decimals
        ("0.5", "JPY", "0"),
        ("1.5", "JPY", "2"),
        ("2.5", "JPY", "2"),
        ("2.51", "JPY", "3"),
        ("-1.5", "JPY", "-2"),
        # KWD: three decimals
        ("1.2345", "KWD", "1.234"),
        ("1.2355", "KWD", "1.236"),
        ("1.23451", "KWD", "1.235"),
        ("7", "KWD", "7.000"),
        # CLF: four decimals
        ("1.00005", "CLF", "1.0000"),
        ("1.00015", "CLF", "1.0002"),
    ],
)
def test_rounded_half_even_per_exponent(amount: str, currency: str, expected: str) -> None:
    money = Money.rounded(amount, currency)
    assert str(money.amount) == expected
    assert money.currency == currency


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [(ROUND_HALF_UP, "2.35"), (ROUND_DOWN, "2.34"), (ROUND_UP, "2.35")],
)
def test_rounded_with_explicit_mode(rounding: str, expected: str) -> None:
    assert str(Money.rounded("2.345", "USD", rounding).amount) == expected


def test_rounded_refuses_unknown_mode() -> None:
    with pytest.raises(InvalidAmountError, match="rounding mode"):
        Money.rounded("1", "USD", "ROUND_SIDEWAYS")


def test_rounded_accepts_exact_amounts_unchanged() -> None:
    assert Money.rounded("12.30", "USD") == Money("12.30", "USD")
    assert Money.rounded(5, "JPY") == Money(5, "JPY")


# -- minor units -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.30", "USD", 1230),
        ("0.01", "USD", 1),
        ("-5.99", "EUR", -599),
        ("0", "USD", 0),
        ("500", "JPY", 500),
        ("1.234", "KWD", 1234),
        ("1", "CLF", 10000),
    ],
)
def test_minor_units(amount: str, currency: str, minor: int) -> None:
    money = Money(amount, currency)
    assert money.minor_units == minor
    assert isinstance(money.minor_units, int)
    assert Money.from_minor(minor, currency) == money


def test_minor_units_round_trip_many_values() -> None:
    rng = random.Random(4217)
    for _ in range(2000):
        currency = rng.choice(["USD", "JPY", "KWD", "CLF", "EUR"])
        minor = rng.randint(-(10**15), 10**15)
        money = Money.from_minor(minor, currency)
        assert money.minor_units == minor
        assert Money(str(money.amount), currency) == money


def test_from_minor_huge_value_exact() -> None:
    minor = 10**40 + 7
    assert Money.from_minor(minor, "USD").minor_units == minor


@pytest.mark.parametrize("minor", [12.0, "1230", Decimal("1230"), True])
def test_from_minor_requires_int(minor: object) -> None:
    with pytest.raises(InvalidAmountError):
        Money.from_minor(minor, "USD")  # type: ignore[arg-type]


def test_from_minor_lowercase_currency() -> None:
    assert Money.from_minor(1230, "usd") == Money("12.30", "USD")


# -- arithmetic --------------------------------------------------------------------------------


def test_add_and_subtract() -> None:
    a = Money("10.10", "USD")
    b = Money("0.20", "USD")
    assert a + b == Money("10.30", "USD")
    assert a - b == Money("9.90", "USD")
    assert b - a == Money("-9.90", "USD")
    assert Money("0.10", "USD") + Money("0.20", "USD") == Money("0.30", "USD")


def test_currency_mismatch_on_add_and_subtract() -> None:
    with pytest.raises(CurrencyMismatchError, match="USD and EUR"):
        Money("1", "USD") + Money("1", "EUR")
    with pytest.raises(CurrencyMismatchError):
        Money("1", "USD") - Money("1", "EUR")
    assert issubclass(CurrencyMismatchError, MoneyError)


@pytest.mark.parametrize("other", [1, Decimal("1"), "1", 1.0])
def test_add_non_money_is_a_type_error(other: object) -> None:
    with pytest.raises(TypeError):
        Money("1", "USD") + other  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money("1", "USD") - other  # type: ignore[operator]


def test_sum_works_from_zero() -> None:
    items = [Money("1.10", "USD"), Money("2.20", "USD"), Money("3.30", "USD")]
    assert sum(items) == Money("6.60", "USD")
    assert sum(items, Money.zero("USD")) == Money("6.60", "USD")
    assert 0 + Money("1", "USD") == Money("1", "USD")
    with pytest.raises(TypeError):
        1 + Money("1", "USD")
    with pytest.raises(CurrencyMismatchError):
        sum([Money("1", "USD"), Money("1", "EUR")])


def test_unary_operators() -> None:
    m = Money("5.25", "USD")
    assert -m == Money("-5.25", "USD")
    assert -m.__neg__() == m
    assert +m == m
    assert abs(Money("-5.25", "USD")) == m
    assert abs(m) == m


@pytest.mark.parametrize(
    ("amount", "currency", "factor", "expected"),
    [
        ("12.30", "USD", 3, "36.90"),
        ("12.30", "USD", -2, "-24.60"),
        ("12.30", "USD", 0, "0.00"),
        ("10.00", "USD", Decimal("0.333"), "3.33"),
        ("0.05", "USD", Decimal("0.5"), "0.02"),  # 0.025 -> half-even -> 0.02
        ("0.15", "USD", Decimal("0.5"), "0.08"),  # 0.075 -> half-even -> 0.08
        ("5", "JPY", Decimal("0.5"), "2"),  # 2.5 -> 2
        ("7", "JPY", Decimal("0.5"), "4"),  # 3.5 -> 4
        ("1.000", "KWD", Decimal("0.0005"), "0.000"),
        ("1.000", "KWD", Decimal("0.0015"), "0.002"),
    ],
)
def test_multiply_rounds_half_even_to_exponent(
    amount: str, currency: str, factor: int | Decimal, expected: str
) -> None:
    money = Money(amount, currency)
    assert str((money * factor).amount) == expected
    assert str((factor * money).amount) == expected


def test_multiply_is_exact_before_rounding() -> None:
    # A long factor would be rounded by a 28-digit context before quantizing; here it is not.
    factor = Decimal("0." + "4" * 40 + "5")
    assert (Money("1", "JPY") * factor) == Money("0", "JPY")
    assert (Money("100", "USD") * Decimal("1.00005")) == Money("100.00", "USD")


@pytest.mark.parametrize("factor", [1.5, 2.0])
def test_multiply_by_float_is_refused(factor: float) -> None:
    with pytest.raises(InvalidAmountError, match="floats are never money"):
        Money("1", "USD") * factor  # type: ignore[operator]
    with pytest.raises(InvalidAmountError, match="floats are never money"):
        factor * Money("1", "USD")  # type: ignore[operator]


@pytest.mark.parametrize("factor", ["2", True, Money("1", "USD")])
def test_multiply_by_other_types_is_a_type_error(factor: object) -> None:
    with pytest.raises(TypeError):
        Money("1", "USD") * factor  # type: ignore[operator]


def test_multiply_by_non_finite_decimal_is_refused() -> None:
    with pytest.raises(InvalidAmountError, match="finite"):
        Money("1", "USD") * Decimal("Infinity")


def test_no_division_operator() -> None:
    with pytest.raises(TypeError):
        Money("1", "USD") / 2  # type: ignore[operator]


@pytest.mark.parametrize(
    ("amount", "currency", "p", "expected"),
    [
        ("100.00", "USD", Decimal("15"), "15.00"),
        ("19.99", "USD", Decimal("7.5"), "1.50"),  # 1.49925 -> 1.50
        ("10.00", "USD", Decimal("0.05"), "0.00"),  # 0.005 -> half-even -> 0.00
        ("30.00", "USD", Decimal("0.05"), "0.02"),  # 0.015 -> half-even -> 0.02
        ("1000", "JPY", Decimal("8"), "80"),
        ("1.000", "KWD", Decimal("12.345"), "0.123"),
        ("50.00", "USD", 20, "10.00"),
        ("50.00", "USD", "-10", "-5.00"),
    ],
)
def test_percent(amount: str, currency: str, p: Decimal | int | str, expected: str) -> None:
    assert str(Money(amount, currency).percent(p).amount) == expected


def test_percent_with_rounding_mode_and_float_refusal() -> None:
    assert Money("10.00", "USD").percent(Decimal("0.05"), ROUND_UP) == Money("0.01", "USD")
    with pytest.raises(InvalidAmountError, match="floats are never money"):
        Money("10", "USD").percent(15.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmountError, match="rounding mode"):
        Money("10", "USD").percent(1, "nope")


def test_is_zero_and_zero() -> None:
    assert Money.zero("USD").is_zero()
    assert Money.zero("usd") == Money("0", "USD")
    assert str(Money.zero("KWD")) == "0.000 KWD"
    assert not Money("0.01", "USD").is_zero()
    assert (Money("1", "USD") - Money("1", "USD")).is_zero()


# -- allocation --------------------------------------------------------------------------------


def test_allocate_distributes_remainder_to_largest_remainders() -> None:
    assert Money("100", "USD").allocate([1, 1, 1]) == [
        Money("33.34", "USD"),
        Money("33.33", "USD"),
        Money("33.33", "USD"),
    ]
    # 0.05 by 3:7 -> exact shares 1.5 and 3.5 cents; tie broken by position.
    assert Money("0.05", "USD").allocate([3, 7]) == [Money("0.02", "USD"), Money("0.03", "USD")]
    # 10 cents by 1:2:3 -> 1.667, 3.333, 5 -> 2, 3, 5
    assert Money("0.10", "USD").allocate([1, 2, 3]) == [
        Money("0.02", "USD"),
        Money("0.03", "USD"),
        Money("0.05", "USD"),
    ]


def test_allocate_with_zero_and_decimal_ratios() -> None:
    parts = Money("0.05", "USD").allocate([1, 0, 1])
    assert parts == [Money("0.03", "USD"), Money("0.00", "USD"), Money("0.02", "USD")]
    parts = Money("10", "USD").allocate([Decimal("0.7"), Decimal("0.3")])
    assert parts == [Money("7.00", "USD"), Money("3.00", "USD")]


def test_allocate_negative_amount_mirrors_positive() -> None:
    positive = Money("100", "USD").allocate([1, 1, 1])
    negative = Money("-100", "USD").allocate([1, 1, 1])
    assert negative == [-part for part in positive]
    assert sum(negative) == Money("-100", "USD")


def test_allocate_in_zero_exponent_currency() -> None:
    assert Money("10", "JPY").allocate([1, 1, 1]) == [
        Money("4", "JPY"),
        Money("3", "JPY"),
        Money("3", "JPY"),
    ]


def test_allocate_sums_exactly_for_many_random_amounts_and_ratios() -> None:
    rng = random.Random(20240601)
    currencies = ["USD", "JPY", "KWD", "CLF", "EUR", "BHD"]
    for _ in range(1500):
        currency = rng.choice(currencies)
        whole = Money.from_minor(rng.randint(-(10**9), 10**9), currency)
        count = rng.randint(1, 12)
        ratios: list[int | Decimal]
        if rng.random() < 0.5:
            ratios = [rng.randint(0, 100) for _ in range(count)]
        else:
            ratios = [
                Decimal(rng.randint(0, 10**6)).scaleb(-rng.randint(0, 6)) for _ in range(count)
            ]
        if all(ratio == 0 for ratio in ratios):
            ratios[0] = 1
        parts = whole.allocate(ratios)

        assert len(parts) == len(ratios)
        assert sum(parts, Money.zero(currency)) == whole
        assert all(part.currency == whole.currency for part in parts)
        total_ratio = sum(Decimal(ratio) for ratio in ratios)
        for part, ratio in zip(parts, ratios, strict=True):
            # Each part is within one minor unit of its exact share, on the same side of zero.
            exact_share = Decimal(whole.minor_units) * Decimal(ratio) / total_ratio
            assert abs(Decimal(part.minor_units) - exact_share) < 1
            if ratio == 0:
                assert part.is_zero()
            assert part.minor_units * whole.minor_units >= 0


def test_split_sums_exactly_and_parts_differ_by_at_most_one_unit() -> None:
    rng = random.Random(7)
    for _ in range(500):
        currency = rng.choice(["USD", "JPY", "KWD"])
        whole = Money.from_minor(rng.randint(-(10**7), 10**7), currency)
        n = rng.randint(1, 25)
        parts = whole.split(n)
        assert len(parts) == n
        assert sum(parts, Money.zero(currency)) == whole
        minors = [part.minor_units for part in parts]
        assert max(minors) - min(minors) <= 1
        # Larger (in magnitude) parts come first.
        assert [abs(m) for m in minors] == sorted((abs(m) for m in minors), reverse=True)


def test_split_examples() -> None:
    assert Money("1", "USD").split(3) == [
        Money("0.34", "USD"),
        Money("0.33", "USD"),
        Money("0.33", "USD"),
    ]
    assert Money("0.01", "USD").split(2) == [Money("0.01", "USD"), Money("0", "USD")]
    assert Money("5", "USD").split(1) == [Money("5", "USD")]


@pytest.mark.parametrize("n", [0, -1, True, 2.0, "2"])
def test_split_refuses_bad_counts(n: object) -> None:
    with pytest.raises(InvalidAmountError):
        Money("1", "USD").split(n)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ratios", "match"),
    [
        ([], "empty"),
        ([0, 0], "all be zero"),
        ([1, -1], "negative"),
        ([0.5, 0.5], "floats are never money"),
        ([True, 1], "ints or Decimals"),
        (["1", "1"], "ints or Decimals"),
        ([Decimal("NaN")], "finite"),
        ("11", "sequence"),
        (5, "sequence"),
    ],
)
def test_allocate_refuses_bad_ratios(ratios: object, match: str) -> None:
    with pytest.raises(InvalidAmountError, match=match):
        Money("1", "USD").allocate(ratios)  # type: ignore[arg-type]


# -- comparison, equality, hashing -------------------------------------------------------------


def test_ordering_within_a_currency() -> None:
    small = Money("1.00", "USD")
    big = Money("2.00", "USD")
    assert small < big
    assert small <= big
    assert small <= Money("1", "USD")
    assert big > small
    assert big >= small
    assert big >= Money("2", "USD")
    assert not big < small
    assert sorted([big, small, Money("-3", "USD")]) == [Money("-3", "USD"), small, big]
    assert max([small, big]) == big


@pytest.mark.parametrize("op", ["__lt__", "__le__", "__gt__", "__ge__"])
def test_ordering_across_currencies_is_refused(op: str) -> None:
    with pytest.raises(CurrencyMismatchError, match="compare"):
        getattr(Money("1", "USD"), op)(Money("1", "EUR"))


def test_ordering_against_non_money_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _ = Money("1", "USD") < 2  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = Money("1", "USD") >= Decimal(1)  # type: ignore[operator]


def test_equality() -> None:
    assert Money("1.5", "USD") == Money("1.50", "USD")
    assert Money("1.5", "USD") == Money(Decimal("1.500"), "usd")
    assert Money("1", "USD") != Money("1", "EUR")  # different currency: just unequal
    assert Money("1", "USD") != Money("2", "USD")
    assert Money("1", "USD") != Decimal("1.00")
    assert Money("1", "USD") != "1.00 USD"
    assert Money("0", "USD") != 0


def test_hashing() -> None:
    assert hash(Money("1.5", "USD")) == hash(Money("1.50", "usd"))
    prices = {Money("1", "USD"), Money("1.00", "USD"), Money("1", "EUR"), Money("-0", "USD")}
    assert prices == {Money("1", "USD"), Money("1", "EUR"), Money("0", "USD")}
    lookup = {Money("9.99", "USD"): "ok"}
    assert lookup[Money("9.990", "USD")] == "ok"


# -- immutability ------------------------------------------------------------------------------


def test_is_immutable() -> None:
    money = Money("1", "USD")
    with pytest.raises(AttributeError):
        money.amount = Decimal("2")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        money._amount = Decimal("2")
    with pytest.raises(AttributeError):
        money.extra = 1
    with pytest.raises(AttributeError):
        del money._currency
    assert money == Money("1", "USD")
    assert not hasattr(money, "__dict__")


def test_pickle_and_copy() -> None:
    money = Money("12.30", "KWD")
    assert pickle.loads(pickle.dumps(money)) == money
    assert copy.copy(money) is money
    assert copy.deepcopy({"m": money})["m"] is money


# -- formatting and dicts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "text", "representation"),
    [
        (Money("12.3", "USD"), "12.30 USD", "Money('12.30', 'USD')"),
        (Money("1000", "JPY"), "1000 JPY", "Money('1000', 'JPY')"),
        (Money("-0.5", "KWD"), "-0.500 KWD", "Money('-0.500', 'KWD')"),
        (Money("1E+3", "USD"), "1000.00 USD", "Money('1000.00', 'USD')"),
        (Money("0.0001", "CLF"), "0.0001 CLF", "Money('0.0001', 'CLF')"),
        (Money.zero("CLF"), "0.0000 CLF", "Money('0.0000', 'CLF')"),
    ],
)
def test_str_and_repr(money: Money, text: str, representation: str) -> None:
    assert str(money) == text
    assert repr(money) == representation
    assert Money.parse(text) == money


def test_to_dict_and_from_dict() -> None:
    money = Money("12.3", "USD")
    assert money.to_dict() == {"amount": "12.30", "currency": "USD"}
    assert Money.from_dict(money.to_dict()) == money
    assert Money.from_dict({"amount": 5, "currency": "jpy"}) == Money("5", "JPY")
    assert Money.from_dict({"amount": Decimal("1.5"), "currency": "EUR"}) == Money("1.50", "EUR")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"amount": 12.3, "currency": "USD"}, "floats are never money"),
        ({"amount": "12.345", "currency": "USD"}, "more decimals"),
        ({"amount": "1"}, "missing"),
        ({"currency": "USD"}, "missing"),
        ({"amount": "1", "currency": "USD", "extra": 1}, "unexpected"),
        ({"amount": "1", "currency": 840}, "currency must be a string"),
        ({"amount": "1", "currency": "XYZ"}, "unknown currency"),
        ("12.30 USD", "mapping"),
    ],
)
def test_from_dict_refusals(data: object, match: str) -> None:
    with pytest.raises(InvalidAmountError, match=match):
        Money.from_dict(data)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["12.30", "USD", "12.30 USD extra", "", "12.30USD", "USD 12.30"])
def test_parse_refusals(text: str) -> None:
    with pytest.raises(InvalidAmountError):
        Money.parse(text)


# -- pydantic ----------------------------------------------------------------------------------


class Order(BaseModel):
    total: Money
    discount: Money | None = None


def test_pydantic_accepts_money_dict_and_string() -> None:
    expected = Money("12.30", "USD")
    assert Order(total=expected).total is expected
    assert Order.model_validate({"total": {"amount": "12.30", "currency": "USD"}}).total == expected
    assert Order.model_validate({"total": {"amount": 12, "currency": "usd"}}).total == Money(
        "12", "USD"
    )
    assert Order.model_validate({"total": "12.30 USD"}).total == expected
    assert Order.model_validate({"total": "12.3 usd"}).total == expected


def test_pydantic_json_round_trip() -> None:
    order = Order(total=Money("12.30", "USD"), discount=Money("1.5", "KWD"))
    dumped = order.model_dump(mode="json")
    assert dumped == {
        "total": {"amount": "12.30", "currency": "USD"},
        "discount": {"amount": "1.500", "currency": "KWD"},
    }
    text = order.model_dump_json()
    assert text == (
        '{"total":{"amount":"12.30","currency":"USD"},'
        '"discount":{"amount":"1.500","currency":"KWD"}}'
    )
    assert Order.model_validate_json(text) == order
    assert Order.model_validate(dumped) == order
    # Python mode keeps the Money object itself.
    assert order.model_dump()["total"] == Money("12.30", "USD")


def test_pydantic_json_input_forms() -> None:
    assert Order.model_validate_json('{"total": "5 JPY"}').total == Money("5", "JPY")
    assert Order.model_validate_json('{"total": {"amount": "0.001", "currency": "BHD"}}').total == (
        Money("0.001", "BHD")
    )


@pytest.mark.parametrize(
    "value",
    [
        {"amount": 12.3, "currency": "USD"},
        {"amount": "12.345", "currency": "USD"},
        {"amount": "NaN", "currency": "USD"},
        {"amount": "1", "currency": "XYZ"},
        {"amount": "1"},
        "12.30",
        "12.30 XYZ",
        "1.5 JPY",
        12.3,
        12,
        None,
        ["12.30", "USD"],
    ],
)
def test_pydantic_rejections(value: object) -> None:
    with pytest.raises(PydanticValidationError):
        Order.model_validate({"total": value})


def test_pydantic_rejects_float_in_json() -> None:
    with pytest.raises(PydanticValidationError, match="floats are never money"):
        Order.model_validate_json('{"total": {"amount": 12.3, "currency": "USD"}}')
    with pytest.raises(PydanticValidationError):
        Order.model_validate_json('{"total": 12.3}')


def test_pydantic_json_schema() -> None:
    validation = Order.model_json_schema()
    serialization = Order.model_json_schema(mode="serialization")
    assert "anyOf" in validation["properties"]["total"]
    total = serialization["properties"]["total"]
    assert total["type"] == "object"
    assert total["required"] == ["amount", "currency"]
    assert total["properties"]["amount"]["type"] == "string"
