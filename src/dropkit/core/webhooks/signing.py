"""Standard Webhooks signatures: sign what we send, verify what we receive.

Implements the symmetric ``v1`` scheme of https://www.standardwebhooks.com: the signature is
``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), sent with the ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` headers. Signing the id and timestamp along with
the body is what makes a captured delivery useless for replay: the receiver refuses timestamps
outside a short tolerance, and the id lets it drop duplicates inside that window.

A secret is ``whsec_`` + base64 of random bytes; a secret without the prefix is taken as raw
base64, as the reference libraries do. Several secrets may be given to :func:`verify` so a key can
be rotated without dropping deliveries signed with the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta

from dropkit.core.errors import WebhookError, WebhookVerificationError

SECRET_PREFIX = "whsec_"
"""Prefix that marks a Standard Webhooks secret."""

DEFAULT_TOLERANCE = timedelta(minutes=5)
"""How far a timestamp may be from the receiver's clock, either way (the spec's default)."""

_SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes
_SIGNATURE_VERSION = "v1"
_TIMESTAMP = re.compile(r"[0-9]{1,15}")  # ASCII digits only: int() would take "+1_0" or "١٢"


def generate_secret() -> str:
    """Return a new random secret, ``whsec_`` + base64 of 32 bytes from :mod:`secrets`."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def _decode_secret(secret: str) -> bytes:
    """Return the HMAC key of ``secret``; malformed secrets are configuration errors."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        # The message must not echo the secret: it may end up in logs.
        raise WebhookError(
            f"webhook secret is not valid base64 (expected {SECRET_PREFIX!r} + base64)"
        ) from None
    if not key:
        raise WebhookError("webhook secret is empty")
    return key


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    """Base64 of the HMAC-SHA256 over the spec's signed content ``id.timestamp.body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value (``v1,<base64>``) for one delivery."""
    digest = _digest(_decode_secret(secret), msg_id, timestamp, body)
    return f"{_SIGNATURE_VERSION},{digest.decode('ascii')}"


def signature_headers(
    secret: str, msg_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """Return the three Standard Webhooks headers for ``body``, timestamped now by default."""
    if timestamp is None:
        timestamp = int(time.time())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    """Return ``webhook-<name>``, or the ``svix-<name>`` the spec also allows; refuse if absent."""
    value = headers.get(f"webhook-{name}") or headers.get(f"svix-{name}")
    if not value:
        raise WebhookVerificationError(f"missing webhook-{name} header")
    return value


def verify(
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check that ``body`` was signed with ``secret`` (or one of several) recently.

    Returns nothing on success and raises :class:`WebhookVerificationError`, naming the reason,
    on a missing header, a malformed or out-of-tolerance timestamp (too old *or* too far in the
    future, so a clock-skewed signature cannot be held back and replayed later), or when no
    ``v1`` signature in the header matches. Header names are matched case-insensitively.
    ``now`` (seconds since the epoch) is for tests. A malformed secret raises
    :class:`WebhookError`: it is our configuration that is wrong, not the request.
    """
    candidates = [secret] if isinstance(secret, str) else list(secret)
    if not candidates:
        raise WebhookError("no webhook secret given")
    keys = [_decode_secret(candidate) for candidate in candidates]

    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = _header(lowered, "id")
    timestamp_text = _header(lowered, "timestamp")
    signature_text = _header(lowered, "signature")

    if not _TIMESTAMP.fullmatch(timestamp_text):
        raise WebhookVerificationError("webhook-timestamp is not an integer number of seconds")
    timestamp = int(timestamp_text)
    current = time.time() if now is None else now
    allowed = tolerance.total_seconds()
    if current - timestamp > allowed:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if timestamp - current > allowed:
        raise WebhookVerificationError("webhook-timestamp is too far in the future")

    offered = [
        value.encode()
        for version, sep, value in (item.partition(",") for item in signature_text.split())
        if sep and version == _SIGNATURE_VERSION
    ]
    if not offered:
        raise WebhookVerificationError("webhook-signature holds no v1 signature")
    expected = [_digest(key, msg_id, timestamp, body) for key in keys]
    # Each comparison is constant-time; stopping at a match reveals only which secret matched.
    if not any(hmac.compare_digest(mine, theirs) for mine in expected for theirs in offered):
        raise WebhookVerificationError("no webhook signature matches")


__all__ = [
    "DEFAULT_TOLERANCE",
    "SECRET_PREFIX",
    "generate_secret",
    "sign",
    "signature_headers",
    "verify",
]
