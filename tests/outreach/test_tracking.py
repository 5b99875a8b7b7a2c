"""Signed open/click/unsubscribe links, machine opens, analytics and conversions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlsplit

import pytest

from dropkit.commerce.events import OrderPaid, OrderPlaced
from dropkit.core.errors import ConfigurationError
from dropkit.core.money import Money
from dropkit.outreach import (
    InboundRequest,
    MachineDetector,
    OutboxProvider,
    Outreach,
    SuppressionReason,
    TokenError,
    TokenSigner,
)
from dropkit.outreach.instrument import Instrumenter

BROWSER = {"User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Firefox/130.0"}


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


async def _sent_message(outreach: Outreach) -> tuple[str, dict[str, str]]:
    target = await outreach.lists.create("t")
    sub = await outreach.subscribers.add("ann@example.com")
    await outreach.lists.add(target.id, [sub.id])
    await outreach.templates.save(
        "t",
        subject="Hi",
        html='<html><body><a href="https://shop.example/lamp?x=1&amp;y=2">Lamp</a></body></html>',
    )
    campaign = await outreach.campaigns.create(
        "T", template="t", from_address="s@example.com", lists=[target.id]
    )
    await outreach.send_now(campaign.id)
    assert isinstance(outreach.provider, OutboxProvider)
    (path,) = outreach.provider.files()
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    html = next(
        p for p in message.iter_parts() if p.get_content_type() == "text/html"
    ).get_content()
    links = {
        "click": re.search(r'href="([^"]+)"', html).group(1).replace("&amp;", "&"),  # type: ignore[union-attr]
        "open": re.search(r'src="([^"]+)"', html).group(1).replace("&amp;", "&"),  # type: ignore[union-attr]
        "unsubscribe": str(message["List-Unsubscribe"]).strip("<>"),
        "post": str(message["List-Unsubscribe-Post"]),
    }
    return campaign.id, links


async def test_signed_links_redirect_only_to_campaign_urls(outreach: Outreach) -> None:
    campaign_id, links = await _sent_message(outreach)
    response = await outreach.handle_click(
        InboundRequest("GET", BROWSER, {"t": _token(links["click"])})
    )
    assert response.status == 302
    assert response.headers["Location"] == "https://shop.example/lamp?x=1&y=2"

    forged = outreach.signer.sign(
        "click", {"c": campaign_id, "s": "x", "u": "https://evil.example"}
    )
    assert (
        await outreach.handle_click(InboundRequest("GET", BROWSER, {"t": forged}))
    ).status == 400
    altered = _token(links["click"])[:-3] + "abc"
    assert (
        await outreach.handle_click(InboundRequest("GET", BROWSER, {"t": altered}))
    ).status == 400
    assert (await outreach.handle_click(InboundRequest("GET", BROWSER, {}))).status == 400
    other_secret = TokenSigner("another-secret-of-enough-length")
    foreign = other_secret.sign(
        "click", {"c": campaign_id, "s": "x", "u": "https://shop.example/lamp?x=1&y=2"}
    )
    assert (
        await outreach.handle_click(InboundRequest("GET", BROWSER, {"t": foreign}))
    ).status == 400
    # an open token is not a click token
    open_token = _token(links["open"])
    assert (
        await outreach.handle_click(InboundRequest("GET", BROWSER, {"t": open_token}))
    ).status == 400

    pixel = await outreach.handle_open(InboundRequest("GET", BROWSER, {"t": open_token}))
    assert pixel.status == 200 and pixel.body.startswith(b"GIF89a")
    apple = await outreach.handle_open(
        InboundRequest(
            "GET", {"User-Agent": "Mozilla/5.0"}, {"t": open_token}, client_ip="17.58.1.2"
        )
    )
    assert apple.status == 200
    assert (await outreach.handle_open(InboundRequest("GET", BROWSER, {"t": "x.y"}))).status == 400
    stats = await outreach.analytics.campaign(campaign_id)
    assert stats.total_opens == 2 and stats.machine_opens == 1
    assert stats.unique_clicks == 1
    assert stats.clicks_by_link == {"https://shop.example/lamp?x=1&y=2": 1}


async def test_unsubscribe_get_confirms_post_unsubscribes(outreach: Outreach) -> None:
    campaign_id, links = await _sent_message(outreach)
    assert links["post"] == "List-Unsubscribe=One-Click"
    token = _token(links["unsubscribe"])
    page = await outreach.handle_unsubscribe(InboundRequest("GET", BROWSER, {"t": token}))
    assert page.status == 200 and b"<form method='post'>" in page.body
    assert await outreach.suppressions.reason("ann@example.com") is None  # scanners change nothing
    done = await outreach.handle_unsubscribe(
        InboundRequest("POST", BROWSER, {"t": token}, b"List-Unsubscribe=One-Click")
    )
    assert done.status == 200
    assert await outreach.suppressions.reason("ann@example.com") is SuppressionReason.UNSUBSCRIBED
    await outreach.handle_unsubscribe(InboundRequest("POST", BROWSER, {"t": token}))
    assert (await outreach.analytics.campaign(campaign_id)).unsubscribes == 1
    assert (
        await outreach.handle_unsubscribe(InboundRequest("POST", BROWSER, {"t": "bad"}))
    ).status == 400


async def test_conversions_attributed_after_a_click(outreach: Outreach) -> None:
    campaign_id, links = await _sent_message(outreach)
    await outreach.handle_click(InboundRequest("GET", BROWSER, {"t": _token(links["click"])}))
    placed = OrderPlaced(
        order_id="o1", number=1, email="Ann@Example.com", total=Money("31.00", "EUR"), vendor_ids=[]
    )
    assert await outreach.conversions.attribute(placed)
    assert not await outreach.conversions.attribute(placed)  # redelivered event: once
    await outreach.conversions.on_order_paid(
        OrderPaid(order_id="o1", number=1, amount=Money("31.00", "EUR"))
    )
    late = OrderPlaced(
        order_id="o2",
        number=2,
        email="ann@example.com",
        total=Money("5.00", "EUR"),
        vendor_ids=[],
        occurred_at=datetime.now(UTC) + timedelta(days=30),
    )
    assert not await outreach.conversions.attribute(late)  # outside the attribution window
    stranger = OrderPlaced(
        order_id="o3",
        number=3,
        email="nobody@example.com",
        total=Money("1.00", "EUR"),
        vendor_ids=[],
    )
    await outreach.conversions.on_order_placed(stranger)
    unpaid = OrderPlaced(
        order_id="o4", number=4, email="ann@example.com", total=Money("9.00", "EUR"), vendor_ids=[]
    )
    assert await outreach.conversions.attribute(unpaid)  # attributed, but never paid: no sale
    stats = await outreach.analytics.campaign(campaign_id)
    assert stats.conversions == 1 and stats.revenue == {"EUR": Decimal("31.00")}
    assert stats.open_rate == 0.0 and stats.click_rate == 1.0


def test_tokens_expire_and_need_a_real_secret() -> None:
    now = [1000.0]
    signer = TokenSigner("a-secret-that-is-long-enough", clock=lambda: now[0])
    token = signer.sign("optin", {"s": "1"}, ttl=60)
    assert signer.verify("optin", token) == {"s": "1"}
    now[0] += 61
    with pytest.raises(TokenError):
        signer.verify("optin", token)
    with pytest.raises(TokenError):
        signer.verify("optin", "!!!." + token.split(".")[1])
    with pytest.raises(ConfigurationError):
        TokenSigner("short")


@pytest.mark.parametrize("secret", [b"k" * 16, b"k" * 64, b"k" * 65, bytes(range(200))])
def test_tokens_are_standard_hmac_sha256(secret: bytes) -> None:
    """Any HMAC implementation can check a token (keys longer than a block are hashed)."""
    body = base64.urlsafe_b64encode(b'{"c":"cmp_1","s":"sub_1"}').rstrip(b"=").decode()
    mac = hmac.new(secret, b"unsubscribe\x00" + body.encode(), hashlib.sha256).digest()[:20]
    token = f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    signer = TokenSigner(secret)
    assert signer.sign("unsubscribe", {"s": "sub_1", "c": "cmp_1"}) == token
    assert signer.verify("unsubscribe", token) == {"c": "cmp_1", "s": "sub_1"}
    with pytest.raises(TokenError):
        signer.verify("open", token)


@pytest.mark.parametrize(
    ("agent", "ip", "elapsed", "reason"),
    [
        ("Mozilla/5.0", None, 3600.0, "apple privacy proxy"),
        (BROWSER["User-Agent"], "17.1.2.3", 3600.0, "apple privacy proxy"),
        ("Mimecast Security Scanner", "1.2.3.4", 3600.0, "known scanner"),
        (BROWSER["User-Agent"], "1.2.3.4", 1.0, "prefetch"),
        ("", None, None, "no user agent"),
        (BROWSER["User-Agent"], "not-an-ip", 3600.0, None),
    ],
)
def test_machine_open_rules(
    agent: str, ip: str | None, elapsed: float | None, reason: str | None
) -> None:
    assert MachineDetector().reason(agent, ip, elapsed) == reason


async def test_text_part_links_are_tracked_too(outreach: Outreach) -> None:
    target = await outreach.lists.create("text")
    sub = await outreach.subscribers.add("tom@example.com")
    await outreach.lists.add(target.id, [sub.id])
    await outreach.templates.save(
        "text",
        subject="Hi",
        html='<html><body><a href="https://shop.example/lamp">Lamp</a></body></html>',
        text=(
            "The lamp (https://shop.example/lamp), the guide: https://shop.example/guide.\n"
            "Wiki: https://en.example/Lamp_(light)\nLeave: {{ unsubscribe_url }}\n"
        ),
    )
    campaign = await outreach.campaigns.create(
        "Text", template="text", from_address="s@example.com", lists=[target.id]
    )
    await outreach.send_now(campaign.id)
    assert isinstance(outreach.provider, OutboxProvider)
    (path,) = outreach.provider.files()
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    parts = {p.get_content_type(): p.get_content() for p in message.iter_parts()}
    text, html = parts["text/plain"].replace("\r\n", "\n"), parts["text/html"]
    assert "https://shop.example/lamp" not in text and "https://shop.example/guide" not in text
    clicks = re.findall(r"https://shop\.example/email/click\?t=[\w-]+\.[\w-]+", text)
    assert len(clicks) == 3
    # punctuation around a URL stays outside it; a URL's own parentheses stay inside
    assert f"The lamp ({clicks[0]}), the guide: {clicks[1]}.\nWiki: {clicks[2]}\n" in text
    assert clicks[0] in html  # one token per link, shared by both parts
    unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
    assert f"Leave: {unsubscribe}" in text  # our own links are not wrapped
    targets = []
    for click in clicks:
        response = await outreach.handle_click(InboundRequest("GET", BROWSER, {"t": _token(click)}))
        assert response.status == 302
        targets.append(response.headers["Location"])
    assert targets == [
        "https://shop.example/lamp",
        "https://shop.example/guide",
        "https://en.example/Lamp_(light)",
    ]


def test_cached_link_tokens_equal_signed_payloads() -> None:
    signer = TokenSigner("a-secret-of-sufficient-length")
    instrumenter = Instrumenter(signer, "https://shop.example/")
    source = instrumenter.source('cmp_"ü"')
    links = source.recipient("sub\\1")
    url = 'https://shop.example/p?q=ü&x="1"'
    click = links.click_url(url)
    assert click == instrumenter.url(
        "click", signer.sign("click", {"c": 'cmp_"ü"', "s": "sub\\1", "u": url})
    )
    assert signer.verify("click", _token(click)) == {"c": 'cmp_"ü"', "s": "sub\\1", "u": url}
    assert _token(links.open_url()) == signer.sign("open", {"c": 'cmp_"ü"', "s": "sub\\1"})
    assert source.links == {url}
    assert links.click_url("https://shop.example/email/open?t=x") is None  # our own URL
    assert links.click_url("https://shop.example/a b") is None
    html = links.html('<a href="https://shop.example/p?q=1&amp;r=2">x</a>')
    assert "&amp;" not in html.split("<img")[0] and html.endswith('style="display:none">')
    amp = Instrumenter(signer, "https://shop.example/?a&b").source("c").recipient("s")
    assert "/email/open?t=" in amp.html("<html><BODY>hi</BODY></html>").replace("&amp;", "&")
