"""Prices come back as exact Decimals with ISO 4217 codes, never symbols or floats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dropkit.core.money import Money
from dropkit.crawl import parse_price
from dropkit.crawl.cleaners import (
    Availability,
    clean_availability,
    clean_date,
    clean_number,
    clean_price,
    clean_rating,
    clean_text,
)


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("1.299,00 €", "1299.00", "EUR"),
        ("$1,299.99", "1299.99", "USD"),
        ("From £10", "10.00", "GBP"),
        ("1 299,00 €", "1299.00", "EUR"),
        ("199 kr", "199.00", "SEK"),
        ("49,99 zł", "49.99", "PLN"),
        ("R$ 1.234,56", "1234.56", "BRL"),
        ("CHF 12.50", "12.50", "CHF"),
        ("¥1,200", "1200", "JPY"),
        ("₹ 2,499", "2499.00", "INR"),
        ("USD 15", "15.00", "USD"),
        ("12.50 EUR", "12.50", "EUR"),
        ("A$ 20", "20.00", "AUD"),
        ("1 299 Kč", "1299.00", "CZK"),
        ("ALL PRICES INCL. VAT: 10 €", "10.00", "EUR"),
    ],
)
def test_price_formats_and_currencies(text: str, amount: str, currency: str) -> None:
    price = parse_price(text)
    assert price is not None
    assert (price.amount, price.currency) == (Decimal(amount), currency)
    assert price.money == Money(amount, currency)


def test_ambiguous_symbols_follow_the_hint_or_locale() -> None:
    assert parse_price("199 kr", locale="da-DK") == parse_price("199 DKK")
    assert parse_price("199 kr", locale="nb") == parse_price("199 NOK")
    assert parse_price("$5", currency="CAD") == parse_price("CAD 5")
    assert parse_price("¥88", currency="CNY") == parse_price("CNY 88")
    assert parse_price("$5", currency="EUR") == parse_price("USD 5")  # a hint must fit


def test_no_amount_is_none_and_unknown_currency_is_kept_as_none() -> None:
    assert parse_price("call us") is None
    assert parse_price("") is None
    assert parse_price(None) is None
    bare = parse_price("12.30")
    assert bare is not None and bare.currency is None and bare.money is None
    assert parse_price(Decimal("9.5"), currency="EUR") == parse_price("9.50 EUR")


def test_cleaners() -> None:
    assert clean_text("  a \n b ") == "a b"
    assert clean_text("  ") is None
    assert clean_price("1.299,00 €") == {"amount": "1299.00", "currency": "EUR"}
    assert clean_price("n/a") is None
    assert clean_number("1,234 reviews") == 1234
    assert clean_number("3,5") == "3.5"
    assert clean_number("none") is None
    assert clean_rating("4,5 out of 5") == "4.5"
    assert clean_rating("9/10") == "4.5"
    assert clean_rating("★★★★") == "4"
    assert clean_rating("42") is None
    assert clean_availability("https://schema.org/InStock") == "in_stock"
    assert clean_availability("http://schema.org/OutOfStock") == "out_of_stock"
    assert clean_availability("Not in stock") == "out_of_stock"
    assert clean_availability("Only 3 left") == "limited"
    assert clean_availability("Pre-order now") == "preorder"
    assert clean_availability("colour: red") is None
    assert clean_date("2024-05-01T10:00:00Z") == "2024-05-01"
    assert clean_date("May 1, 2024") == "2024-05-01"
    assert clean_date("posted 2024-05-01 by Ann") == "2024-05-01"
    assert clean_date("yesterday") is None
    assert Availability.BACKORDER.buyable and not Availability.OUT_OF_STOCK.buyable
