"""``Commerce``: the store's services wired together over one database and event bus.

``kit.commerce`` is one of these. Each service can also be built on its own from its
dependencies; this class only connects them: payments into checkout (authorize before the order
transaction, record inside it) and payment webhooks into order status (paid in the same
transaction as the deduplicated webhook event), plus the jobs the store runs on a schedule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from dropkit.commerce.carts import Carts
from dropkit.commerce.catalog import Catalog
from dropkit.commerce.checkout import Checkout, MarginPolicy
from dropkit.commerce.customers import Customers
from dropkit.commerce.events import OrderPaid
from dropkit.commerce.inventory import Inventory, RoutingPolicy
from dropkit.commerce.orders import Orders, OrderStatus
from dropkit.commerce.payments import (
    CheckoutPayments,
    GatewayEvent,
    ManualGateway,
    Payment,
    PaymentGateway,
    Payments,
    WebhookOutcome,
)
from dropkit.commerce.pricing import Pricing
from dropkit.commerce.suppliers import Suppliers
from dropkit.commerce.vendor_view import VendorCatalog, VendorOrders, VendorView
from dropkit.commerce.vendors import Vendors
from dropkit.core.database import Database
from dropkit.core.events import EventBus
from dropkit.core.jobs import JobContext, JobRegistry

__all__ = ["FULFIL_PAID_ORDERS", "RELEASE_HOLDS_JOB", "Commerce"]

RELEASE_HOLDS_JOB = "dropkit.commerce.release_expired_holds"
FULFIL_PAID_ORDERS = "dropkit.commerce.fulfil_paid_orders"


class Commerce:
    """Catalog, vendors, customers, suppliers, stock, carts, pricing, checkout, orders, payments."""

    def __init__(
        self,
        database: Database,
        events: EventBus,
        *,
        gateways: Mapping[str, PaymentGateway] | None = None,
        routing: RoutingPolicy = RoutingPolicy.CHEAPEST_IN_STOCK,
        margin_floor: Decimal = Decimal("0"),
        margin_policy: MarginPolicy = MarginPolicy.REFUSE,
        supplier_ttl: float = 24 * 3600,
        auto_fulfil: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.events = events
        self.vendors = Vendors(database, events, clock=clock)
        self.customers = Customers(database, events, clock=clock)
        self.catalog = Catalog(database, events, clock=clock)
        self.suppliers = Suppliers(database, events, clock=clock)
        self.inventory = Inventory(database, events, supplier_ttl=supplier_ttl, clock=clock)
        self.pricing = Pricing(database, clock=clock)
        self.carts = Carts(database, self.inventory, clock=clock)
        self.orders = Orders(database, events, self.inventory, clock=clock)
        all_gateways: dict[str, PaymentGateway] = {"manual": ManualGateway("bank_transfer")}
        all_gateways.update(gateways or {})
        self.payments = Payments(database, all_gateways, clock=clock)
        self.checkout = Checkout(
            database,
            events,
            carts=self.carts,
            inventory=self.inventory,
            pricing=self.pricing,
            orders=self.orders,
            payments=CheckoutPayments(self.payments),
            routing=routing,
            margin_floor=margin_floor,
            margin_policy=margin_policy,
            clock=clock,
        )

        if auto_fulfil:
            events.subscribe(OrderPaid, self._fulfil_paid_order, name=FULFIL_PAID_ORDERS)

    async def _fulfil_paid_order(self, event: OrderPaid) -> None:
        """A paid order is split into fulfilments per vendor and supplier (at least once)."""
        order = await self.orders.get(event.order_id)
        if order.status is OrderStatus.PAID:  # a redelivered event finds it fulfilling already
            await self.orders.create_fulfilments(order.id)

    def for_vendor(self, vendor_id: str) -> VendorView:
        """A view that sees and changes only this vendor's products, orders and fulfilments."""
        return VendorView(
            vendor_id, VendorCatalog(self.catalog, vendor_id), VendorOrders(self.orders, vendor_id)
        )

    def register(self, registry: JobRegistry) -> None:
        """Add the store's jobs (expired cart holds are released every minute)."""
        registry.register(self._release_holds, name=RELEASE_HOLDS_JOB, max_attempts=3)
        registry.schedule(RELEASE_HOLDS_JOB, cron="* * * * *", name=RELEASE_HOLDS_JOB)

    async def _release_holds(self, ctx: JobContext) -> int:
        return await self.inventory.release_expired()

    async def handle_payment_webhook(
        self, gateway: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookOutcome:
        """Verify and apply a gateway's webhook; a paid order moves to ``paid`` at most once."""

        async def apply(payment: Payment, event: GatewayEvent) -> None:
            if event.type == "payment.succeeded":
                order = await self.orders.get(payment.order_id)
                if order.status is OrderStatus.PENDING_PAYMENT:
                    await self.orders.mark_paid(order.id)

        return await self.payments.handle_webhook(gateway, headers, body, on_event=apply)

    async def aclose(self) -> None:
        """Close gateway clients (Stripe's HTTP connections)."""
        for name in self.payments.gateway_names:
            closer = getattr(self.payments.gateway(name), "aclose", None)
            if closer is not None:
                await closer()
