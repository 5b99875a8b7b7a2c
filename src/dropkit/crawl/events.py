"""Domain events of the research bot, published in the transaction that stores the observation."""

from __future__ import annotations

from decimal import Decimal

from dropkit.core.events import Event

__all__ = ["CompetitorPriceChanged", "CompetitorSelectorDrifted", "CompetitorStockChanged"]


class CompetitorPriceChanged(Event):
    """A competitor's price moved by at least the monitor's threshold."""

    type = "competitor.price_changed"
    subject_field = "monitor_id"
    monitor_id: str
    competitor_id: str
    variant_id: str
    url: str
    old_price: Decimal
    new_price: Decimal
    currency: str
    change: Decimal  # relative, e.g. -0.1 for 10 % cheaper


class CompetitorStockChanged(Event):
    """A competitor went out of stock, or came back."""

    type = "competitor.stock_changed"
    subject_field = "monitor_id"
    monitor_id: str
    competitor_id: str
    variant_id: str
    url: str
    old_availability: str
    new_availability: str
    in_stock: bool


class CompetitorSelectorDrifted(Event):
    """Offer fields that matched on the previous run found nothing now: the page changed."""

    type = "competitor.selector_drifted"
    subject_field = "monitor_id"
    monitor_id: str
    competitor_id: str
    url: str
    fields: list[str]
