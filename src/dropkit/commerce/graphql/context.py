"""What resolvers reach through ``info.context``: the store's services and the request's loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dropkit.commerce.carts import Carts
from dropkit.commerce.catalog import Catalog
from dropkit.commerce.checkout import Checkout
from dropkit.commerce.graphql.loaders import Loaders
from dropkit.commerce.inventory import Inventory

__all__ = ["Services", "StorefrontContext"]


@dataclass(frozen=True)
class Services:
    """The store services a schema is built over (shared by every request)."""

    catalog: Catalog
    inventory: Inventory
    carts: Carts
    checkout: Checkout
    payment_gateway: str = "manual"

    def context(self, *, request: Any = None, response: Any = None) -> StorefrontContext:
        """A fresh context: new loaders, so no cache outlives its request."""
        return StorefrontContext(
            services=self,
            loaders=Loaders(catalog=self.catalog, inventory=self.inventory),
            request=request,
            response=response,
        )


@dataclass
class StorefrontContext:
    services: Services
    loaders: Loaders
    request: Any = field(default=None)
    response: Any = field(default=None)
