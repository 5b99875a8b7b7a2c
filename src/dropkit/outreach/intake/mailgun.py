"""Mailgun webhooks: HMAC-SHA256 of ``timestamp + token`` with the webhook signing key.

Timestamps older than the tolerance are refused, so a captured POST cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from dropkit.outreach.errors import SignatureError
from dropkit.outreach.intake.feedback import Feedback, FeedbackKind

__all__ = ["verify_mailgun"]


def verify_mailgun(
    signing_key: str, body: bytes, *, tolerance: float = 600.0, now: float | None = None
) -> list[Feedback]:
    """Verify a Mailgun event webhook (JSON) and parse its failures and complaints."""
    try:
        payload = json.loads(body)
        signature = payload["signature"]
        timestamp, token, given = (
            str(signature["timestamp"]),
            str(signature["token"]),
            str(signature["signature"]),
        )
        event = payload["event-data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError("malformed Mailgun webhook") from exc
    expected = hmac.new(
        signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise SignatureError("Mailgun webhook signature does not match")
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError as exc:
        raise SignatureError("malformed Mailgun timestamp") from exc
    if age > tolerance:
        raise SignatureError("Mailgun webhook timestamp is too old")
    name = str(event.get("event", ""))
    severity = str(event.get("severity", ""))
    kind = {
        "failed": FeedbackKind.HARD_BOUNCE if severity == "permanent" else FeedbackKind.SOFT_BOUNCE,
        "complained": FeedbackKind.COMPLAINT,
        "delivered": FeedbackKind.DELIVERED,
        "unsubscribed": FeedbackKind.UNSUBSCRIBE,
    }.get(name)
    recipient = event.get("recipient")
    if kind is None or not recipient:
        return []
    variables = event.get("user-variables") or {}
    detail = (event.get("delivery-status") or {}).get("message") or event.get("reason") or name
    message_id = variables.get("dropkit-message-id")
    # The token is unique per webhook call: a replay within the tolerance is applied once.
    return [Feedback(kind, str(recipient), message_id, str(detail), f"mailgun:{token}")]
