"""Change detection: one scrape turned into an observation, and compared with the last good one.

Pure functions of the scrape and the previous observation, so what counts as a price move, a
stock change or selector drift is decided in one place, apart from storage and fetching. Drift
is judged only on a page that was actually read: a failed fetch, an error status or a block page
says nothing about the selectors.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from dropkit.core.events import Event
from dropkit.crawl.cleaners import Availability
from dropkit.crawl.events import (
    CompetitorPriceChanged,
    CompetitorSelectorDrifted,
    CompetitorStockChanged,
)
from dropkit.crawl.monitor_models import Competitor, Monitor, Observation
from dropkit.crawl.results import ScrapeResult

__all__ = ["changes", "observe"]


def observe(
    competitor: Competitor,
    result: ScrapeResult | str,
    previous: Observation | None,
    observed_at: datetime,
) -> Observation:
    """The observation of one scrape (``result`` is the error message of a failed one)."""
    offer = None if isinstance(result, str) else result.offer
    blocked = not isinstance(result, str) and result.blocked
    ok = offer is not None and not blocked
    matched = sorted(offer.sources) if offer is not None else []
    if not isinstance(result, str):
        matched += sorted({f for r in result.records for f in r.fields} - set(matched))
    read = (
        not isinstance(result, str)
        and not result.blocked
        and result.error is None
        and result.status is not None
        and result.status < 400
    )
    drift = sorted(set(previous.matched) - set(matched)) if previous and read else []
    error = result if isinstance(result, str) else result.error
    if not isinstance(result, str) and result.blocked:
        error = "; ".join(w.message for w in result.warnings if w.code == "blocked")
    return Observation(
        competitor_id=competitor.id,
        observed_at=observed_at,
        ok=ok,
        price=None if offer is None else offer.price,
        currency=None if offer is None else offer.currency,
        availability=Availability.UNKNOWN if offer is None else offer.availability,
        matched=matched,
        drift=drift,
        blocked=blocked,
        error=error,
    )


def changes(
    monitor: Monitor,
    competitor: Competitor,
    previous: Observation | None,
    now: Observation,
) -> list[Event]:
    """The events ``now`` warrants against ``previous``; none for a first observation."""
    events: list[Event] = []
    if previous is None:
        return events
    if now.drift and not now.blocked:
        events.append(
            CompetitorSelectorDrifted(
                monitor_id=monitor.id,
                competitor_id=competitor.id,
                url=competitor.url,
                fields=now.drift,
            )
        )
    if not now.ok:
        return events
    old, new = previous.price, now.price
    if old is not None and new is not None and old > 0 and previous.currency == now.currency:
        change = (new - old) / old
        if new != old and abs(change) >= monitor.price_threshold:
            events.append(
                CompetitorPriceChanged(
                    monitor_id=monitor.id,
                    competitor_id=competitor.id,
                    variant_id=monitor.variant_id,
                    url=competitor.url,
                    old_price=old,
                    new_price=new,
                    currency=now.currency or "",
                    change=change.quantize(Decimal("0.0001")),
                )
            )
    before, after = previous.availability, now.availability
    known = Availability.UNKNOWN not in (before, after)
    if known and before.buyable != after.buyable:
        events.append(
            CompetitorStockChanged(
                monitor_id=monitor.id,
                competitor_id=competitor.id,
                variant_id=monitor.variant_id,
                url=competitor.url,
                old_availability=before.value,
                new_availability=after.value,
                in_stock=after.buyable,
            )
        )
    return events
