"""Amazon SES feedback through SNS: message signature verification with a pinned cert URL.

SNS signs each message with a certificate it hosts at ``SigningCertURL``. Anyone can POST a
message naming *their own* certificate, so the URL is checked before anything is fetched: https
only, host ``sns.<region>.amazonaws.com`` (or ``.amazonaws.com.cn``), a ``.pem`` path.
Certificates are cached per URL. SignatureVersion 1 is RSA-SHA1, version 2 RSA-SHA256, over
the canonical "key\\nvalue\\n" string of the message's fields.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from dropkit.core.errors import ConfigurationError
from dropkit.outreach.errors import SignatureError
from dropkit.outreach.intake.feedback import Feedback, FeedbackKind

__all__ = ["SnsCertificates", "SnsMessage", "SnsVerifier", "check_cert_url", "ses_feedback"]

_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}


def check_cert_url(url: str) -> str:
    """``url`` if it is an SNS certificate URL (https, sns.<region>.amazonaws.com, .pem)."""
    parts = urlsplit(url)
    if (
        parts.scheme != "https"
        or not _HOST.match(parts.hostname or "")
        or parts.port
        not in (
            None,
            443,
        )
        or not parts.path.endswith(".pem")
        or parts.username
        or parts.password
    ):
        raise SignatureError(f"SNS SigningCertURL is not an Amazon SNS certificate URL: {url!r}")
    return url


class SnsCertificates:
    """Fetches and caches signing certificates (from pinned URLs only).

    ``base_url`` redirects fetches to another server (tests and air-gapped mirrors): the URL is
    still checked against the pin first, then only its path is requested from ``base_url``.
    """

    def __init__(
        self, *, base_url: str | None = None, client: httpx.AsyncClient | None = None
    ) -> None:
        self._base = base_url.rstrip("/") if base_url else None
        self._client = client or httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        self._owns_client = client is None
        self._cache: dict[str, rsa.RSAPublicKey] = {}

    async def public_key(self, url: str) -> rsa.RSAPublicKey:
        check_cert_url(url)
        cached = self._cache.get(url)
        if cached is not None:
            return cached
        target = f"{self._base}{urlsplit(url).path}" if self._base else url
        try:
            response = await self._client.get(target)
            response.raise_for_status()
            certificate = x509.load_pem_x509_certificate(response.content)
        except (httpx.HTTPError, ValueError) as exc:
            raise SignatureError(f"cannot load SNS certificate {url}: {exc}") from exc
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureError("SNS certificate does not hold an RSA key")
        self._cache[url] = key
        return key

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


@dataclass(frozen=True)
class SnsMessage:
    type: str
    message_id: str
    topic_arn: str
    message: str
    subscribe_url: str | None


def string_to_sign(payload: Mapping[str, Any]) -> bytes:
    """The canonical text SNS signs: each present field as ``name\\nvalue\\n``, in order."""
    fields = _FIELDS.get(str(payload.get("Type")))
    if fields is None:
        raise SignatureError(f"unknown SNS message type {payload.get('Type')!r}")
    return "".join(
        f"{name}\n{payload[name]}\n" for name in fields if payload.get(name) is not None
    ).encode()


class SnsVerifier:
    """Verify SNS POST bodies from our own topics, signed within the last ``max_age`` seconds.

    Topics are required: any AWS account can have SNS sign a message, so the signature alone
    proves nothing about who sent it. The age check bounds replays; the feedback processor
    remembers MessageIds, so a replay within the window is applied once.
    """

    def __init__(
        self,
        certificates: SnsCertificates,
        *,
        topics: Sequence[str],
        max_age: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not topics:
            raise ConfigurationError("SNS intake needs the topic ARNs it accepts (sns_topics)")
        self.certificates = certificates
        self._topics = set(topics)
        self._max_age = max_age
        self._clock = clock

    def _check_age(self, payload: Mapping[str, Any]) -> None:
        try:
            stamp = datetime.fromisoformat(str(payload["Timestamp"])).timestamp()
        except (KeyError, ValueError) as exc:
            raise SignatureError("SNS message without a valid Timestamp") from exc
        if abs(self._clock() - stamp) > self._max_age:
            raise SignatureError("SNS message is too old (or from the future): a replay?")

    async def verify(self, body: bytes) -> SnsMessage:
        try:
            payload = json.loads(body)
            version = str(payload["SignatureVersion"])
            signature = base64.b64decode(payload["Signature"], validate=True)
            cert_url = str(payload["SigningCertURL"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SignatureError("malformed SNS message") from exc
        algorithm: hashes.HashAlgorithm
        if version == "1":
            algorithm = hashes.SHA1()  # SNS SignatureVersion 1 is RSA-SHA1
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            raise SignatureError(f"unsupported SNS SignatureVersion {version!r}")
        if payload.get("TopicArn") not in self._topics:
            raise SignatureError("SNS message from an unexpected topic")
        self._check_age(payload)
        key = await self.certificates.public_key(cert_url)
        try:
            key.verify(signature, string_to_sign(payload), padding.PKCS1v15(), algorithm)
        except InvalidSignature as exc:
            raise SignatureError("SNS message signature does not match") from exc
        return SnsMessage(
            str(payload["Type"]),
            str(payload.get("MessageId", "")),
            str(payload.get("TopicArn", "")),
            str(payload.get("Message", "")),
            payload.get("SubscribeURL"),
        )


def ses_feedback(message: SnsMessage) -> list[Feedback]:
    """The bounces, complaints and deliveries in an SES notification."""
    if message.type != "Notification":
        return []
    try:
        data = json.loads(message.message)
    except ValueError:
        return []
    kind = str(data.get("notificationType") or data.get("eventType") or "")
    mail = data.get("mail") or {}
    message_id = (mail.get("commonHeaders") or {}).get("messageId")
    for header in mail.get("headers") or []:
        if str(header.get("name", "")).lower() == "message-id":
            message_id = header.get("value")
    if kind == "Bounce":
        bounce = data.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        return [
            Feedback(
                FeedbackKind.HARD_BOUNCE if permanent else FeedbackKind.SOFT_BOUNCE,
                str(r.get("emailAddress")),
                message_id,
                str(r.get("diagnosticCode") or bounce.get("bounceSubType") or "bounce"),
                f"sns:{message.message_id}:{r.get('emailAddress')}",
            )
            for r in bounce.get("bouncedRecipients") or []
            if r.get("emailAddress")
        ]
    if kind == "Complaint":
        complaint = data.get("complaint") or {}
        return [
            Feedback(
                FeedbackKind.COMPLAINT,
                str(r.get("emailAddress")),
                message_id,
                "complaint",
                f"sns:{message.message_id}:{r.get('emailAddress')}",
            )
            for r in complaint.get("complainedRecipients") or []
            if r.get("emailAddress")
        ]
    if kind == "Delivery":
        return [
            Feedback(
                FeedbackKind.DELIVERED,
                str(r),
                message_id,
                "delivered",
                f"sns:{message.message_id}:{r}",
            )
            for r in (data.get("delivery") or {}).get("recipients") or []
        ]
    return []
