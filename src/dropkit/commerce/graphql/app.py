"""The storefront over HTTP: an ASGI app to serve alone or mount in Starlette (or any ASGI app).

Each request gets a fresh context, hence fresh DataLoaders: batching works within a request and
no cached row leaks into the next one.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from dropkit.commerce.graphql.context import StorefrontContext
from dropkit.commerce.graphql.schema import StorefrontSchema

__all__ = ["StorefrontApp", "graphql_app"]


class StorefrontApp(GraphQL[StorefrontContext, None]):
    """strawberry's ASGI app with the storefront's per-request context."""

    def __init__(self, schema: StorefrontSchema, **options: Any) -> None:
        super().__init__(schema, **options)
        self.storefront = schema

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> StorefrontContext:
        return self.storefront.context(request=request, response=response)


def graphql_app(
    schema: StorefrontSchema, *, graphiql: bool = False, allow_queries_via_get: bool = False
) -> StorefrontApp:
    """An ASGI app serving ``schema`` (POST JSON; GET and the GraphiQL page only if asked).

    GraphiQL is off by default: it loads its scripts from a CDN, which a shop should opt into.
    GET is off by default so that every operation arrives as a POST body (no query in logs).
    """
    return StorefrontApp(
        schema,
        graphql_ide="graphiql" if graphiql else None,
        allow_queries_via_get=allow_queries_via_get,
    )
