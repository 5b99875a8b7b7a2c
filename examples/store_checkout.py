"""A small store through the library API: catalog, supplier, checkout, payment, shipping.

Run it: ``python examples/store_checkout.py``. It opens a kit on a temporary SQLite file, lists a
product with two variants, lets a supplier cover the one with little stock of its own, checks a
cart out (with a discount code, tax and shipping), marks the order paid, splits it into
fulfilments and ships them.
"""

from __future__ import annotations

import tempfile

import anyio

from dropkit import Dropkit
from dropkit.commerce import Address, VariantInput
from dropkit.commerce.pricing import DiscountKind, ShippingKind
from dropkit.core.money import Money


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        async with Dropkit(data_dir=data_dir) as kit:
            shop = kit.commerce

            # Who sells, who supplies, what is for sale.
            vendor = await shop.vendors.create("Aurora Lighting", commission_rate="0.12")
            supplier = await shop.suppliers.create("Lumen Supply Co.")
            lighting = await shop.catalog.create_category("Lighting")
            lamp = await shop.catalog.create(
                vendor.id,
                "Aurora Desk Lamp",
                category_id=lighting.id,
                status="active",
                variants=[
                    VariantInput(
                        sku="LAMP-WW",
                        options={"light": "warm white"},
                        price=Money("31.00", "USD"),
                        compare_at=Money("39.00", "USD"),
                        stock_on_hand=10,
                    ),
                    VariantInput(
                        sku="LAMP-CW",
                        options={"light": "cool white"},
                        price=Money("31.00", "USD"),
                        stock_on_hand=1,  # little stock of our own...
                    ),
                ],
                images=[{"url": "https://cdn.example.com/lamp.png", "alt": "Aurora Desk Lamp"}],
            )
            cool = next(v for v in lamp.variants if v.sku == "LAMP-CW")
            # ... so a supplier offers it (its stock counts while synced_at is fresh).
            await shop.suppliers.upsert_offer(
                supplier.id, cool.id, "LSC-4471", Money("12.40", "USD"), 50, lead_time_days=4
            )
            level = await shop.inventory.level(cool.id)
            print(f"LAMP-CW available: {level.own} own + {level.supplier} from the supplier")

            # Pricing: tax, shipping, a discount code.
            await shop.pricing.set_tax_rate("US", "0.0725", region="CA", name="CA sales tax")
            shipping = await shop.pricing.create_shipping_method(
                "Standard",
                ShippingKind.FREE_OVER,
                Money("6.90", "USD"),
                free_over=Money("100.00", "USD"),
            )
            await shop.pricing.create_discount("LAUNCH10", DiscountKind.PERCENTAGE, 10)

            # A customer's cart, checked out in one call.
            cart = await shop.carts.create("USD", email="ada@example.com")
            await shop.carts.add(cart.id, "LAMP-WW", 1)
            await shop.carts.add(cart.id, "LAMP-CW", 2)  # more than our own stock
            await shop.carts.apply_coupon(cart.id, "launch10")
            address = Address(
                "Ada Lovelace", "12 Analytical Way", "San Jose", "95112", "US", "", "CA"
            )
            order = await shop.checkout(
                cart.id,
                email="ada@example.com",
                shipping_address=address,
                shipping_method_id=shipping.id,
                payment_gateway="manual",  # bank transfer: the order waits for the money
            )
            again = await shop.checkout(cart.id, email="ada@example.com", shipping_address=address)
            print(f"order #{order.number}: {order.status.value}")
            print(f"  retried checkout, same order: {again.id == order.id}")
            print(
                f"  subtotal {order.subtotal}, discount {order.discount}, tax {order.tax},"
                f" shipping {order.shipping}, total {order.total}"
            )
            for line in order.lines:
                source = "own stock" if line.source == "own" else f"supplier {supplier.name}"
                print(
                    f"  {line.quantity} x {line.sku}: {line.line_total} from {source},"
                    f" commission {line.commission}"
                )

            # The transfer arrived: paid, one fulfilment per vendor and source, shipped.
            await shop.orders.mark_paid(order.id)
            for fulfilment in await shop.orders.create_fulfilments(order.id):
                await shop.orders.ship(fulfilment.id, carrier="UPS", tracking_number="1Z999AA1")
                origin = "supplier" if fulfilment.supplier_id else "own stock"
                print(f"  shipped fulfilment from {origin}: {len(fulfilment.line_ids)} line(s)")
            order = await shop.orders.get(order.id)
            print(f"order #{order.number}: {order.status.value}")


if __name__ == "__main__":
    anyio.run(main)
