"""SendGrid and Mailgun batch APIs against local servers speaking their protocols."""

from __future__ import annotations

import json
from base64 import b64encode
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

import pytest
from outreach_support import make_outreach, seed_campaign
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dropkit.app.loopback import serve_on_loopback
from dropkit.core.database import Database
from dropkit.outreach import (
    MailgunProvider,
    OutgoingMessage,
    Outreach,
    ProviderConfigurationError,
    ProviderThrottledError,
    SendGridProvider,
)
from dropkit.outreach.models import CampaignState


# Protocol tests: one database is enough (storage is covered on both elsewhere).
@pytest.fixture
def odb(sqlite_odb: Database) -> Database:
    return sqlite_odb


@pytest.fixture
def outreach(sqlite_outreach: Outreach) -> Outreach:
    return sqlite_outreach


class FakeApis:
    """SendGrid's /v3/mail/send and Mailgun's /v3/{domain}/messages, recording deliveries."""

    def __init__(self) -> None:
        self.delivered: Counter[str] = Counter()
        self.calls: list[int] = []
        self.throttle = 0
        self.fail_permanent = False
        self.bodies: list[dict[str, Any]] = []
        self.refused: list[int] = []

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v3/mail/send", self.sendgrid, methods=["POST"]),
                Route("/v3/{domain}/messages", self.mailgun, methods=["POST"]),
            ]
        )

    async def sendgrid(self, request: Request) -> Response:
        if request.headers.get("authorization") != "Bearer sg-key":
            return JSONResponse({"errors": [{"message": "unauthorized"}]}, status_code=401)
        if self.throttle:
            self.throttle -= 1
            return JSONResponse({"errors": []}, status_code=429, headers={"Retry-After": "0.05"})
        body = json.loads(await request.body())
        self.bodies.append(body)
        if self.fail_permanent:
            return JSONResponse({"errors": [{"message": "bad from"}]}, status_code=400)
        personalizations = body["personalizations"]
        if any(p["to"][0]["email"].startswith("poison") for p in personalizations):
            self.refused.append(len(personalizations))
            return JSONResponse({"errors": [{"message": "invalid to"}]}, status_code=400)
        assert len(personalizations) <= 1000
        for p in personalizations:
            assert "X-Dropkit-Message-Id" in p["headers"] and p["subject"]
            self.delivered[p["to"][0]["email"]] += 1
        self.calls.append(len(personalizations))
        return Response(status_code=202, headers={"X-Message-Id": f"sg{len(self.calls)}"})

    async def mailgun(self, request: Request) -> Response:
        if request.headers.get("authorization") != "Basic " + b64encode(b"api:mg-key").decode():
            return Response("Forbidden", status_code=401)
        if self.throttle:
            self.throttle -= 1
            return JSONResponse(
                {"message": "rate limit exceeded"}, status_code=429, headers={"Retry-After": "0.05"}
            )
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = parse_qs((await request.body()).decode())
        assert request.path_params["domain"] == "mg.example.com"
        variables = json.loads(form["recipient-variables"][0])
        recipients = form["to"]
        assert set(recipients) == set(variables)
        assert form["subject"] == ["%recipient.subject%"]
        assert form["v:dropkit_subscriber"] == ["%recipient.t_1%"]
        for r in recipients:
            assert variables[str(r)]["html"]
            self.delivered[str(r)] += 1
        self.calls.append(len(recipients))
        return JSONResponse({"id": f"<mg{len(self.calls)}@mg.example.com>", "message": "Queued"})


async def test_sendgrid_batches_a_campaign_and_backs_off_on_429(odb: Database) -> None:
    fake = FakeApis()
    fake.throttle = 1
    async with serve_on_loopback(fake.app()) as url:
        provider = SendGridProvider("sg-key", base_url=url)
        provider.batch_size = 40
        service = make_outreach(odb, provider)
        try:
            campaign = await seed_campaign(service, 100)
            report = await service.send_now(campaign.id)
        finally:
            await service.aclose()
    assert report.sent == 100 and report.throttled > 0
    assert len(fake.delivered) == 100 and set(fake.delivered.values()) == {1}
    assert max(fake.calls) == 40
    html = fake.bodies[-1]["personalizations"][0]["substitutions"]["-dropkit-html-"]
    assert "/email/click?t=" in html


async def test_sendgrid_errors_and_large_messages() -> None:
    fake = FakeApis()
    async with serve_on_loopback(fake.app()) as url:
        provider = SendGridProvider("sg-key", base_url=url)
        big = OutgoingMessage(
            "m1@x",
            "S <s@example.com>",
            "big@example.com",
            "s",
            "<p>" + "x" * 20000,
            "t",
            reply_to="r@example.com",
        )
        (result,) = await provider.send_batch([big])
        assert result.accepted and fake.bodies[-1]["content"][1]["value"].startswith("<p>x")
        fake.fail_permanent = True
        (result,) = await provider.send_batch([big])
        assert result.error is not None and result.error.permanent
        fake.fail_permanent = False
        fake.throttle = 1
        (result,) = await provider.send_batch([big])
        assert isinstance(result.error, ProviderThrottledError)
        assert await provider.accepted(["m1@x"]) is None
        await provider.aclose()
        unauthorised = SendGridProvider("wrong", base_url=url)
        with pytest.raises(ProviderConfigurationError):
            await unauthorised.send_batch([big])
        await unauthorised.aclose()
    # Nothing listens: the request never left, so it is a plain transient error.
    down = SendGridProvider("sg-key", base_url="http://127.0.0.1:9")
    (result,) = await down.send_batch([big])
    assert result.error is not None and not result.error.ambiguous
    assert not result.error.permanent
    await down.aclose()


async def test_mailgun_recipient_variables_batch(odb: Database) -> None:
    fake = FakeApis()
    async with serve_on_loopback(fake.app()) as url:
        provider = MailgunProvider("mg-key", "mg.example.com", base_url=url)
        service = make_outreach(odb, provider)
        try:
            campaign = await seed_campaign(service, 30)
            report = await service.send_now(campaign.id)
        finally:
            await service.aclose()
    assert report.sent == 30
    assert fake.calls == [30]
    assert len(fake.delivered) == 30 and set(fake.delivered.values()) == {1}
    rows = await odb.fetch("SELECT DISTINCT provider_message_id FROM outreach_sends")
    assert [r["provider_message_id"] for r in rows] == ["mg1@mg.example.com"]


async def test_mailgun_backs_off_on_429_and_sends_each_recipient_once(odb: Database) -> None:
    fake = FakeApis()
    fake.throttle = 2  # the first two calls are refused with 429 and a Retry-After
    async with serve_on_loopback(fake.app()) as url:
        provider = MailgunProvider("mg-key", "mg.example.com", base_url=url)
        provider.batch_size = 10
        service = make_outreach(odb, provider)
        try:
            campaign = await seed_campaign(service, 35)
            report = await service.send_now(campaign.id)
        finally:
            await service.aclose()
    assert report.sent == 35 and report.throttled >= 10 and report.failed == 0
    assert len(fake.delivered) == 35 and set(fake.delivered.values()) == {1}
    assert max(fake.calls) == 10
    counts = await service.ledger.counts(campaign.id)
    assert counts == {"sent": 35}
    # throttling is not an attempt: no row was charged for the refused calls
    attempts = await odb.fetch("SELECT DISTINCT attempts FROM outreach_sends")
    assert [r["attempts"] for r in attempts] == [1]


async def test_mailgun_429_and_refusals_map_to_errors() -> None:
    fake = FakeApis()
    message = OutgoingMessage(
        "m1@x",
        "S <s@example.com>",
        "a@example.com",
        "s",
        "<p>h</p>",
        "h",
        tags=(("dropkit_campaign", "c1"), ("dropkit_subscriber", "s1")),
    )
    async with serve_on_loopback(fake.app()) as url:
        provider = MailgunProvider("mg-key", "mg.example.com", base_url=url)
        fake.throttle = 1
        (result,) = await provider.send_batch([message])
        assert isinstance(result.error, ProviderThrottledError)
        assert result.error.retry_after == pytest.approx(0.05)
        (result,) = await provider.send_batch([message])
        assert result.accepted and result.provider_message_id == "mg1@mg.example.com"
        assert await provider.accepted(["m1@x"]) is None  # events are eventually consistent
        await provider.aclose()
        wrong = MailgunProvider("wrong", "mg.example.com", base_url=url)
        with pytest.raises(ProviderConfigurationError):
            await wrong.send_batch([message])
        await wrong.aclose()


async def test_a_refused_batch_is_split_until_the_bad_message_is_alone(odb: Database) -> None:
    fake = FakeApis()
    async with serve_on_loopback(fake.app()) as url:
        service = make_outreach(odb, SendGridProvider("sg-key", base_url=url))
        try:
            campaign = await seed_campaign(service, 15)
            poison = await service.subscribers.add("poison@example.com")
            await service.lists.add(campaign.list_ids[0], [poison.id])
            report = await service.send_now(campaign.id)
        finally:
            await service.aclose()
    assert report.sent == 15 and report.failed == 1
    assert len(fake.delivered) == 15 and set(fake.delivered.values()) == {1}
    assert fake.refused[0] == 16 and fake.refused[-1] == 1
    counts = await service.ledger.counts(campaign.id)
    assert counts == {"sent": 15, "failed": 1}


async def test_a_refused_key_stops_the_run_and_hands_the_rows_back(odb: Database) -> None:
    fake = FakeApis()
    async with serve_on_loopback(fake.app()) as url:
        provider = SendGridProvider("wrong", base_url=url)
        provider.batch_size = 5
        service = make_outreach(odb, provider)
        try:
            campaign = await seed_campaign(service, 12)
            with pytest.raises(ProviderConfigurationError):
                await service.send_now(campaign.id)
            assert await service.campaigns.state(campaign.id) is CampaignState.SENDING
            assert await service.ledger.counts(campaign.id) == {"pending": 12}
            attempts = await odb.fetch("SELECT DISTINCT attempts FROM outreach_sends")
            assert [r["attempts"] for r in attempts] == [0]
            # The key is fixed: the same campaign goes out, each message once.
            fixed = make_outreach(odb, SendGridProvider("sg-key", base_url=url))
            try:
                report = await fixed.run(campaign.id)
            finally:
                await fixed.aclose()
        finally:
            await service.aclose()
    assert report.sent == 12 and not fake.delivered.total() - 12
