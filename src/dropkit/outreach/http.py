"""The request and response shapes of the library handlers (framework-free).

The reference app (or any ASGI/WSGI framework) turns its request into an :class:`InboundRequest`,
calls a handler, and writes the :class:`HandlerResponse` back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["HandlerResponse", "InboundRequest"]


@dataclass(frozen=True)
class InboundRequest:
    method: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    client_ip: str | None = None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


@dataclass(frozen=True)
class HandlerResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
