"""The store: catalog, inventory, suppliers, carts, checkout, orders, payments (in progress)."""

__all__: list[str] = []
