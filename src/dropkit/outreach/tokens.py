"""HMAC-signed tokens for open pixels, click redirects, unsubscribe and opt-in links.

A token is ``base64url(payload).base64url(hmac_sha256(secret, purpose + payload))``: the purpose
is bound into the MAC, so an open token cannot be replayed as an unsubscribe token, and any
altered byte is rejected. Tokens carry no secret data, only ids.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from dropkit.core.errors import ConfigurationError
from dropkit.outreach.errors import TokenError

__all__ = ["TokenSigner"]


_URL_SAFE = bytes.maketrans(b"+/", b"-_")
_BLOCK = 64  # SHA-256's block size, for HMAC's padded keys (RFC 2104)
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_URL_SAFE).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Signs and verifies small JSON payloads for one purpose each."""

    def __init__(self, secret: str | bytes, *, clock: Callable[[], float] = time.time) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < 16:
            raise ConfigurationError("tracking_secret must be at least 16 bytes")
        self._clock = clock
        # HMAC-SHA256 from its two keyed hash states, computed once and copied per token.
        # hmac.digest() is the same MAC but sets up an OpenSSL HMAC context per call and
        # releases the GIL around it: several microseconds, three times per campaign message.
        padded = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(padded.translate(_IPAD))
        self._outer = hashlib.sha256(padded.translate(_OPAD))

    def _mac(self, purpose: str, body: str) -> str:
        inner = self._inner.copy()
        inner.update(f"{purpose}\x00{body}".encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return _b64(outer.digest()[:20])

    def sign(self, purpose: str, payload: dict[str, Any], *, ttl: float | None = None) -> str:
        """A token for ``payload``; with ``ttl`` it expires after that many seconds."""
        data = dict(payload)
        if ttl is not None:
            data["exp"] = int(self._clock() + ttl)
        return self.sign_json(purpose, json.dumps(data, separators=(",", ":"), sort_keys=True))

    def sign_json(self, purpose: str, payload: str) -> str:
        """A token for a JSON object already encoded (the send path builds it from cached parts).

        ``payload`` must be a JSON object; :meth:`verify` rejects anything else.
        """
        body = _b64(payload.encode())
        return f"{body}.{self._mac(purpose, body)}"

    def verify(self, purpose: str, token: str) -> dict[str, Any]:
        """The payload of a genuine, unexpired token for ``purpose``; else :class:`TokenError`."""
        body, _, mac = token.partition(".")
        if not body or not mac or not hmac.compare_digest(mac, self._mac(purpose, body)):
            raise TokenError("invalid token")
        try:
            data = json.loads(_unb64(body))
        except ValueError as exc:
            raise TokenError("invalid token") from exc
        if not isinstance(data, dict):
            raise TokenError("invalid token")
        expires = data.pop("exp", None)
        if expires is not None and self._clock() > float(expires):
            raise TokenError("token expired")
        return data
