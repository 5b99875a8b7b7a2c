"""Conversions: an order placed within the attribution window after a human click.

Fed by the store's ``order.placed`` and ``order.paid`` events (delivered at least once, so the
insert is keyed by order id). The order's email is matched to a subscriber; the campaign of
their latest human click inside the window gets the order and its total as revenue.
"""

from __future__ import annotations

from dropkit.commerce.events import OrderPaid, OrderPlaced
from dropkit.core.database import Database
from dropkit.outreach.addresses import normalise_email
from dropkit.outreach.errors import InvalidEmailError

__all__ = ["Conversions"]


class Conversions:
    def __init__(self, database: Database, *, window_days: float = 7.0) -> None:
        self._db = database
        self.window = window_days * 86400.0

    async def on_order_placed(self, event: OrderPlaced) -> None:
        """Event handler for ``order.placed``."""
        await self.attribute(event)

    async def attribute(self, event: OrderPlaced) -> bool:
        """Attribute the order to the last clicked campaign; True if it was attributed."""
        try:
            email = normalise_email(event.email)
        except InvalidEmailError:
            return False
        placed = event.occurred_at.timestamp()
        click = await self._db.fetchrow(
            "SELECT e.source_id, e.subscriber_id, e.created_at FROM outreach_events e"
            " JOIN outreach_subscribers s ON s.id = e.subscriber_id"
            " JOIN outreach_campaigns c ON c.id = e.source_id"
            " WHERE s.email = {} AND e.kind = 'click' AND e.machine = {}"
            " AND e.created_at <= {} AND e.created_at >= {}"
            " ORDER BY e.created_at DESC LIMIT 1",
            email,
            False,
            placed,
            placed - self.window,
        )
        if click is None:
            return False
        row = await self._db.fetchrow(
            "INSERT INTO outreach_conversions (order_id, campaign_id, subscriber_id, amount,"
            " currency, clicked_at, placed_at) VALUES ({}, {}, {}, {}, {}, {}, {})"
            " ON CONFLICT (order_id) DO NOTHING RETURNING order_id",
            event.order_id,
            click["source_id"],
            click["subscriber_id"],
            str(event.total.amount),
            event.total.currency,
            click["created_at"],
            placed,
        )
        return row is not None

    async def on_order_paid(self, event: OrderPaid) -> None:
        await self._db.execute(
            "UPDATE outreach_conversions SET paid = {} WHERE order_id = {}", True, event.order_id
        )
