"""Bounce and complaint webhooks: each signature scheme accepts good and rejects bad."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from outreach_support import PUBLIC, SECRET
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dropkit.app.loopback import serve_on_loopback
from dropkit.core.database import Database
from dropkit.core.errors import ConfigurationError
from dropkit.outreach import (
    InboundRequest,
    Outreach,
    SignatureError,
    SnsCertificates,
    SuppressionReason,
)
from dropkit.outreach.intake.sns import SnsMessage, check_cert_url, ses_feedback, string_to_sign


# Protocol tests: one database is enough (storage is covered on both elsewhere).
@pytest.fixture
def odb(sqlite_odb: Database) -> Database:
    return sqlite_odb


@pytest.fixture
def outreach(sqlite_outreach: Outreach) -> Outreach:
    return sqlite_outreach


CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"


def _sendgrid_keys() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(public).decode()


@functools.cache
def _rsa_cert() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
async def cert_server() -> AsyncIterator[tuple[rsa.RSAPrivateKey, str, list[str]]]:
    key, pem = _rsa_cert()
    fetched: list[str] = []

    async def serve(request: Request) -> Response:
        fetched.append(request.url.path)
        return Response(pem, media_type="application/x-pem-file")

    app = Starlette(routes=[Route("/{name:path}", serve)])
    async with serve_on_loopback(app) as url:
        yield key, url, fetched


def _sns_body(
    key: rsa.RSAPrivateKey, message: dict[str, object], *, version: str = "2", **over: str
) -> bytes:
    payload: dict[str, str] = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:eu-west-1:1:ses",
        "Message": json.dumps(message),
        "Timestamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
    }
    payload.update(over)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(string_to_sign(payload), padding.PKCS1v15(), algorithm)
    payload.setdefault("Signature", base64.b64encode(signature).decode())
    return json.dumps(payload).encode()


@pytest.fixture
async def service(
    odb: Database, tmp_path: Path, cert_server: tuple[rsa.RSAPrivateKey, str, list[str]]
) -> AsyncIterator[tuple[Outreach, ec.EllipticCurvePrivateKey]]:
    private, public = _sendgrid_keys()
    _, url, _ = cert_server
    outreach = Outreach(
        odb,
        outbox_dir=tmp_path,
        tracking_secret=SECRET,
        public_url=PUBLIC,
        sendgrid_public_key=public,
        mailgun_signing_key="mg-signing-key",
        sns_certificates=SnsCertificates(base_url=url),
        sns_topics=["arn:aws:sns:eu-west-1:1:ses"],
    )
    await outreach.subscribers.add("hard@example.com")
    yield outreach, private
    await outreach.aclose()


async def test_sendgrid_signed_events(service: tuple[Outreach, ec.EllipticCurvePrivateKey]) -> None:
    outreach, private = service
    body = json.dumps(
        [
            {"event": "bounce", "email": "hard@example.com", "reason": "550 no user"},
            {"event": "spamreport", "email": "angry@example.com"},
            {"event": "bounce", "type": "blocked", "email": "soft@example.com"},
            {"event": "open", "email": "ignored@example.com"},
        ]
    ).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(
        private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    ).decode()
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }
    response = await outreach.handle_sendgrid_events(InboundRequest("POST", headers, body=body))
    assert response.status == 200 and response.body == b"applied 3"
    assert await outreach.suppressions.reason("hard@example.com") is SuppressionReason.HARD_BOUNCE
    assert await outreach.suppressions.reason("angry@example.com") is SuppressionReason.COMPLAINT
    assert await outreach.suppressions.reason("soft@example.com") is None

    tampered = await outreach.handle_sendgrid_events(
        InboundRequest("POST", headers, body=body + b" ")
    )
    assert tampered.status == 401
    old = str(int(time.time()) - 3600)
    stale_sig = base64.b64encode(
        private.sign(old.encode() + body, ec.ECDSA(hashes.SHA256()))
    ).decode()
    stale = {
        **headers,
        "X-Twilio-Email-Event-Webhook-Timestamp": old,
        "X-Twilio-Email-Event-Webhook-Signature": stale_sig,
    }
    assert (
        await outreach.handle_sendgrid_events(InboundRequest("POST", stale, body=body))
    ).status == 401
    missing = await outreach.handle_sendgrid_events(InboundRequest("POST", {}, body=body))
    assert missing.status == 401


async def test_mailgun_hmac(service: tuple[Outreach, ec.EllipticCurvePrivateKey]) -> None:
    outreach, _ = service
    stamp, token = str(int(time.time())), "tok123"
    good = hmac.new(b"mg-signing-key", (stamp + token).encode(), hashlib.sha256).hexdigest()

    def body(signature: str, event: dict[str, object]) -> bytes:
        return json.dumps(
            {
                "signature": {"timestamp": stamp, "token": token, "signature": signature},
                "event-data": event,
            }
        ).encode()

    failed = {"event": "failed", "severity": "permanent", "recipient": "hard@example.com"}
    response = await outreach.handle_mailgun_events(InboundRequest("POST", body=body(good, failed)))
    assert response.status == 200
    assert await outreach.suppressions.reason("hard@example.com") is SuppressionReason.HARD_BOUNCE
    complained = {"event": "complained", "recipient": "c@example.com"}
    bad = await outreach.handle_mailgun_events(
        InboundRequest("POST", body=body("0" * 64, complained))
    )
    assert bad.status == 401
    assert await outreach.suppressions.reason("c@example.com") is None
    junk = await outreach.handle_mailgun_events(InboundRequest("POST", body=b"not json"))
    assert junk.status == 401


@pytest.mark.parametrize("version", ["1", "2"])
async def test_ses_through_sns(
    service: tuple[Outreach, ec.EllipticCurvePrivateKey],
    cert_server: tuple[rsa.RSAPrivateKey, str, list[str]],
    version: str,
) -> None:
    outreach, _ = service
    key, _, fetched = cert_server
    bounce = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bouncedRecipients": [{"emailAddress": "hard@example.com"}],
        },
        "mail": {"headers": [{"name": "Message-ID", "value": "<nope@dropkit.local>"}]},
    }
    body = _sns_body(key, bounce, version=version)
    response = await outreach.handle_ses_notification(InboundRequest("POST", body=body))
    assert response.status == 200 and response.body == b"applied 1"
    assert await outreach.suppressions.reason("hard@example.com") is SuppressionReason.HARD_BOUNCE
    replay = await outreach.handle_ses_notification(InboundRequest("POST", body=body))
    assert replay.status == 200 and replay.body == b"applied 0"  # same MessageId: once
    assert fetched == ["/SimpleNotificationService-abc.pem"]  # cached
    stale = _sns_body(key, bounce, version=version, Timestamp="2020-01-01T00:00:00.000Z")
    assert (
        await outreach.handle_ses_notification(InboundRequest("POST", body=stale))
    ).status == 401
    stranger = _sns_body(key, bounce, version=version, TopicArn="arn:aws:sns:eu-west-1:666:x")
    response = await outreach.handle_ses_notification(InboundRequest("POST", body=stranger))
    assert response.status == 401

    altered = json.loads(body)
    altered["Message"] = altered["Message"].replace("hard@", "other@")
    response = await outreach.handle_ses_notification(
        InboundRequest("POST", body=json.dumps(altered).encode())
    )
    assert response.status == 401
    for url in (
        "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
        "http://sns.eu-west-1.amazonaws.com/x.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com.pem",
        "https://sns.eu-west-1.amazonaws.com/x.txt",
    ):
        forged = _sns_body(key, bounce, version=version, SigningCertURL=url)
        response = await outreach.handle_ses_notification(InboundRequest("POST", body=forged))
        assert response.status == 401
    assert len(fetched) == 1  # nothing was fetched from a host outside the pin
    unknown = _sns_body(key, bounce, version="3")
    assert (
        await outreach.handle_ses_notification(InboundRequest("POST", body=unknown))
    ).status == 401


async def test_sns_subscription_and_ses_parsing(
    service: tuple[Outreach, ec.EllipticCurvePrivateKey],
    cert_server: tuple[rsa.RSAPrivateKey, str, list[str]],
) -> None:
    outreach, _ = service
    key, _, _ = cert_server
    body = _sns_body(
        key,
        {},
        Type="SubscriptionConfirmation",
        SubscribeURL="https://sns.eu-west-1.amazonaws.com/?Action=Confirm",
        Token="t",
    )
    response = await outreach.handle_ses_notification(InboundRequest("POST", body=body))
    assert response.status == 200 and response.body.startswith(b"https://sns.")
    complaint = SnsMessage(
        "Notification",
        "m",
        "arn",
        json.dumps(
            {
                "notificationType": "Complaint",
                "complaint": {"complainedRecipients": [{"emailAddress": "c@example.com"}]},
                "mail": {"commonHeaders": {"messageId": "<x@y>"}},
            }
        ),
        None,
    )
    (item,) = ses_feedback(complaint)
    assert item.email == "c@example.com" and item.message_id == "<x@y>"
    delivery = SnsMessage(
        "Notification",
        "m",
        "arn",
        json.dumps({"notificationType": "Delivery", "delivery": {"recipients": ["d@example.com"]}}),
        None,
    )
    assert [f.kind.value for f in ses_feedback(delivery)] == ["delivered"]
    assert ses_feedback(SnsMessage("Notification", "m", "arn", "not json", None)) == []
    with pytest.raises(SignatureError):
        check_cert_url("https://sns.us-east-1.amazonaws.com:8443/x.pem")
    with pytest.raises(SignatureError):
        string_to_sign({"Type": "Other"})


async def test_handlers_without_configuration_are_not_found(outreach: Outreach) -> None:
    request = InboundRequest("POST", body=b"{}")
    assert (await outreach.handle_sendgrid_events(request)).status == 404
    assert (await outreach.handle_mailgun_events(request)).status == 404
    assert (await outreach.handle_ses_notification(request)).status == 404


async def test_sns_intake_requires_topics(odb: Database, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        Outreach(odb, outbox_dir=tmp_path, sns_certificates=SnsCertificates())


async def test_soft_bounces_deferrals_deliveries_and_replays(
    service: tuple[Outreach, ec.EllipticCurvePrivateKey],
) -> None:
    outreach, private = service
    await outreach.subscribers.add("soft@example.com")

    def signed(events: list[dict[str, str]]) -> InboundRequest:
        body = json.dumps(events).encode()
        stamp = str(int(time.time()))
        signature = private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }
        return InboundRequest("POST", headers, body=body)

    soft = {"event": "bounce", "type": "blocked", "email": "soft@example.com"}
    # Greylisting deferrals say nothing about the mailbox; a replayed event counts once.
    deferred = [
        {"event": "deferred", "email": "soft@example.com", "sg_event_id": f"d{n}"} for n in range(5)
    ]
    await outreach.handle_sendgrid_events(signed(deferred))
    for _ in range(3):
        await outreach.handle_sendgrid_events(signed([{**soft, "sg_event_id": "b1"}]))
    await outreach.handle_sendgrid_events(signed([{**soft, "sg_event_id": "b2"}]))
    # A delivery in between: the bounces were not consecutive.
    await outreach.handle_sendgrid_events(
        signed([{"event": "delivered", "email": "soft@example.com", "sg_event_id": "ok"}])
    )
    await outreach.handle_sendgrid_events(signed([{**soft, "sg_event_id": "b3"}]))
    await outreach.handle_sendgrid_events(signed([{**soft, "sg_event_id": "b4"}]))
    assert await outreach.suppressions.reason("soft@example.com") is None
    await outreach.handle_sendgrid_events(signed([{**soft, "sg_event_id": "b5"}]))
    assert await outreach.suppressions.reason("soft@example.com") is SuppressionReason.SOFT_BOUNCE


async def test_mailgun_replay_and_stale_timestamp(
    service: tuple[Outreach, ec.EllipticCurvePrivateKey],
) -> None:
    outreach, _ = service
    await outreach.subscribers.add("soft@example.com")

    def body(stamp: str, token: str) -> bytes:
        good = hmac.new(b"mg-signing-key", (stamp + token).encode(), hashlib.sha256).hexdigest()
        event = {"event": "failed", "severity": "temporary", "recipient": "soft@example.com"}
        signature = {"timestamp": stamp, "token": token, "signature": good}
        return json.dumps({"signature": signature, "event-data": event}).encode()

    now = str(int(time.time()))
    for _ in range(3):  # one signed webhook replayed: one soft bounce
        await outreach.handle_mailgun_events(InboundRequest("POST", body=body(now, "t1")))
    assert await outreach.suppressions.reason("soft@example.com") is None
    stale = body(str(int(time.time()) - 3600), "t2")
    assert (await outreach.handle_mailgun_events(InboundRequest("POST", body=stale))).status == 401
