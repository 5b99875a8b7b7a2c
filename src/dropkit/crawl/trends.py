"""Trends over the stored observations: where our price stands, and what it could be.

The position compares our variant's price with each competitor's latest good observation in
the same currency (min / median / max, how many are cheaper). The repricing suggestion aims
just under the cheapest competitor that can sell now, but never below the margin floor read
from commerce: ``cost / (1 - margin_floor)`` with the cheapest supplier cost, the same floor
checkout enforces, so a suggestion never produces orders checkout would refuse.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_UP, Decimal
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from dropkit.core.database import Database
from dropkit.core.money import Money
from dropkit.crawl.errors import CrawlError
from dropkit.crawl.monitor_models import Observation

if TYPE_CHECKING:
    from dropkit.commerce.service import Commerce

__all__ = ["CompetitorPrice", "PricePosition", "RepricingSuggestion", "Trends"]


class CompetitorPrice(BaseModel):
    model_config = ConfigDict(frozen=True)

    competitor_id: str
    url: str
    label: str
    price: Decimal
    currency: str
    buyable: bool
    observed_at: datetime


class PricePosition(BaseModel):
    """Our price against the competitors' latest prices (same currency only)."""

    model_config = ConfigDict(frozen=True)

    variant_id: str
    currency: str | None
    our_price: Decimal | None
    competitors: list[CompetitorPrice]
    min: Decimal | None
    median: Decimal | None
    max: Decimal | None
    cheaper_than_us: int
    rank: int | None  # 1 = we are the cheapest
    other_currencies: int


class RepricingSuggestion(BaseModel):
    model_config = ConfigDict(frozen=True)

    variant_id: str
    currency: str
    current: Decimal
    suggested: Decimal
    floor: Decimal | None
    competitor_min: Decimal | None
    reason: str

    @property
    def changed(self) -> bool:
        return self.suggested != self.current


@dataclass(frozen=True)
class _Own:
    price: Money | None
    cost: Money | None


class Trends:
    """Read-only analysis over the observation series."""

    def __init__(self, database: Database, *, commerce: Commerce | None = None) -> None:
        self._db = database
        self._commerce = commerce

    async def _own(self, variant_id: str) -> _Own:
        if self._commerce is None:
            return _Own(None, None)
        variant = await self._commerce.catalog.get_variant(variant_id)
        offers = await self._commerce.suppliers.offers_for(variant_id)
        costs = [o.cost for o in offers if o.cost.currency == variant.price.currency]
        return _Own(variant.price, min(costs, key=lambda m: m.amount) if costs else None)

    async def latest(self, variant_id: str) -> list[CompetitorPrice]:
        """Each competitor's latest observation with a price, across the variant's monitors."""
        # One row per competitor, picked in SQL through the (competitor_id, observed_at)
        # index: reading the whole series on every call grows with every run.
        rows = await self._db.fetch(
            "SELECT c.id AS cid, c.url, c.label, o.* FROM crawl_competitors c"
            " JOIN crawl_monitors m ON m.id = c.monitor_id"
            " JOIN crawl_observations o ON o.id = ("
            "  SELECT l.id FROM crawl_observations l WHERE l.competitor_id = c.id"
            "  AND l.ok = {} AND l.price IS NOT NULL AND l.currency IS NOT NULL"
            "  ORDER BY l.observed_at DESC, l.id DESC LIMIT 1)"
            " WHERE m.variant_id = {}",
            True,
            variant_id,
        )
        latest: dict[str, CompetitorPrice] = {}
        for row in rows:
            observation = Observation.from_row(row)
            assert observation.price is not None
            latest[row["cid"]] = CompetitorPrice(
                competitor_id=row["cid"],
                url=row["url"],
                label=row["label"],
                price=observation.price,
                currency=row["currency"],
                buyable=observation.availability.buyable,
                observed_at=observation.observed_at,
            )
        return sorted(latest.values(), key=lambda c: (c.price, c.url))

    async def position(self, variant_id: str, *, currency: str | None = None) -> PricePosition:
        """Min / median / max of competitors' latest prices and our rank among them."""
        own = await self._own(variant_id)
        everyone = await self.latest(variant_id)
        code = own.price.currency if own.price is not None else currency
        if code is None and everyone:
            code = statistics.mode(c.currency for c in everyone)
        same = [c for c in everyone if c.currency == code]
        prices = [c.price for c in same]
        ours = None if own.price is None else own.price.amount
        cheaper = sum(1 for p in prices if ours is not None and p < ours)
        return PricePosition(
            variant_id=variant_id,
            currency=code,
            our_price=ours,
            competitors=same,
            min=min(prices) if prices else None,
            median=Decimal(statistics.median(prices)) if prices else None,
            max=max(prices) if prices else None,
            cheaper_than_us=cheaper,
            rank=None if ours is None else cheaper + 1,
            other_currencies=len(everyone) - len(same),
        )

    async def history(
        self, competitor_id: str, *, since: datetime | None = None, limit: int = 500
    ) -> list[Observation]:
        """The competitor's observations, oldest first: the last ``limit`` from ``since`` on."""
        if limit < 1:
            raise CrawlError("history limit must be positive")
        start = 0.0 if since is None else since.timestamp()
        rows = await self._db.fetch(
            "SELECT * FROM crawl_observations WHERE competitor_id = {} AND observed_at >= {}"
            " ORDER BY observed_at DESC, id DESC LIMIT {}",
            competitor_id,
            start,
            limit,
        )
        return [Observation.from_row(r) for r in reversed(rows)]

    async def suggest_price(
        self,
        variant_id: str,
        *,
        undercut: Decimal | str = Decimal("0.01"),
        margin_floor: Decimal | None = None,
    ) -> RepricingSuggestion:
        """A price just under the cheapest buyable competitor, but not below the margin floor.

        ``margin_floor`` defaults to commerce's checkout floor (a fraction of the price).
        """
        if self._commerce is None:
            raise CrawlError("repricing needs commerce (our price and supplier cost)")
        own = await self._own(variant_id)
        assert own.price is not None
        code = own.price.currency
        floor_rate = self._commerce.checkout.margin_floor if margin_floor is None else margin_floor
        floor = None
        if own.cost is not None and floor_rate < 1:
            floor = Money.rounded(own.cost.amount / (1 - floor_rate), code, ROUND_UP).amount
        position = await self.position(variant_id)
        buyable = [c.price for c in position.competitors if c.buyable]
        candidates = buyable or [c.price for c in position.competitors]
        current = own.price.amount
        if not candidates:
            suggested, reason = current, "no competitor prices observed yet: keep the price"
        else:
            lowest = min(candidates)
            target = Money.rounded(lowest - Decimal(str(undercut)), code).amount
            if floor is not None and target < floor:
                suggested = floor
                reason = (
                    f"the cheapest competitor ({lowest} {code}) is below our margin floor; "
                    f"price at the floor"
                )
            else:
                suggested = target
                reason = f"{undercut} {code} under the cheapest competitor ({lowest} {code})"
        if floor is not None and suggested < floor:
            suggested = floor
        return RepricingSuggestion(
            variant_id=variant_id,
            currency=code,
            current=current,
            suggested=suggested,
            floor=floor,
            competitor_min=min(candidates) if candidates else None,
            reason=reason,
        )
