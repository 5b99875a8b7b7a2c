"""Prices from page text: an exact ``Decimal`` amount and an ISO 4217 code, never a symbol.

price-parser finds the number and its decimal separator ("1.299,00 €" is 1299.00); it returns
the currency as written ("€", "kr", "R$"). :func:`parse_price` turns that into a code: ISO
codes written in the text win, then multi-character symbols ("R$", "zł", "Kč"), then single
symbols, and ambiguous ones ("$", "kr", "¥") are settled by a currency hint (the page's
``priceCurrency``) or a locale ("sv-SE" makes "kr" SEK), else by the most common reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from price_parser import Price as _ParsedPrice

from dropkit.core.currencies import CURRENCY_EXPONENTS
from dropkit.core.money import Money

__all__ = ["ParsedPrice", "currency_from_text", "parse_price"]

# Longest first: "US$" must win over "$", "Kč" over nothing.
_SYMBOLS: Final[tuple[tuple[str, str], ...]] = (
    ("US$", "USD"),
    ("CA$", "CAD"),
    ("C$", "CAD"),
    ("AU$", "AUD"),
    ("A$", "AUD"),
    ("NZ$", "NZD"),
    ("HK$", "HKD"),
    ("S$", "SGD"),
    ("MX$", "MXN"),
    ("R$", "BRL"),
    ("CN¥", "CNY"),
    ("JP¥", "JPY"),
    ("zł", "PLN"),
    ("Kč", "CZK"),
    ("Ft", "HUF"),
    ("lei", "RON"),
    ("лв", "BGN"),
    ("\u0440\u0443\u0431", "RUB"),  # "rub" in Cyrillic
    ("Fr.", "CHF"),
    ("SFr", "CHF"),
    ("RMB", "CNY"),
    ("元", "CNY"),
    ("円", "JPY"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("₹", "INR"),
    ("₩", "KRW"),
    ("₽", "RUB"),
    ("₺", "TRY"),
    ("₪", "ILS"),
    ("₫", "VND"),
    ("฿", "THB"),
    ("₱", "PHP"),
    ("₴", "UAH"),
    ("₦", "NGN"),
)
_AMBIGUOUS: Final[dict[str, dict[str, str]]] = {
    "$": {"US": "USD", "CA": "CAD", "AU": "AUD", "NZ": "NZD", "MX": "MXN", "SG": "SGD"},
    "kr": {"SE": "SEK", "DK": "DKK", "NO": "NOK", "IS": "ISK"},
    "¥": {"JP": "JPY", "CN": "CNY"},
}
_AMBIGUOUS_DEFAULT: Final = {"$": "USD", "kr": "SEK", "¥": "JPY"}
_LANGUAGE_COUNTRY: Final = {"sv": "SE", "da": "DK", "nb": "NO", "nn": "NO", "no": "NO", "zh": "CN"}
# A code next to the amount ("EUR 12", "12 EUR") is read before a lone one ("ALL" is a code too).
_ISO_BESIDE_AMOUNT: Final = re.compile(
    r"(?<![A-Za-z])([A-Z]{3})\s?(?=[\d.,])|(?<=[\d.,])\s?([A-Z]{3})(?![A-Za-z])"
)
_KR: Final = re.compile(r"(?<![A-Za-z])kr\.?(?![A-Za-z])", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedPrice:
    """An amount and, when it could be told, its ISO 4217 currency."""

    amount: Decimal
    currency: str | None

    @property
    def money(self) -> Money | None:
        """As :class:`Money` (rounded to the currency's exponent), if the currency is known."""
        return None if self.currency is None else Money.rounded(self.amount, self.currency)


def _country(locale: str | None) -> str | None:
    if not locale:
        return None
    parts = re.split(r"[-_]", locale.strip())
    if len(parts) > 1 and len(parts[1]) == 2:
        return parts[1].upper()
    return _LANGUAGE_COUNTRY.get(parts[0].lower())


def _known(code: str | None) -> str | None:
    if code is None:
        return None
    code = code.strip().upper()
    return code if code in CURRENCY_EXPONENTS else None


def currency_from_text(
    text: str, *, hint: str | None = None, locale: str | None = None
) -> str | None:
    """The ISO 4217 code a price text is in, or ``None`` when nothing in it names one."""
    for match in _ISO_BESIDE_AMOUNT.finditer(text):
        code = _known(match.group(1) or match.group(2))
        if code is not None:
            return code
    for symbol, code in _SYMBOLS:
        if symbol in text:
            return code
    hinted = _known(hint)
    country = _country(locale)
    for symbol in ("$", "¥"):
        if symbol in text:
            return _resolve(symbol, hinted, country)
    if _KR.search(text):
        return _resolve("kr", hinted, country)
    return None


def _resolve(symbol: str, hint: str | None, country: str | None) -> str:
    readings = _AMBIGUOUS[symbol]
    if hint is not None and hint in readings.values():
        return hint
    if country is not None and country in readings:
        return readings[country]
    return _AMBIGUOUS_DEFAULT[symbol]


def parse_price(
    text: str | int | Decimal | None,
    *,
    currency: str | None = None,
    locale: str | None = None,
    decimal_separator: str | None = None,
) -> ParsedPrice | None:
    """Parse a price such as ``"1.299,00 €"``, ``"$1,299.99"`` or ``"From £10"``.

    ``currency`` is a hint (e.g. a page's ``priceCurrency``) used when the text names none or
    an ambiguous one. Returns ``None`` when there is no amount. The amount is rounded to the
    currency's exponent when the currency is known (``"¥1,200"`` stays 1200).
    """
    if text is None:
        return None
    if isinstance(text, int | Decimal):
        amount: Decimal | None = Decimal(text)
        raw = ""
    else:
        raw = text.strip()
        if not raw:
            return None
        amount = _ParsedPrice.fromstring(raw, decimal_separator=decimal_separator).amount
    if amount is None or not amount.is_finite() or amount < 0:
        return None
    code = currency_from_text(raw, hint=currency, locale=locale) or _known(currency)
    if code is not None:
        amount = Money.rounded(amount, code).amount
    return ParsedPrice(amount, code)
