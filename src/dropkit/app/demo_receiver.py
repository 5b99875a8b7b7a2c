"""The demo's webhook receiver: someone else's server that gets our webhooks, on loopback.

It verifies each delivery's Standard Webhooks signature as a partner's endpoint would and keeps
a :class:`Receipt` of every request, so the demo can show that what was sent arrived signed.
The same loopback site serves the store's product images on ``/media``, as a CDN would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dropkit.core.errors import WebhookVerificationError
from dropkit.core.webhooks import verify

__all__ = ["Receipt", "Receiver", "loopback_site"]


@dataclass
class Receipt:
    """One request the receiver got, and whether its signature checked out."""

    webhook_id: str
    event_type: str
    event_id: str
    verified: bool
    error: str | None = None
    subject: str | None = None


@dataclass
class Receiver:
    """Verifies and records webhook deliveries, as a partner's endpoint would."""

    secret: str
    receipts: list[Receipt] = field(default_factory=list)
    verified: anyio.Event = field(default_factory=anyio.Event)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            verify(self.secret, headers, body)
        except WebhookVerificationError as exc:
            self.receipts.append(
                Receipt(headers.get("webhook-id", "?"), "?", "?", verified=False, error=str(exc))
            )
            return JSONResponse({"error": str(exc)}, status_code=400)
        message = json.loads(body)
        self.receipts.append(
            Receipt(
                webhook_id=headers["webhook-id"],
                event_type=message["type"],
                event_id=message["data"]["id"],
                verified=True,
                subject=message["data"].get("subject"),
            )
        )
        self.verified.set()
        return Response(status_code=204)

    async def receipt_of(self, webhook_id: str) -> Receipt:
        """The first receipt of a delivery, once it arrives (we answer before the log updates)."""
        while True:
            for receipt in self.receipts:
                if receipt.webhook_id == webhook_id:
                    return receipt
            await anyio.sleep(0.02)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks", self.handle, methods=["POST"])])


def loopback_site(receiver: Receiver, media_dir: Path) -> Starlette:
    """The receiver on ``/hooks`` and the store's images on ``/media`` (``media_dir`` exists)."""
    return Starlette(
        routes=[
            Route("/hooks", receiver.handle, methods=["POST"]),
            Mount("/media", app=StaticFiles(directory=media_dir), name="media"),
        ]
    )
