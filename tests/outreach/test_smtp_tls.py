"""SMTP with STARTTLS and AUTH: a relay that refuses plain text, against a certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from outreach_support import make_outreach, seed_campaign

from dropkit.core.database import Database
from dropkit.outreach import (
    OutgoingMessage,
    ProviderConfigurationError,
    SendState,
    SmtpProvider,
)


@dataclass
class _Relay:
    port: int
    ca: str  # the certificate, PEM: what a client must trust
    accepted: list[tuple[str, bool, bool]] = field(default_factory=list)  # rcpt, TLS, AUTH


def _certificate(tmp_path: Path) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dropkit test relay")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = tmp_path / "relay.pem", tmp_path / "relay.key"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, pem.decode()


class _Handler:
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        for rcpt in envelope.rcpt_tos:
            self.relay.accepted.append((rcpt, session.ssl is not None, session.authenticated))
        return "250 OK"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and auth_data == (b"relay-user", b"s3cret")
    return AuthResult(success=good, handled=False)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[_Relay]:
    cert, key, pem = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = _Relay(port, pem)
    controller = Controller(
        _Handler(state),
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=_authenticate,
    )
    controller.start()
    try:
        yield state
    finally:
        controller.stop()


def _trusting(relay: _Relay) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=relay.ca)


def _over_starttls(relay: _Relay, password: str, connections: int = 1) -> SmtpProvider:
    """A provider that trusts the relay's CA and logs in after STARTTLS."""
    return SmtpProvider(
        "127.0.0.1",
        relay.port,
        username="relay-user",
        password=password,
        start_tls=True,
        tls_context=_trusting(relay),
        connections=connections,
    )


async def test_campaign_over_starttls_with_auth(sqlite_odb: Database, relay: _Relay) -> None:
    service = make_outreach(sqlite_odb, _over_starttls(relay, "s3cret", connections=2))
    try:
        campaign = await seed_campaign(service, 6)
        report = await service.send_now(campaign.id)
    finally:
        await service.aclose()
    assert report.sent == 6
    assert len({rcpt for rcpt, _, _ in relay.accepted}) == 6 == len(relay.accepted)
    # every message went over TLS, from an authenticated session
    assert {(tls, login) for _, tls, login in relay.accepted} == {(True, True)}


async def test_bad_password_or_untrusted_certificate_sends_nothing(relay: _Relay) -> None:
    message = OutgoingMessage("m1@x", "s@example.com", "a@example.com", "s", "<p>h</p>", "h")
    wrong = _over_starttls(relay, "wrong")
    untrusted = SmtpProvider(
        "127.0.0.1", relay.port, username="relay-user", password="s3cret", start_tls=True
    )
    plain = SmtpProvider("127.0.0.1", relay.port, start_tls=False)  # the relay requires TLS
    with pytest.raises(ProviderConfigurationError, match="535"):
        await wrong.send_batch([message])
    await wrong.aclose()
    errors = []
    for provider in (untrusted, plain):
        (result,) = await provider.send_batch([message])
        assert result.error is not None and not result.accepted
        errors.append(str(result.error).lower())
        await provider.aclose()
    assert relay.accepted == []
    assert "certificate" in errors[0]


async def test_refused_credentials_stop_the_run_and_keep_the_rows(
    sqlite_odb: Database, relay: _Relay
) -> None:
    service = make_outreach(sqlite_odb, _over_starttls(relay, "wrong"))
    service.ledger.max_attempts = 1
    try:
        campaign = await seed_campaign(service, 2)
        with pytest.raises(ProviderConfigurationError):
            await service.send_now(campaign.id)
        counts = await service.ledger.counts(campaign.id)
    finally:
        await service.aclose()
    # A wrong password is not the recipients' fault: their rows wait, no attempt spent.
    assert counts == {SendState.PENDING.value: 2}
    attempts = await sqlite_odb.fetch("SELECT DISTINCT attempts FROM outreach_sends")
    assert [r["attempts"] for r in attempts] == [0]
