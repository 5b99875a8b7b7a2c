"""Transactional mail: once per key, receipts despite unsubscribes, the send log, tracking."""

from __future__ import annotations

import pytest
from outreach_support import make_outreach

from dropkit.core.database import Database
from dropkit.outreach import (
    InboundRequest,
    OutboxProvider,
    Outreach,
    OutreachNotFoundError,
    SuppressedError,
    SuppressionReason,
    TemplateError,
    TransactionalKind,
)
from dropkit.outreach.errors import ProviderError
from dropkit.outreach.message import OutgoingMessage
from dropkit.outreach.providers.base import SendResult


class FlakyProvider(OutboxProvider):
    """The outbox, failing the first ``failures`` sends (a provider outage)."""

    def __init__(self, directory: object, failures: int) -> None:
        super().__init__(directory)  # type: ignore[arg-type]
        self.failures = failures

    async def send_batch(self, messages: object) -> list[SendResult]:  # type: ignore[override]
        if self.failures:
            self.failures -= 1
            return [SendResult(m.message_id, error=ProviderError("down")) for m in messages]  # type: ignore[attr-defined]
        return await super().send_batch(messages)  # type: ignore[arg-type]


async def test_same_key_sends_once(outreach: Outreach) -> None:
    await outreach.templates.save(
        "receipt",
        subject="Order {{ number }}",
        html='<p>Thanks</p><a href="https://shop.example/o/{{ number }}">order</a>',
    )
    first = await outreach.transactional.send(
        "order:1:confirmation", "receipt", "Ann@example.com", {"number": 1}
    )
    again = await outreach.transactional.send(
        "order:1:confirmation", "receipt", "ann@example.com", {"number": 1}
    )
    assert first.created and first.state == "sent"
    assert not again.created and again.id == first.id
    assert isinstance(outreach.provider, OutboxProvider)
    (path,) = outreach.provider.files()
    raw = path.read_text()
    assert "Subject: Order 1" in raw and "/email/click?t=" in raw


async def test_receipts_go_to_unsubscribed_but_not_to_bounced(outreach: Outreach) -> None:
    await outreach.templates.save("receipt", subject="Receipt", html="<p>Receipt</p>")
    await outreach.suppressions.add("gone@example.com", SuppressionReason.UNSUBSCRIBED)
    sent = await outreach.transactional.send("r1", "receipt", "gone@example.com")
    assert sent.state == "sent"
    with pytest.raises(SuppressedError):
        await outreach.transactional.send(
            "n1", "receipt", "gone@example.com", kind=TransactionalKind.NOTICE
        )
    await outreach.suppressions.add("dead@example.com", SuppressionReason.HARD_BOUNCE)
    with pytest.raises(SuppressedError):
        await outreach.transactional.send("r2", "receipt", "dead@example.com")
    logged = await outreach.transactional.send("r2", "receipt", "dead@example.com")
    assert logged.state == "suppressed" and not logged.created
    with pytest.raises(OutreachNotFoundError):
        await outreach.transactional.send("r3", "missing-template", "a@example.com")
    await outreach.templates.save("broken", subject="s", html="{{ 1 / 0 }}")
    with pytest.raises(TemplateError):
        await outreach.transactional.send("r4", "broken", "a@example.com")


async def test_a_failed_send_can_be_retried_under_its_key(odb: Database, tmp_path: object) -> None:
    provider = FlakyProvider(tmp_path, failures=1)
    service = make_outreach(odb, provider)
    await service.templates.save("receipt", subject="Receipt", html="<p>Receipt</p>")
    failed = await service.transactional.send("k", "receipt", "a@example.com")
    assert failed.state == "failed"
    retried = await service.transactional.send("k", "receipt", "a@example.com")
    assert retried.state == "sent" and retried.message_id == failed.message_id
    assert len(provider.files()) == 1
    await service.aclose()


def test_outgoing_message_is_plain_data() -> None:
    message = OutgoingMessage("a@b", "s@example.com", "r@example.com", "s", "<p>h</p>", "h")
    assert message.headers == () and message.tags == ()


async def test_unsubscribe_from_a_transactional_message(outreach: Outreach) -> None:
    await outreach.templates.save("notice", subject="Notice", html="<p>News</p>")
    await outreach.transactional.send(
        "n:1", "notice", "guest@example.com", kind=TransactionalKind.NOTICE
    )
    assert isinstance(outreach.provider, OutboxProvider)
    raw = outreach.provider.files()[0].read_text()
    token = raw.split("/email/unsubscribe?t=")[1].split(">")[0]
    response = await outreach.handle_unsubscribe(InboundRequest("POST", {}, {"t": token}))
    assert response.status == 200
    assert await outreach.suppressions.reason("guest@example.com") is SuppressionReason.UNSUBSCRIBED


class _LostLink(OutboxProvider):
    """Loses the connection after the message was handed over, ``times`` times."""

    def __init__(self, directory: object, times: int) -> None:
        super().__init__(directory)  # type: ignore[arg-type]
        self.times = times

    async def send_batch(self, messages: object) -> list[SendResult]:  # type: ignore[override]
        if self.times:
            self.times -= 1
            lost = ProviderError("connection lost after DATA", ambiguous=True)
            return [SendResult(m.message_id, error=lost) for m in messages]  # type: ignore[attr-defined]
        return await super().send_batch(messages)  # type: ignore[arg-type]


async def test_a_crashed_send_is_taken_over_after_its_lease(
    odb: Database, tmp_path: object
) -> None:
    provider = OutboxProvider(tmp_path)  # type: ignore[arg-type]
    service = make_outreach(odb, provider)
    try:
        await service.templates.save("receipt", subject="Receipt", html="<p>Receipt</p>")
        first = await service.transactional.send("k1", "receipt", "a@example.com")
        # A sender died after writing its key (claimed, lease long gone) - twice: once
        # before the provider took the message, once after.
        for key in ("k2", "k1"):
            await odb.execute(
                "INSERT INTO outreach_transactional (id, idempotency_key, kind, email, template,"
                " state, message_id, created_at, claimed_until) VALUES"
                " ({}, {}, 'receipt', 'b@example.com', 'receipt', 'claimed', {}, 0, 1)"
                " ON CONFLICT (idempotency_key) DO UPDATE SET state = 'claimed',"
                " claimed_until = 1",
                f"txm_{key}",
                key,
                f"{key}@dropkit.local",
            )
        live = await service.transactional.send("k2", "receipt", "b@example.com")
        assert live.state == "sent"
        again = await service.transactional.send("k1", "receipt", "a@example.com")
        assert again.state == "sent" and again.message_id == first.message_id
        assert len(provider.files()) == 2  # k1 was found at the provider: not sent twice
    finally:
        await service.aclose()


async def test_ambiguous_failures_go_to_review_and_suppression_is_decided_again(
    odb: Database, tmp_path: object
) -> None:
    provider = _LostLink(tmp_path, times=1)
    service = make_outreach(odb, provider)
    try:
        await service.templates.save("receipt", subject="Receipt", html="<p>Receipt</p>")
        lost = await service.transactional.send("k", "receipt", "a@example.com")
        assert lost.state == "review"
        repeat = await service.transactional.send("k", "receipt", "a@example.com")
        assert repeat.state == "review" and provider.files() == []  # never sent twice
        await service.suppressions.add("c@example.com", SuppressionReason.COMPLAINT)
        kind = TransactionalKind.NOTICE
        with pytest.raises(SuppressedError):
            await service.transactional.send("n", "receipt", "c@example.com", kind=kind)
        await service.suppressions.remove("c@example.com")  # lifted by a human
        sent = await service.transactional.send("n", "receipt", "c@example.com", kind=kind)
        assert sent.state == "sent" and len(provider.files()) == 1
    finally:
        await service.aclose()
