"""Tracking handlers: open pixel, click redirect, unsubscribe (one-click POST, GET confirms).

Every handler verifies its signed token first: a forged or altered token gets a 400 and records
nothing. A click redirects only to a URL recorded for that campaign (no open redirect). GET on
the unsubscribe URL only shows a page with a button (link scanners follow GETs); the POST, from
that button or from the mail client's RFC 8058 one-click, unsubscribes.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Callable, Iterable

from dropkit.core.database import Database
from dropkit.outreach.errors import TokenError
from dropkit.outreach.http import HandlerResponse, InboundRequest
from dropkit.outreach.instrument import CLICK, OPEN, UNSUBSCRIBE, Instrumenter
from dropkit.outreach.ledger import CHUNK
from dropkit.outreach.machine import MachineDetector
from dropkit.outreach.models import SuppressionReason
from dropkit.outreach.suppressions import Suppressions

__all__ = ["Tracking", "allow_links"]

PIXEL = base64.b64decode(b"R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, private"}


def _page(title: str, body: str) -> HandlerResponse:
    text = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HandlerResponse(
        200, {"Content-Type": "text/html; charset=utf-8", **_NO_STORE}, text.encode()
    )


async def allow_links(database: Database, source_id: str, urls: Iterable[str]) -> None:
    """Add URLs to a campaign's (or transactional message's) click allowlist."""
    new = sorted(set(urls))
    for start in range(0, len(new), CHUNK):
        chunk = new[start : start + CHUNK]
        await database.execute(
            "INSERT INTO outreach_links (source_id, url) VALUES "
            + ", ".join(["({}, {})"] * len(chunk))
            + " ON CONFLICT DO NOTHING",
            *[value for url in chunk for value in (source_id, url)],
        )


_BAD = HandlerResponse(400, {"Content-Type": "text/plain"}, b"invalid or expired link")


class Tracking:
    """Records opens, clicks and unsubscribes from signed links."""

    def __init__(
        self,
        database: Database,
        instrumenter: Instrumenter,
        suppressions: Suppressions,
        *,
        detector: MachineDetector | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._links = instrumenter
        self._suppressions = suppressions
        self._detector = detector or MachineDetector()
        self._clock = clock

    async def record(
        self,
        kind: str,
        source_id: str | None,
        subscriber_id: str | None,
        *,
        email: str | None = None,
        url: str | None = None,
        machine: bool = False,
        detail: str | None = None,
    ) -> None:
        await self._db.execute(
            "INSERT INTO outreach_events (kind, source_id, subscriber_id, email, url, machine,"
            " detail, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
            kind,
            source_id,
            subscriber_id,
            email,
            url,
            machine,
            detail,
            self._clock(),
        )

    async def _sent_at(self, source_id: str, subscriber_id: str) -> float | None:
        value = await self._db.fetchval(
            "SELECT sent_at FROM outreach_sends WHERE campaign_id = {} AND subscriber_id = {}",
            source_id,
            subscriber_id,
        )
        if value is None:
            value = await self._db.fetchval(
                "SELECT sent_at FROM outreach_transactional WHERE id = {}", source_id
            )
        return None if value is None else float(value)

    async def _machine(self, request: InboundRequest, source: str, subscriber: str) -> str | None:
        sent_at = await self._sent_at(source, subscriber)
        elapsed = None if sent_at is None else self._clock() - sent_at
        return self._detector.reason(request.header("user-agent"), request.client_ip, elapsed)

    def _verify(self, purpose: str, request: InboundRequest) -> dict[str, str] | None:
        try:
            data = self._links.signer.verify(purpose, request.query.get("t", ""))
        except TokenError:
            return None
        return {k: str(v) for k, v in data.items()}

    async def handle_open(self, request: InboundRequest) -> HandlerResponse:
        """The open pixel: a 1x1 GIF; the open is recorded, machine or human."""
        data = self._verify(OPEN, request)
        if data is None:
            return _BAD
        reason = await self._machine(request, data["c"], data["s"])
        await self.record("open", data["c"], data["s"], machine=reason is not None, detail=reason)
        return HandlerResponse(200, {"Content-Type": "image/gif", **_NO_STORE}, PIXEL)

    async def handle_click(self, request: InboundRequest) -> HandlerResponse:
        """Redirect to the campaign's URL in the token, after recording the click."""
        data = self._verify(CLICK, request)
        if data is None:
            return _BAD
        known = await self._db.fetchval(
            "SELECT url FROM outreach_links WHERE source_id = {} AND url = {}", data["c"], data["u"]
        )
        if known is None:
            return _BAD
        agent = request.header("user-agent")
        reason = self._detector.reason(agent, request.client_ip, None)
        await self.record(
            "click", data["c"], data["s"], url=data["u"], machine=reason is not None, detail=reason
        )
        return HandlerResponse(302, {"Location": data["u"], **_NO_STORE})

    async def handle_unsubscribe(self, request: InboundRequest) -> HandlerResponse:
        """GET: a confirmation page. POST (button or RFC 8058 one-click): unsubscribe."""
        data = self._verify(UNSUBSCRIBE, request)
        if data is None:
            return _BAD
        if request.method.upper() != "POST":
            token = html.escape(request.query.get("t", ""), quote=True)
            form = (
                "<p>Stop receiving these emails?</p><form method='post'>"
                f"<input type='hidden' name='t' value='{token}'>"
                "<button type='submit'>Unsubscribe</button></form>"
            )
            return _page("Unsubscribe", form)
        email = await self._db.fetchval(
            "SELECT email FROM outreach_subscribers WHERE id = {}", data["s"]
        )
        if email is None and "@" in data["s"]:
            email = data["s"]  # transactional mail to someone who is not a subscriber
        if email is not None:
            already = await self._suppressions.reason(email)
            await self._suppressions.add(email, SuppressionReason.UNSUBSCRIBED, f"via {data['c']}")
            if already is None:
                await self.record("unsubscribe", data["c"], data["s"], email=email)
        return _page("You are unsubscribed", "<p>You will not receive these emails again.</p>")
