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
    subject_field = "product_id"
    product_id: str
    vendor_id: str
    slug: str
    title: str


class ProductUpdated(Event):
    type = "product.updated"
    subject_field = "product_id"
    product_id: str
    vendor_id: str
    changed: list[str]


class OrderPlaced(Event):
    type = "order.placed"
    subject_field = "order_id"
    order_id: str
    number: int
    email: str
    total: Money
    vendor_ids: list[str]


class OrderPaid(Event):
    type = "order.paid"
    subject_field = "order_id"
    order_id: str
    number: int
    amount: Money


class OrderCancelled(Event):
    type = "order.cancelled"
    subject_field = "order_id"
    order_id: str
    number: int
    reason: str


class OrderRefunded(Event):
    type = "order.refunded"
    subject_field = "order_id"
    order_id: str
    number: int
    amount: Money


class FulfilmentCreated(Event):
    type = "fulfilment.created"
    subject_field = "order_id"
    fulfilment_id: str
    order_id: str
    vendor_id: str
    supplier_id: str | None


class FulfilmentShipped(Event):
    type = "fulfilment.shipped"
    subject_field = "order_id"
    fulfilment_id: str
    order_id: str
    carrier: str | None
    tracking_number: str | None


class FulfilmentDelivered(Event):
    type = "fulfilment.delivered"
    subject_field = "order_id"
    fulfilment_id: str
    order_id: str


class StockLow(Event):
    type = "stock.low"
    subject_field = "variant_id"
    variant_id: str
    sku: str
    available: int
    threshold: int
