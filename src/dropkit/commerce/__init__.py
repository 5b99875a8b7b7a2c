"""The store: vendors, customers, catalog, suppliers, stock, carts, checkout, orders, payments.

``Commerce`` wires the services together (``kit.commerce``); each can also be used on its own.
The GraphQL storefront lives in :mod:`dropkit.commerce.graphql` (extra ``dropkit[graphql]``).
"""

from dropkit.commerce.carts import Cart, CartLine, Carts
from dropkit.commerce.catalog import (
    Catalog,
    Category,
    ImageInput,
    Product,
    ProductStatus,
    Variant,
    VariantInput,
)
from dropkit.commerce.checkout import Address, Checkout, MarginPolicy
from dropkit.commerce.customers import Customer, Customers
from dropkit.commerce.errors import (
    CartError,
    CouponError,
    IllegalTransitionError,
    InvalidQuantityError,
    MarginTooLowError,
    OutOfStockError,
    PaymentError,
    UnknownSkuError,
    VendorAccessError,
)
from dropkit.commerce.inventory import Inventory, StockLevel
from dropkit.commerce.orders import Fulfilment, Order, OrderLine, Orders, OrderStatus
from dropkit.commerce.pricing import DiscountKind, Pricing, ShippingKind
from dropkit.commerce.service import Commerce
from dropkit.commerce.suppliers import Offer, RoutingPolicy, Supplier, Suppliers
from dropkit.commerce.vendor_view import VendorCatalog
from dropkit.commerce.vendors import Vendor, Vendors

__all__ = [
    "Address",
    "Cart",
    "CartError",
    "CartLine",
    "Carts",
    "Catalog",
    "Category",
    "Checkout",
    "Commerce",
    "CouponError",
    "Customer",
    "Customers",
    "DiscountKind",
    "Fulfilment",
    "IllegalTransitionError",
    "ImageInput",
    "InvalidQuantityError",
    "Inventory",
    "MarginPolicy",
    "MarginTooLowError",
    "Offer",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Orders",
    "OutOfStockError",
    "PaymentError",
    "Pricing",
    "Product",
    "ProductStatus",
    "RoutingPolicy",
    "ShippingKind",
    "StockLevel",
    "Supplier",
    "Suppliers",
    "UnknownSkuError",
    "Variant",
    "VariantInput",
    "Vendor",
    "VendorAccessError",
    "VendorCatalog",
    "Vendors",
]
