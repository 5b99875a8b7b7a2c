"""SendGrid's signed event webhook: ECDSA P-256 over ``timestamp + body``.

SendGrid signs each POST with the account's private key; the verification key (base64 DER,
from the SendGrid settings page) is configured here. The signature and timestamp arrive in the
``X-Twilio-Email-Event-Webhook-Signature`` / ``-Timestamp`` headers; old timestamps are refused
so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from dropkit.outreach.errors import SignatureError
from dropkit.outreach.intake.feedback import Feedback, FeedbackKind

__all__ = ["verify_sendgrid"]

SIGNATURE = "x-twilio-email-event-webhook-signature"
TIMESTAMP = "x-twilio-email-event-webhook-timestamp"
# ``deferred`` is left out on purpose: greylisting defers healthy mailboxes, and SendGrid keeps
# retrying; only a final ``bounce``/``blocked``/``dropped`` says something about the address.
_KINDS = {
    "bounce": FeedbackKind.HARD_BOUNCE,
    "blocked": FeedbackKind.SOFT_BOUNCE,
    "dropped": FeedbackKind.HARD_BOUNCE,
    "spamreport": FeedbackKind.COMPLAINT,
    "delivered": FeedbackKind.DELIVERED,
    "unsubscribe": FeedbackKind.UNSUBSCRIBE,
    "group_unsubscribe": FeedbackKind.UNSUBSCRIBE,
}


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise SignatureError(f"missing header {name}")


def verify_sendgrid(
    public_key: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = 600.0,
    now: float | None = None,
) -> list[Feedback]:
    """Verify a SendGrid event POST and parse its bounces, blocks and spam reports."""
    timestamp = _header(headers, TIMESTAMP)
    try:
        key = load_der_public_key(base64.b64decode(public_key))
        signature = base64.b64decode(_header(headers, SIGNATURE), validate=True)
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError as exc:
        raise SignatureError(f"malformed SendGrid signature headers: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureError("the SendGrid verification key is not an EC key")
    if age > tolerance:
        raise SignatureError("SendGrid webhook timestamp is too old")
    try:
        key.verify(signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise SignatureError("SendGrid webhook signature does not match") from exc
    try:
        events = json.loads(body)
    except ValueError as exc:
        raise SignatureError("SendGrid webhook body is not JSON") from exc
    feedback = []
    for event in events if isinstance(events, list) else []:
        kind = _KINDS.get(str(event.get("event")))
        if kind is None or not event.get("email"):
            continue
        if kind is FeedbackKind.HARD_BOUNCE and event.get("type") == "blocked":
            kind = FeedbackKind.SOFT_BOUNCE
        feedback.append(
            Feedback(
                kind,
                str(event["email"]),
                event.get("dropkit_message_id"),
                str(event.get("reason") or event.get("response") or event.get("event")),
                f"sendgrid:{event['sg_event_id']}" if event.get("sg_event_id") else None,
            )
        )
    return feedback
