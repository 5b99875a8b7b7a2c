"""The GraphQL storefront: products, categories, carts and checkout over strawberry.

``build_schema(...)`` gives a schema to execute directly; ``graphql_app(schema)`` serves it as
an ASGI app. Needs the ``graphql`` extra (``pip install 'dropkit[graphql]'``).
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
    import strawberry  # noqa: F401
except ImportError as exc:  # pragma: no cover - only without the graphql extra
    from dropkit.core.errors import MissingDependencyError

    raise MissingDependencyError(exc.name or "strawberry-graphql", "graphql") from exc

from dropkit.commerce.graphql.app import StorefrontApp, graphql_app
from dropkit.commerce.graphql.context import Services, StorefrontContext
from dropkit.commerce.graphql.errors import ErrorCode
from dropkit.commerce.graphql.loaders import Loaders
from dropkit.commerce.graphql.schema import MAX_PAGE_SIZE, StorefrontSchema, build_schema

__all__ = [
    "MAX_PAGE_SIZE",
    "ErrorCode",
    "Loaders",
    "Services",
    "StorefrontApp",
    "StorefrontContext",
    "StorefrontSchema",
    "build_schema",
    "graphql_app",
]
