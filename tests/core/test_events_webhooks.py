"""Events (transactional outbox) and outbound webhooks against a real receiver (uvicorn)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dropkit import Dropkit
from dropkit.core.errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    UnsafeTargetError,
    WebhookError,
    WebhookVerificationError,
)
from dropkit.core.events import Event, StoredEvent
from dropkit.core.jobs import JobState, RetryPolicy
from dropkit.core.webhooks import DeliveryState, verify


class OrderPlaced(Event):
    type = "order.placed"
    order_id: str
    total: str

    @property
    def subject(self) -> str:
        return self.order_id


class ProductCreated(Event):
    type = "product.created"
    sku: str


@dataclass
class Receiver:
    """A webhook receiver on loopback whose answers the test scripts."""

    url: str = ""
    secret: str = ""
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    body: str | None = None
    gate: anyio.Event | None = None  # when set, answers wait until it fires

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if self.gate is not None:
            await self.gate.wait()
        self.times.append(time.monotonic())
        try:
            verify(self.secret, dict(request.headers), body)
            self.verified.append(True)
        except WebhookVerificationError:
            self.verified.append(False)
        self.received.append({"headers": dict(request.headers), "body": json.loads(body)})
        status, headers = self.script.pop(0) if self.script else (200, {})
        if self.body is not None:
            return Response(self.body, status_code=status, headers=headers)
        return JSONResponse({"ok": status < 300}, status_code=status, headers=headers)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = Starlette(routes=[Route("/hook", rec.handle, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    with anyio.fail_after(10):
        while not server.started:
            await anyio.sleep(0.01)
    rec.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rec
    finally:
        server.should_exit = True
        await task
        sock.close()


FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.05, factor=2, jitter=False)


@pytest.fixture
async def kit(database_url: str, tmp_path: Any) -> AsyncIterator[Dropkit]:
    async with Dropkit(
        database_url=database_url,
        data_dir=tmp_path,
        poll_interval=0.05,
        sweep_interval=0.2,
        allow_private_webhooks=True,
        webhook_retry=FAST_RETRY,
    ) as k:
        yield k


async def wait_for(predicate: Any, timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.02)


async def test_subscribers_get_typed_events_once(kit: Dropkit) -> None:
    seen: list[OrderPlaced] = []
    stored_seen: list[StoredEvent] = []
    failures = {"count": 0}

    @kit.events.subscriber(OrderPlaced)
    async def on_order(event: OrderPlaced) -> None:
        seen.append(event)

    @kit.events.subscriber("order.*", name="flaky-audit")
    async def audit(event: StoredEvent) -> None:
        if failures["count"] == 0:
            failures["count"] += 1
            raise RuntimeError("audit store down")
        stored_seen.append(event)

    stored = await kit.events.publish(OrderPlaced(order_id="o-1", total="9.99 USD"))
    assert stored.subject == "o-1"

    async def delivered() -> bool:
        return len(seen) == 1 and len(stored_seen) == 1

    await wait_for(delivered)
    assert seen[0].order_id == "o-1"
    assert seen[0].id == stored.id
    assert stored_seen[0].payload == {"order_id": "o-1", "total": "9.99 USD"}
    listed = await kit.events.list(type="order.placed")
    assert [e.id for e in listed] == [stored.id]
    assert (await kit.events.get(stored.id)).dispatched_at is not None
    await anyio.sleep(0.2)
    assert len(seen) == 1  # at least once, and here exactly once


async def test_event_and_change_commit_or_vanish_together(kit: Dropkit) -> None:
    seen: list[StoredEvent] = []

    @kit.events.subscriber("*")
    async def everything(event: StoredEvent) -> None:
        seen.append(event)

    with pytest.raises(RuntimeError):
        async with kit.database.transaction():
            await kit.events.publish(ProductCreated(sku="lost"))
            raise RuntimeError("the product insert failed")
    async with kit.database.transaction():
        kept = await kit.events.publish(ProductCreated(sku="kept"))

    async def one() -> bool:
        return len(seen) == 1

    await wait_for(one)
    await anyio.sleep(0.2)
    assert [e.id for e in seen] == [kept.id]
    assert [e.id for e in await kit.events.list()] == [kept.id]


async def test_dispatch_twice_creates_nothing_twice(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    receiver.secret = endpoint.secret
    calls: list[str] = []

    @kit.events.subscriber("product.created", name="count")
    async def count(event: StoredEvent) -> None:
        calls.append(event.id)

    stored = await kit.events.publish(ProductCreated(sku="a"))

    async def delivered() -> bool:
        return len(receiver.received) == 1 and len(calls) == 1

    await wait_for(delivered)
    # The dispatch job runs again (at-least-once): replay it by hand.
    dispatch = await kit.jobs.get_by_key(f"event:{stored.id}:dispatch")
    await kit.database.execute("UPDATE dropkit_jobs SET state = 'dead' WHERE id = {}", dispatch.id)
    await kit.jobs.retry(dispatch.id)
    assert (await kit.jobs.wait(dispatch.id, timeout=10)).state is JobState.SUCCEEDED
    await anyio.sleep(0.3)
    assert len(receiver.received) == 1
    assert calls == [stored.id]


async def test_webhook_is_signed_and_logged(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(
        receiver.url, event_types=["order.*"], allow_private=True, description="erp"
    )
    receiver.secret = endpoint.secret
    await kit.events.publish(ProductCreated(sku="ignored"))  # filtered out
    stored = await kit.events.publish(OrderPlaced(order_id="o-7", total="1.00 EUR"))

    async def delivered() -> bool:
        found = await kit.webhooks.deliveries(state="delivered")
        return len(found) == 1

    await wait_for(delivered)
    assert receiver.verified == [True]
    request = receiver.received[0]
    assert request["body"] == {
        "type": "order.placed",
        "timestamp": stored.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": {"id": stored.id, "subject": "o-7", "order_id": "o-7", "total": "1.00 EUR"},
    }
    (delivery,) = await kit.webhooks.deliveries(endpoint_id=endpoint.id)
    assert request["headers"]["webhook-id"] == delivery.id
    assert delivery.last_status == 200
    assert delivery.delivered_at is not None
    (attempt,) = await kit.webhooks.attempts(delivery.id)
    assert attempt.status == 200
    assert attempt.duration_ms > 0


async def test_failing_receiver_recovers_with_backoff(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    receiver.secret = endpoint.secret
    receiver.script = [(503, {}), (500, {})]
    await kit.events.publish(ProductCreated(sku="b"))

    async def delivered() -> bool:
        return len(await kit.webhooks.deliveries(state="delivered")) == 1

    await wait_for(delivered)
    (delivery,) = await kit.webhooks.deliveries()
    assert [a.status for a in await kit.webhooks.attempts(delivery.id)] == [503, 500, 200]
    assert len({r["headers"]["webhook-id"] for r in receiver.received}) == 1
    assert all(receiver.verified)
    gaps = [b - a for a, b in zip(receiver.times, receiver.times[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1


async def test_retry_after_is_honoured(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    receiver.secret = endpoint.secret
    receiver.script = [(429, {"retry-after": "1"})]
    await kit.events.publish(ProductCreated(sku="c"))

    async def delivered() -> bool:
        return len(await kit.webhooks.deliveries(state="delivered")) == 1

    await wait_for(delivered)
    assert receiver.times[1] - receiver.times[0] >= 1.0


async def test_client_errors_are_not_retried(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    receiver.secret = endpoint.secret
    receiver.script = [(400, {}), (400, {})]
    await kit.events.publish(ProductCreated(sku="d"))

    async def failed() -> bool:
        return len(await kit.webhooks.deliveries(state="failed")) == 1

    await wait_for(failed)
    await anyio.sleep(0.3)
    assert len(receiver.received) == 1
    (delivery,) = await kit.webhooks.deliveries()
    assert delivery.last_status == 400


async def test_exhausted_delivery_is_dead_and_can_be_redelivered(
    kit: Dropkit, receiver: Receiver
) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    receiver.secret = endpoint.secret
    receiver.script = [(500, {})] * 3
    await kit.events.publish(ProductCreated(sku="e"))

    async def dead() -> bool:
        return len(await kit.webhooks.deliveries(state="dead")) == 1

    await wait_for(dead)
    (delivery,) = await kit.webhooks.deliveries()
    assert delivery.attempts == 3
    assert delivery.job_id is not None
    assert (await kit.jobs.get(delivery.job_id)).state is JobState.DEAD
    again = await kit.webhooks.redeliver(delivery.id)
    assert again.state is DeliveryState.PENDING

    async def delivered() -> bool:
        return (await kit.webhooks.delivery(delivery.id)).state is DeliveryState.DELIVERED

    await wait_for(delivered)
    assert [r["headers"]["webhook-id"] for r in receiver.received] == [delivery.id] * 4


async def test_disabled_endpoints_get_nothing(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    await kit.webhooks.disable(endpoint.id)
    stored = await kit.events.publish(ProductCreated(sku="f"))

    async def dispatched() -> bool:
        return (await kit.events.get(stored.id)).dispatched_at is not None

    await wait_for(dispatched)
    assert await kit.webhooks.deliveries() == []
    assert (await kit.webhooks.enable(endpoint.id)).enabled
    await kit.webhooks.remove(endpoint.id)
    assert await kit.webhooks.endpoints() == []
    with pytest.raises(NotFoundError):
        await kit.webhooks.remove(endpoint.id)


async def test_private_targets_are_refused_unless_allowed(
    tmp_path: Any, receiver: Receiver
) -> None:
    async with Dropkit(data_dir=tmp_path) as strict:
        with pytest.raises(UnsafeTargetError):
            await strict.webhooks.add_endpoint(receiver.url)
        with pytest.raises(UnsafeTargetError, match="disabled"):
            await strict.webhooks.add_endpoint(receiver.url, allow_private=True)
        with pytest.raises(UnsafeTargetError):
            await strict.webhooks.add_endpoint("http://169.254.169.254/latest/meta-data")
        with pytest.raises(UnsafeTargetError):
            await strict.webhooks.add_endpoint("ftp://example.com/x")


def test_event_types_are_validated() -> None:
    with pytest.raises(ConfigurationError):

        class Bad(Event):
            type = "Not A Type"

    kit = Dropkit(data_dir="unused")

    async def handler(event: StoredEvent) -> None: ...

    with pytest.raises(ConfigurationError):
        kit.events.subscribe("bad type", handler)
    kit.events.subscribe("order.*", handler)
    with pytest.raises(ConfigurationError, match="twice"):
        kit.events.subscribe("order.*", handler)


async def test_redirects_fail_at_once(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    receiver.secret = endpoint.secret
    receiver.script = [(301, {"location": "http://169.254.169.254/"})]
    await kit.events.publish(ProductCreated(sku="g"))

    async def failed() -> bool:
        return len(await kit.webhooks.deliveries(state="failed")) == 1

    await wait_for(failed)
    assert len(receiver.received) == 1


async def test_unresolvable_host_is_logged_and_retried(database_url: str, tmp_path: Any) -> None:
    from dropkit.core.events import EventBus
    from dropkit.core.jobs import JobRegistry, Jobs, LocalDispatcher
    from dropkit.core.webhooks import Webhooks

    resolvable = {"yes": True}

    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14"] if resolvable["yes"] else []

    # The base kit only provides the migrated database: it must not run the jobs itself.
    async with Dropkit(database_url=database_url, data_dir=tmp_path, run_jobs=False) as base:
        registry = JobRegistry()
        jobs = Jobs(base.database, registry, dispatcher=LocalDispatcher(poll_interval=0.05))
        bus = EventBus(base.database, jobs)
        bus.register_jobs(registry)
        hooks = Webhooks(base.database, jobs, resolver=resolver)
        hooks.register(registry, bus, retry=FAST_RETRY)
        await hooks.add_endpoint("https://shop.example/hook")
        resolvable["yes"] = False  # the name stops resolving before delivery
        async with jobs:
            await bus.publish(ProductCreated(sku="h"))

            async def dead() -> bool:
                return len(await hooks.deliveries(state="dead")) == 1

            await wait_for(dead)
        (delivery,) = await hooks.deliveries()
        attempts = await hooks.attempts(delivery.id)
        assert len(attempts) == 3
        assert all("cannot resolve" in (a.error or "") for a in attempts)
        await hooks.aclose()


async def test_replaying_a_dead_delivery_job_sends_again(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    receiver.secret = endpoint.secret
    receiver.script = [(500, {})] * 3
    await kit.events.publish(ProductCreated(sku="replay"))

    async def dead() -> bool:
        return len(await kit.webhooks.deliveries(state="dead")) == 1

    await wait_for(dead)
    (delivery,) = await kit.webhooks.deliveries()
    assert delivery.job_id is not None
    await kit.jobs.retry(delivery.job_id)  # the generic dead-letter replay, not redeliver()

    async def delivered() -> bool:
        return (await kit.webhooks.delivery(delivery.id)).state is DeliveryState.DELIVERED

    await wait_for(delivered)
    assert len(receiver.received) == 4


async def test_concurrent_redeliveries_send_once(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    receiver.secret = endpoint.secret
    await kit.events.publish(ProductCreated(sku="twice"))

    async def delivered() -> bool:
        return len(await kit.webhooks.deliveries(state="delivered")) == 1

    await wait_for(delivered)
    (delivery,) = await kit.webhooks.deliveries()
    outcomes: list[str] = []
    receiver.gate = anyio.Event()  # the redelivery stays in flight while the others race

    async def redeliver() -> None:
        try:
            await kit.webhooks.redeliver(delivery.id)
            outcomes.append("sent")
        except ConflictError:
            outcomes.append("conflict")

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(redeliver)
    receiver.gate.set()
    assert sorted(outcomes) == ["conflict"] * 4 + ["sent"]
    await wait_for(delivered)
    await anyio.sleep(0.2)
    assert len(receiver.received) == 2
    with pytest.raises(WebhookError, match="unknown delivery state"):
        await kit.webhooks.deliveries(state="lost")


async def test_odd_receivers_are_logged_safely(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    receiver.secret = endpoint.secret
    receiver.body = "ok\x00" + "x" * 100_000  # a NUL byte and far more than the log keeps
    await kit.events.publish(ProductCreated(sku="odd"))

    async def delivered() -> bool:
        return len(await kit.webhooks.deliveries(state="delivered")) == 1

    await wait_for(delivered)
    (delivery,) = await kit.webhooks.deliveries()
    (attempt,) = await kit.webhooks.attempts(delivery.id)
    assert attempt.response_excerpt is not None
    assert attempt.response_excerpt.startswith("ok\\x00xxx")
    assert len(attempt.response_excerpt) <= 510


async def test_removed_endpoint_stops_its_deliveries(kit: Dropkit, receiver: Receiver) -> None:
    endpoint = await kit.webhooks.add_endpoint(receiver.url, allow_private=True)
    receiver.secret = endpoint.secret
    receiver.script = [(503, {"retry-after": "60"})]
    await kit.events.publish(ProductCreated(sku="gone"))

    async def tried() -> bool:
        return len(receiver.received) == 1

    await wait_for(tried)
    (delivery,) = await kit.webhooks.deliveries()
    await kit.webhooks.remove(endpoint.id)
    assert delivery.job_id is not None
    await kit.database.execute(
        "UPDATE dropkit_jobs SET run_at = 0 WHERE id = {}", delivery.job_id
    )  # the retry is due now
    done = await kit.jobs.wait(delivery.job_id, timeout=10)
    assert done.state is JobState.FAILED  # aborted, not retried for hours
    assert len(receiver.received) == 1
