"""Subscribers, double opt-in, lists, segments in SQL, suppressions, CSV, erasure."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from outreach_support import insert_order

from dropkit.core.database import Database
from dropkit.core.errors import ValidationError
from dropkit.outreach import (
    All,
    AnyOf,
    AttributeEquals,
    BoughtProduct,
    Feedback,
    FeedbackKind,
    InList,
    InvalidEmailError,
    NoOrderWithin,
    Not,
    OpenedWithin,
    Outreach,
    OutreachNotFoundError,
    SpentOver,
    SubscriberStatus,
    SuppressedError,
    SuppressionReason,
    TokenError,
    TransactionalKind,
    normalise_email,
)
from dropkit.outreach.segments import rule_from_dict, rule_to_dict


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ann.Lee+news@Example.COM ", "ann.lee+news@example.com"),
        ("bob@bücher.de", "bob@xn--bcher-kva.de"),
    ],
)
def test_addresses_are_normalised(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "no-at",
        "a@b",
        "a@@b.com",
        "a b@c.com",
        ".a@b.com",
        "a@-b.com",
        "a@b.123",
        "x" * 65 + "@a.com",
    ],
)
def test_bad_addresses_are_refused(raw: str) -> None:
    with pytest.raises(InvalidEmailError):
        normalise_email(raw)


async def test_subscribers_merge_attributes_and_double_opt_in(outreach: Outreach) -> None:
    first = await outreach.subscribers.add(
        "A@Example.com", attributes={"plan": "free"}, timezone="Europe/Paris"
    )
    again = await outreach.subscribers.add("a@example.com", attributes={"city": "Lyon"})
    assert again.id == first.id
    assert again.attributes == {"plan": "free", "city": "Lyon"}
    assert again.timezone == "Europe/Paris"
    with pytest.raises(ValidationError):
        await outreach.subscribers.add("b@example.com", timezone="Mars/Olympus")

    pending, token = await outreach.subscribers.subscribe_pending(
        "new@example.com", consent_source="footer form"
    )
    assert pending.status is SubscriberStatus.PENDING
    with pytest.raises(TokenError):
        await outreach.subscribers.confirm(token[:-2] + "xx")
    confirmed = await outreach.subscribers.confirm(token)
    assert confirmed.status is SubscriberStatus.ACTIVE
    assert confirmed.consent_at is not None and confirmed.consent_source == "footer form"
    assert (await outreach.subscribers.confirm(token)).status is SubscriberStatus.ACTIVE


async def test_segments_compile_to_sql_over_store_and_engagement(
    outreach: Outreach, odb: Database
) -> None:
    now = time.time()
    ann = await outreach.subscribers.add("ann@example.com", attributes={"tier": "gold"})
    bob = await outreach.subscribers.add("bob@example.com", attributes={"tier": "silver"})
    await outreach.subscribers.add("cy@example.com", attributes={"tier": "gold"})
    vip = await outreach.lists.create("vip")
    await outreach.lists.add(vip.id, [bob.id])
    await insert_order(
        odb, "Ann@example.com", sku="LAMP", total="120.00", placed_at=now - 5 * 86400
    )
    await insert_order(
        odb, "bob@example.com", sku="DESK", total="30.00", placed_at=now - 90 * 86400
    )
    await insert_order(
        odb, "bob@example.com", sku="LAMP", total="99.00", placed_at=now, status="cancelled"
    )
    await outreach.tracking.record("open", "c1", ann.id)
    await outreach.tracking.record("open", "c1", bob.id, machine=True)

    segments = outreach.segments
    assert await segments.members(AttributeEquals("tier", "gold")) == [
        "ann@example.com",
        "cy@example.com",
    ]
    assert await segments.members(InList(vip.id)) == ["bob@example.com"]
    assert await segments.members(BoughtProduct(sku="LAMP")) == ["ann@example.com"]
    assert await segments.members(SpentOver(Decimal("100"), "USD")) == ["ann@example.com"]
    assert await segments.members(NoOrderWithin(60)) == ["bob@example.com", "cy@example.com"]
    assert await segments.members(OpenedWithin(30)) == ["ann@example.com"]
    rule = All((AttributeEquals("tier", "gold"), Not(BoughtProduct(sku="LAMP"))))
    assert await segments.members(rule) == ["cy@example.com"]
    assert await segments.members(AnyOf(())) == []
    assert rule_from_dict(rule_to_dict(rule)) == rule
    stored = await segments.create("gold-no-lamp", rule)
    assert (await segments.get(stored.id)).rule == rule
    with pytest.raises(ValidationError):
        await segments.create("gold-no-lamp", rule)
    with pytest.raises(ValidationError):
        rule_from_dict({"type": "nope"})
    with pytest.raises(OutreachNotFoundError):
        await segments.get("seg_missing")


async def test_suppressions_and_soft_bounce_threshold(outreach: Outreach) -> None:
    await outreach.subscribers.add("soft@example.com")
    assert not await outreach.suppressions.soft_bounce("soft@example.com")
    assert not await outreach.suppressions.soft_bounce("soft@example.com")
    assert await outreach.suppressions.soft_bounce("soft@example.com")
    assert await outreach.suppressions.reason("SOFT@example.com") is SuppressionReason.SOFT_BOUNCE
    assert (
        await outreach.subscribers.by_email("soft@example.com")
    ).status is SubscriberStatus.BOUNCED
    await outreach.suppressions.add("x@example.com", SuppressionReason.MANUAL)
    assert await outreach.suppressions.reason("x@example.com") is SuppressionReason.MANUAL
    assert await outreach.suppressions.reason("y@example.com") is None
    assert await outreach.suppressions.remove("x@example.com")
    assert not await outreach.suppressions.remove("x@example.com")
    assert await outreach.suppressions.count() == 1


async def test_csv_import_export_and_erasure(outreach: Outreach) -> None:
    target = await outreach.lists.create("imported")
    report = await outreach.import_csv(
        "email,name,timezone\nann@example.com,Ann,Europe/Berlin\nbroken,X,\nbob@example.com,Bob,\n",
        list_id=target.id,
    )
    assert report.imported == 2
    assert report.errors and report.errors[0][0] == 3
    assert (await outreach.lists.by_name("imported")).size == 2
    exported = await outreach.export_csv()
    assert exported.splitlines()[0] == "email,status,timezone,locale,consent_source,name"
    assert "ann@example.com,active,Europe/Berlin,,csv import,Ann" in exported
    with pytest.raises(ValidationError):
        await outreach.import_csv("name\nx\n")

    ann = await outreach.subscribers.by_email("ann@example.com")
    await outreach.tracking.record("open", "c1", ann.id)
    await outreach.subscribers.delete(ann.id)
    with pytest.raises(OutreachNotFoundError):
        await outreach.subscribers.get(ann.id)
    assert await outreach.lists.members(target.id) == ["bob@example.com"]
    remaining = await outreach.database.fetchval(
        "SELECT COUNT(*) FROM outreach_events WHERE subscriber_id = {}", ann.id
    )
    assert int(remaining) == 0


async def test_an_unsubscribed_address_can_consent_again(outreach: Outreach) -> None:
    await outreach.templates.save("confirm", subject="Confirm", html="<p>Confirm</p>")
    await outreach.subscribers.add("back@example.com")
    await outreach.suppressions.add("back@example.com", SuppressionReason.UNSUBSCRIBED)
    assert (await outreach.subscribers.by_email("back@example.com")).status.value == (
        "unsubscribed"
    )
    # A new signup: pending, and its confirmation mail may go out despite the old unsubscribe.
    pending, token = await outreach.subscribers.subscribe_pending(
        "back@example.com", consent_source="footer form"
    )
    assert pending.status is SubscriberStatus.PENDING
    mail = await outreach.transactional.send(
        "optin:back", "confirm", "back@example.com", kind=TransactionalKind.OPT_IN
    )
    assert mail.state == "sent"
    confirmed = await outreach.subscribers.confirm(token)
    assert confirmed.status is SubscriberStatus.ACTIVE
    assert await outreach.suppressions.reason("back@example.com") is None
    # Bounces and complaints are never lifted by a consent: a human decides.
    await outreach.subscribers.add("dead@example.com")
    await outreach.suppressions.add("dead@example.com", SuppressionReason.HARD_BOUNCE)
    with pytest.raises(SuppressedError):
        await outreach.subscribers.resubscribe("dead@example.com", consent_source="checkout")
    await outreach.suppressions.add("tick@example.com", SuppressionReason.UNSUBSCRIBED)
    await outreach.subscribers.add("tick@example.com")
    again = await outreach.subscribers.resubscribe("tick@example.com", consent_source="checkout")
    assert again.status is SubscriberStatus.ACTIVE and again.consent_source == "checkout"


async def test_delete_forgets_address_keyed_rows(outreach: Outreach) -> None:
    await outreach.templates.save("receipt", subject="Receipt", html="<p>Thanks</p>")
    gone = await outreach.subscribers.add("gone@example.com")
    await outreach.transactional.send("order:1", "receipt", "gone@example.com")
    await outreach.feedback.apply([Feedback(FeedbackKind.DELIVERED, "gone@example.com")])
    await outreach.subscribers.delete(gone.id)
    for table in ("outreach_transactional", "outreach_events"):
        count = await outreach.database.fetchval(
            f"SELECT COUNT(*) FROM {table} WHERE email = {{}}", "gone@example.com"
        )
        assert count == 0
