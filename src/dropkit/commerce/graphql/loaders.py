"""Per-request DataLoaders: every field that needs more rows asks a loader, never the database.

Resolvers of one page run concurrently; each loader collects the keys they ask for in that tick
and fetches them in one batched call, so listing 50 products with their variants, images and
stock costs the same handful of statements as listing 5. Loaders live for one request only:
their cache must never serve one customer's request from another's (or stale stock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from dropkit.commerce.catalog import Catalog, Category, CategoryNode, Image, Product, Variant
from dropkit.commerce.inventory import Inventory, StockLevel

__all__ = ["CategoryIndex", "Loaders"]

#: Variant ids per stock query: far below the bound-parameter limits of SQLite and PostgreSQL.
STOCK_BATCH = 500


@dataclass(frozen=True)
class CategoryIndex:
    """Every category, by id and by slug, with children in menu order (one query builds it)."""

    by_id: dict[str, Category] = field(default_factory=dict)
    by_slug: dict[str, Category] = field(default_factory=dict)
    children: dict[str | None, list[Category]] = field(default_factory=dict)

    @classmethod
    def from_tree(cls, roots: Sequence[CategoryNode]) -> CategoryIndex:
        index = cls()
        stack = list(reversed(roots))
        while stack:
            node = stack.pop()
            category = node.category
            index.by_id[category.id] = category
            index.by_slug[category.slug] = category
            index.children.setdefault(category.parent_id, []).append(category)
            stack.extend(reversed(node.children))
        return index

    def path(self, category_id: str) -> list[Category]:
        """Root first, ``category_id`` last (breadcrumbs); bounded in case of a broken tree."""
        path: list[Category] = []
        current = self.by_id.get(category_id)
        while current is not None and len(path) < 100:
            path.append(current)
            current = self.by_id.get(current.parent_id) if current.parent_id else None
        return path[::-1]


class Loaders:
    """The loaders of one request; build a new one per request (the app's context does)."""

    def __init__(self, *, catalog: Catalog, inventory: Inventory) -> None:
        self._catalog = catalog
        self._inventory = inventory
        self.variants: DataLoader[str, list[Variant]] = DataLoader(load_fn=self._variants)
        self.images: DataLoader[str, list[Image]] = DataLoader(load_fn=self._images)
        self.stock: DataLoader[str, StockLevel | None] = DataLoader(
            load_fn=self._stock, max_batch_size=STOCK_BATCH
        )
        self.category_index: DataLoader[None, CategoryIndex] = DataLoader(
            load_fn=self._category_index
        )
        self.categories: DataLoader[str, Category | None] = DataLoader(load_fn=self._categories)

    def prime_products(self, products: Sequence[Product]) -> None:
        """Seed the caches with what :meth:`Catalog.list` already fetched (no second query).

        A product read without its details has no variants (an active product always has one):
        those are left to the loaders rather than cached as empty.
        """
        for product in products:
            if product.variants:
                self.variants.prime(product.id, list(product.variants))
                self.images.prime(product.id, list(product.images))

    def prime_stock(self, levels: dict[str, StockLevel]) -> None:
        self.stock.prime_many(dict(levels))

    async def _variants(self, product_ids: list[str]) -> list[list[Variant]]:
        found = await self._catalog.variants_for_products(product_ids)
        return [found.get(pid, []) for pid in product_ids]

    async def _images(self, product_ids: list[str]) -> list[list[Image]]:
        found = await self._catalog.images_for_products(product_ids)
        return [found.get(pid, []) for pid in product_ids]

    async def _stock(self, variant_ids: list[str]) -> list[StockLevel | None]:
        found = await self._inventory.levels(variant_ids)
        return [found.get(vid) for vid in variant_ids]

    async def _category_index(self, keys: list[None]) -> list[CategoryIndex]:
        # Storefront menus are small: one query for the whole tree serves every lookup.
        index = CategoryIndex.from_tree(await self._catalog.category_tree())
        return [index for _ in keys]

    async def _categories(self, category_ids: list[str]) -> list[Category | None]:
        index = await self.category_index.load(None)
        return [index.by_id.get(cid) for cid in category_ids]
