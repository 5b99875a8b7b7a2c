"""Domain events of the store, published in the same transaction as the change they describe."""

from __future__ import annotations

from dropkit.core.events import Event
from dropkit.core.money import Money

__all__ = [
    "FulfilmentCreated",
    "FulfilmentDelivered",
    "FulfilmentShipped",
    "OrderCancelled",
    "OrderPaid",
    "OrderPlaced",
    "OrderRefunded",
    "ProductCreated",
    "ProductUpdated",
    "StockLow",
]


class ProductCreated(Event):
    type = "product.created"
    product_id: str
    vendor_id: str
    slug: str
    title: str

    @property
    def subject(self) -> str:
        return self.product_id


class ProductUpdated(Event):
    type = "product.updated"
    product_id: str
    vendor_id: str
    changed: list[str]

    @property
    def subject(self) -> str:
        return self.product_id


class OrderPlaced(Event):
    type = "order.placed"
    order_id: str
    number: int
    email: str
    total: Money
    vendor_ids: list[str]

    @property
    def subject(self) -> str:
        return self.order_id


class OrderPaid(Event):
    type = "order.paid"
    order_id: str
    number: int
    amount: Money

    @property
    def subject(self) -> str:
        return self.order_id


class OrderCancelled(Event):
    type = "order.cancelled"
    order_id: str
    number: int
    reason: str

    @property
    def subject(self) -> str:
        return self.order_id


class OrderRefunded(Event):
    type = "order.refunded"
    order_id: str
    number: int
    amount: Money

    @property
    def subject(self) -> str:
        return self.order_id


class FulfilmentCreated(Event):
    type = "fulfilment.created"
    fulfilment_id: str
    order_id: str
    vendor_id: str
    supplier_id: str | None

    @property
    def subject(self) -> str:
        return self.order_id


class FulfilmentShipped(Event):
    type = "fulfilment.shipped"
    fulfilment_id: str
    order_id: str
    carrier: str | None
    tracking_number: str | None

    @property
    def subject(self) -> str:
        return self.order_id


class FulfilmentDelivered(Event):
    type = "fulfilment.delivered"
    fulfilment_id: str
    order_id: str

    @property
    def subject(self) -> str:
        return self.order_id


class StockLow(Event):
    type = "stock.low"
    variant_id: str
    sku: str
    available: int
    threshold: int

    @property
    def subject(self) -> str:
        return self.variant_id
