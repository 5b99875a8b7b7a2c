"""Rate limits held at the server (measured), shared through Redis; SMTP throttling and rejects."""

from __future__ import annotations

import itertools
import time

import anyio
import pytest
from outreach_support import make_outreach, seed_campaign
from smtp_sink import SmtpSink

from dropkit.core.database import Database
from dropkit.core.errors import ConfigurationError
from dropkit.outreach import (
    LocalRateLimiter,
    OutgoingMessage,
    Outreach,
    RateLimit,
    RedisRateLimiter,
    SendState,
    SmtpProvider,
)


# Protocol tests: one database is enough (storage is covered on both elsewhere).
@pytest.fixture
def odb(sqlite_odb: Database) -> Database:
    return sqlite_odb


@pytest.fixture
def outreach(sqlite_outreach: Outreach) -> Outreach:
    return sqlite_outreach


def _max_in_window(stamps: list[float], window: float = 1.0) -> int:
    stamps = sorted(stamps)
    best = 0
    start = 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_campaign_rate_limit_holds_at_the_smtp_server(odb: Database, sink: SmtpSink) -> None:
    service = make_outreach(
        odb,
        SmtpProvider("127.0.0.1", sink.port, connections=3),
        rate_limit=RateLimit(per_second=40),
    )
    try:
        campaign = await seed_campaign(service, 100)
        started = time.monotonic()
        report = await service.send_now(campaign.id)
        elapsed = time.monotonic() - started
    finally:
        await service.aclose()
    assert report.sent == 100
    assert elapsed >= 1.9  # 100 messages at 40/s need more than two seconds
    stamps = [r.at for r in sink.received]
    # Grants are a tenth of a second's budget (4); network jitter may shift one grant's arrival.
    assert _max_in_window(stamps) <= 40 + 4


async def test_redis_limiter_is_shared_between_processes_worth_of_clients(redis_url: str) -> None:
    limit = RateLimit(per_second=20)
    first = RedisRateLimiter(redis_url, limit, name="shared")
    second = RedisRateLimiter(redis_url, limit, name="shared")
    stamps: list[float] = []

    async def take(limiter: RedisRateLimiter) -> None:
        for _ in range(15):
            await limiter.acquire(1)
            stamps.append(time.monotonic())

    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(take, first)
        tg.start_soon(take, second)
    assert time.monotonic() - started >= 0.45  # 30 grants, 20 per second: at least one wait
    # stamps are taken after each grant reaches this task: allow 0.1 s of scheduling delay
    assert _max_in_window(stamps, window=0.9) <= 20
    with pytest.raises(ConfigurationError):
        await first.acquire(21)
    await first.aclose()
    await second.aclose()


async def test_local_limiter_windows() -> None:
    clock = [0.0]
    limiter = LocalRateLimiter(RateLimit(per_second=5, per_hour=7), clock=lambda: clock[0])
    await limiter.acquire(5)
    assert limiter._wait(1, 0.5) == pytest.approx(0.5)
    clock[0] = 1.0
    await limiter.acquire(2)
    assert limiter._wait(1, 1.0) == pytest.approx(3599.0)  # the first sends age out at 3600
    with pytest.raises(ConfigurationError):
        RateLimit(per_second=0).windows()
    with pytest.raises(ConfigurationError):
        await limiter.acquire(8)


async def test_smtp_throttling_backs_off_and_rejects_fail_permanently(
    odb: Database, sink: SmtpSink
) -> None:
    provider = SmtpProvider("127.0.0.1", sink.port, connections=2)
    service = make_outreach(odb, provider)
    try:
        campaign = await seed_campaign(service, 10)
        rejected = await service.subscribers.add("reject-me@example.com")
        await service.lists.add(campaign.list_ids[0], [rejected.id])
        sink.throttle_next = 2
        report = await service.send_now(campaign.id)
    finally:
        await service.aclose()
    assert report.throttled >= 1
    assert report.sent == 10 and report.failed == 1
    assert set(sink.per_recipient().values()) == {1} and len(sink.per_recipient()) == 10
    counts = await service.ledger.counts(campaign.id)
    assert counts == {SendState.SENT.value: 10, SendState.FAILED.value: 1}


async def test_unreachable_smtp_server_leaves_rows_pending(odb: Database, sink: SmtpSink) -> None:
    down = make_outreach(
        odb, SmtpProvider("127.0.0.1", 9, connections=1, timeout=2), retry_backoff=0.3
    )
    down.ledger.max_attempts = 1
    try:
        campaign = await seed_campaign(down, 2)
        started = time.time()
        report = await down.send_now(campaign.id)
    finally:
        await down.aclose()
    assert report.sent == 0 and report.retried == 2
    # Nothing could be sent: no attempt is spent, the rows wait out a back-off, and the
    # campaign stays open instead of being marked sent with its whole audience failed.
    assert await down.ledger.counts(campaign.id) == {SendState.PENDING.value: 2}
    rows = await odb.fetch("SELECT attempts, due_at FROM outreach_sends")
    assert {r["attempts"] for r in rows} == {0}
    assert all(float(r["due_at"]) >= started + 0.3 for r in rows)
    assert (await down.campaigns.state(campaign.id)).value == "sending"
    assert await down.ledger.next_due(campaign.id) is not None
    # The server is back once the back-off passed: every row goes out, once.
    await anyio.sleep(0.45)
    up = make_outreach(odb, SmtpProvider("127.0.0.1", sink.port, connections=1))
    try:
        report = await up.run(campaign.id)
    finally:
        await up.aclose()
    assert report.sent == 2 and set(sink.per_recipient().values()) == {1}
    assert (await up.campaigns.state(campaign.id)).value == "sent"


async def test_transient_errors_back_off_exponentially(odb: Database, sink: SmtpSink) -> None:
    service = make_outreach(
        odb, SmtpProvider("127.0.0.1", sink.port, connections=1), retry_backoff=10.0
    )
    try:
        campaign = await seed_campaign(service, 3)
        sink.hang_up_next = 1  # the link drops during RCPT TO: not ambiguous, just retried
        started = time.time()
        report = await service.send_now(campaign.id)
    finally:
        await service.aclose()
    assert report.sent == 2 and report.retried == 1 and report.review == 0
    row = await odb.fetchrow(
        "SELECT state, attempts, due_at FROM outreach_sends WHERE state = 'pending'"
    )
    assert row is not None and row["attempts"] == 1
    assert started + 10.0 <= float(row["due_at"]) <= time.time() + 12.5


async def test_a_silent_server_times_out_ambiguous_only_after_the_message_left(
    sink: SmtpSink,
) -> None:
    message = OutgoingMessage(
        "t1@shop.example", "news@shop.example", "ann@x.example", "s", "h", "t"
    )
    provider = SmtpProvider("127.0.0.1", sink.port, connections=1, timeout=0.5)
    try:
        sink.stall_rcpt = 2.0  # silent before the message was handed over: safe to retry
        (before,) = await provider.send_batch([message])
        sink.stall_rcpt, sink.stall_data = 0.0, 2.0  # silent after it: it may have been taken
        (after,) = await provider.send_batch([message])
        sink.stall_data = 0.0
        (fine,) = await provider.send_batch([message])  # a fresh connection replaces the dead one
        sink.stall_rcpt = sink.stall_data = 0.3  # slow but alive: each reply within its time
        (slow,) = await provider.send_batch([message])
    finally:
        await provider.aclose()
    assert slow.error is None
    assert before.error is not None and not before.error.ambiguous
    assert after.error is not None and after.error.ambiguous
    assert "did not answer within 0.5 s" in str(after.error)
    assert fine.error is None


async def test_a_send_cancelled_mid_dialogue_never_pools_its_connection(sink: SmtpSink) -> None:
    """The reply still owed to the cancelled DATA must not answer the next message's MAIL."""
    first = OutgoingMessage("c1@shop.example", "news@shop.example", "ann@x.example", "s", "h", "t")
    second = OutgoingMessage("c2@shop.example", "news@shop.example", "bob@x.example", "s", "h", "t")
    provider = SmtpProvider("127.0.0.1", sink.port, connections=1, timeout=5)
    try:
        sink.stall_data = 1.0
        with anyio.move_on_after(0.3):  # the caller gives up (a paused campaign, a shutdown)
            await provider.send_batch([first])
        sink.stall_data = 0.0
        (result,) = await provider.send_batch([second])
        await anyio.sleep(1.0)  # the stalled reply arrives meanwhile
    finally:
        await provider.aclose()
    assert result.error is None
    assert sink.per_recipient()["bob@x.example"] == 1


async def test_throttling_pauses_every_consumer_for_retry_after(
    odb: Database, sink: SmtpSink
) -> None:
    service = make_outreach(odb, SmtpProvider("127.0.0.1", sink.port, connections=1), batch_size=25)
    try:
        campaign = await seed_campaign(service, 120)
        await service.campaigns.schedule(campaign.id)
        await service.campaigns.begin(campaign.id)

        async def arm() -> None:
            while sink.count() < 20:
                await anyio.sleep(0.001)
            sink.throttle_next = 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(arm)
            report = await service.sender.run(campaign.id)
    finally:
        await service.aclose()
    assert report.throttled >= 1 and report.sent == 120
    assert set(sink.per_recipient().values()) == {1}
    stamps = sorted(r.at for r in sink.received)
    # 421 asks for a pause (1 s by default): nothing went out during it, from any consumer.
    assert max(b - a for a, b in itertools.pairwise(stamps)) >= 0.9


async def test_per_hour_limit_alone_grants_within_its_cap(odb: Database, tmp_path: object) -> None:
    assert RateLimit(per_hour=50).burst == 50
    assert RateLimit(per_day=3).burst == 3
    assert RateLimit(per_second=40, per_hour=2).burst == 2
    assert RateLimit().burst == 100
    service = make_outreach(
        odb, SmtpProvider("127.0.0.1", 9, connections=1), rate_limit=RateLimit(per_hour=5)
    )
    try:
        assert service.sender._grant == 5
        limiter = LocalRateLimiter(RateLimit(per_hour=5))
        await limiter.acquire(RateLimit(per_hour=5).burst)  # the sender's grant size fits
    finally:
        await service.aclose()


async def test_real_mail_needs_a_tracking_secret(odb: Database, tmp_path: object) -> None:
    provider = SmtpProvider("127.0.0.1", 9)
    with pytest.raises(ConfigurationError, match="tracking_secret"):
        Outreach(odb, provider=provider)
    await provider.aclose()
    demo = Outreach(odb, outbox_dir=str(tmp_path))  # the outbox (demo, development) may
    await demo.aclose()
