"""Per-campaign figures, computed from the ledger and the tracking events.

``delivered`` is accepted by the provider minus bounced (providers do not all report
deliveries). Opens are split into human and machine (see :mod:`dropkit.outreach.machine`); click
figures count human clicks only. Conversions are orders placed within the attribution window
after a human click (see :mod:`dropkit.outreach.conversions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from dropkit.core.database import Database

__all__ = ["Analytics", "CampaignStats"]


@dataclass(frozen=True)
class CampaignStats:
    campaign_id: str
    recipients: int
    sent: int
    failed: int
    suppressed: int
    review: int
    pending: int
    delivered: int
    bounced: int
    complaints: int
    unique_opens: int
    machine_opens: int
    total_opens: int
    unique_clicks: int
    clicks_by_link: dict[str, int]
    unsubscribes: int
    conversions: int
    revenue: dict[str, Decimal]

    @property
    def open_rate(self) -> float:
        return self.unique_opens / self.delivered if self.delivered else 0.0

    @property
    def click_rate(self) -> float:
        return self.unique_clicks / self.delivered if self.delivered else 0.0


class Analytics:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def campaign(self, campaign_id: str) -> CampaignStats:
        states = {
            row["state"]: int(row["n"])
            for row in await self._db.fetch(
                "SELECT state, COUNT(*) AS n FROM outreach_sends WHERE campaign_id = {}"
                " GROUP BY state",
                campaign_id,
            )
        }
        events = {
            (row["kind"], bool(row["machine"])): (int(row["n"]), int(row["people"]))
            for row in await self._db.fetch(
                "SELECT kind, machine, COUNT(*) AS n, COUNT(DISTINCT subscriber_id) AS people"
                " FROM outreach_events WHERE source_id = {} GROUP BY kind, machine",
                campaign_id,
            )
        }
        human_opens = await self._db.fetchval(
            "SELECT COUNT(DISTINCT subscriber_id) FROM outreach_events WHERE source_id = {}"
            " AND kind = 'open' AND machine = {}",
            campaign_id,
            False,
        )
        links = {
            row["url"]: int(row["n"])
            for row in await self._db.fetch(
                "SELECT url, COUNT(DISTINCT subscriber_id) AS n FROM outreach_events"
                " WHERE source_id = {} AND kind = 'click' AND machine = {} GROUP BY url",
                campaign_id,
                False,
            )
        }
        revenue: dict[str, Decimal] = {}
        conversions = 0
        for row in await self._db.fetch(
            # Only paid orders: a placed order that is never paid (or is cancelled) is no sale.
            "SELECT currency, amount FROM outreach_conversions"
            " WHERE campaign_id = {} AND paid = {}",
            campaign_id,
            True,
        ):
            conversions += 1
            revenue[row["currency"]] = revenue.get(row["currency"], Decimal(0)) + Decimal(
                str(row["amount"])
            )

        def people(kind: str, machine: bool = False) -> int:
            return events.get((kind, machine), (0, 0))[1]

        def total(kind: str) -> int:
            return sum(events.get((kind, m), (0, 0))[0] for m in (False, True))

        sent = states.get("sent", 0) + states.get("reconciled", 0)
        bounced = people("bounce")
        return CampaignStats(
            campaign_id=campaign_id,
            recipients=sum(states.values()),
            sent=sent,
            failed=states.get("failed", 0),
            suppressed=states.get("suppressed", 0),
            review=states.get("review", 0),
            pending=states.get("pending", 0) + states.get("claimed", 0),
            delivered=max(0, sent - bounced),
            bounced=bounced,
            complaints=people("complaint"),
            unique_opens=int(human_opens or 0),
            machine_opens=people("open", True),
            total_opens=total("open"),
            unique_clicks=len(
                {
                    r["subscriber_id"]
                    for r in await self._db.fetch(
                        "SELECT DISTINCT subscriber_id FROM outreach_events WHERE source_id = {}"
                        " AND kind = 'click' AND machine = {}",
                        campaign_id,
                        False,
                    )
                }
            ),
            clicks_by_link=links,
            unsubscribes=people("unsubscribe"),
            conversions=conversions,
            revenue=revenue,
        )
