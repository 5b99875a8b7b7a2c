"""Nested categories: creation, lookup, the navigation tree and breadcrumbs.

Parents are set at creation and never change, so the tree cannot grow a cycle.
"""

from __future__ import annotations

from dropkit.commerce._catalog_base import CatalogBase
from dropkit.commerce._catalog_models import Category, CategoryNode, category_from_row
from dropkit.commerce._records import check_slug, check_text, new_id, slugify
from dropkit.core.errors import ConflictError, IntegrityError, NotFoundError

__all__ = ["Categories"]


class Categories(CatalogBase):
    """The catalog's category methods."""

    async def create_category(
        self,
        name: str,
        *,
        parent_id: str | None = None,
        slug: str | None = None,
        position: int = 0,
    ) -> Category:
        """A category, under ``parent_id`` if given; a taken slug is a ``ConflictError``."""
        name = check_text(name, "category name", max_length=200)
        slug = check_slug(slug) if slug is not None else slugify(name, fallback="category")
        category = Category(
            id=new_id("cat"), parent_id=parent_id, name=name, slug=slug, position=position
        )
        async with self._db.transaction():
            if parent_id is not None:
                await self.get_category(parent_id)
            if await self._db.fetchval("SELECT id FROM commerce_categories WHERE slug = {}", slug):
                raise ConflictError(f"a category with slug {slug!r} already exists")
            try:
                await self._db.execute(
                    "INSERT INTO commerce_categories (id, parent_id, name, slug, position)"
                    " VALUES ({}, {}, {}, {}, {})",
                    category.id,
                    parent_id,
                    name,
                    slug,
                    position,
                )
            except IntegrityError as exc:
                raise ConflictError(f"a category with slug {slug!r} already exists") from exc
        return category

    async def get_category(self, category_id: str) -> Category:
        row = await self._db.fetchrow(
            "SELECT * FROM commerce_categories WHERE id = {}", category_id
        )
        if row is None:
            raise NotFoundError(f"no category {category_id!r}")
        return category_from_row(row)

    async def category_tree(self) -> list[CategoryNode]:
        """Every category as a forest of nodes, siblings ordered by position then name."""
        rows = await self._db.fetch("SELECT * FROM commerce_categories ORDER BY position, name, id")
        categories = [category_from_row(row) for row in rows]
        children: dict[str | None, list[Category]] = {}
        for category in categories:
            children.setdefault(category.parent_id, []).append(category)

        def build(category: Category) -> CategoryNode:
            kids = children.get(category.id, [])
            return CategoryNode(category=category, children=tuple(build(k) for k in kids))

        return [build(root) for root in children.get(None, [])]

    async def category_path(self, category_id: str) -> list[Category]:
        """The chain from the root down to ``category_id`` (breadcrumbs)."""
        path: list[Category] = []
        current: str | None = category_id
        while current is not None:
            category = await self.get_category(current)
            path.append(category)
            current = category.parent_id
            if len(path) > 100:  # parents are set at creation only, so this cannot cycle
                raise ConflictError(f"category {category_id!r} is nested too deep")
        return path[::-1]
