"""Outbound webhooks: endpoints, fan-out from the event bus, and signed, retried delivery.

Each (event, endpoint) pair becomes one delivery row and one durable job, created in the event's
dispatch transaction. The job POSTs the Standard Webhooks payload with ``webhook-id`` (the
delivery id, stable across retries so receivers deduplicate), ``webhook-timestamp`` and
``webhook-signature``. A 2xx delivers; 408, 429, 5xx and network errors retry with backoff,
honouring ``Retry-After``; any other 4xx fails at once, since resending cannot fix it.
Every request is logged in ``dropkit_webhook_attempts``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from fnmatch import fnmatchcase
from typing import Any

import httpx

from dropkit._version import __version__
from dropkit.core.database import Database
from dropkit.core.errors import ConflictError, NotFoundError, UnsafeTargetError, WebhookError
from dropkit.core.events.bus import EventBus
from dropkit.core.events.models import StoredEvent
from dropkit.core.jobs import Abort, JobContext, JobRegistry, Jobs, Retry, RetryPolicy
from dropkit.core.jsontext import printable
from dropkit.core.webhooks.models import Attempt, Delivery, DeliveryState, Endpoint
from dropkit.core.webhooks.signing import generate_secret, signature_headers
from dropkit.core.webhooks.targets import GuardedTransport, Resolver, check_target

__all__ = ["DEFAULT_WEBHOOK_RETRY", "DELIVER_WEBHOOK_JOB", "Webhooks"]

DELIVER_WEBHOOK_JOB = "dropkit.webhooks.deliver"

#: Eight attempts over about 14 hours: waits of 5 s, 30 s, 3 min, 18 min, 1.8 h, 6 h, 6 h
#: (each drawn from [wait/2, wait] by the jitter).
DEFAULT_WEBHOOK_RETRY = RetryPolicy(max_attempts=8, base_delay=5, factor=6, max_delay=6 * 3600)

_RETRYABLE_4XX = frozenset({408, 429})
_MAX_RETRY_AFTER = 6 * 3600.0
_EXCERPT = 500


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Parse ``Retry-After`` (delta seconds or an HTTP date); ``None`` when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now), _MAX_RETRY_AFTER)


async def _read_excerpt(response: httpx.Response) -> str:
    """The first bytes of a receiver's answer: a hostile receiver cannot make us buffer more."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= _EXCERPT:
            break
    return data[:_EXCERPT].decode("utf-8", errors="replace")


def _matches(event_type: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(event_type, pattern) for pattern in patterns)


class Webhooks:
    """Manage endpoints and deliver events to them.

    ``allow_private`` is the operator's switch: only when it is on may an endpoint opt in to
    private or loopback targets (self-hosted receivers, tests). Cloud metadata addresses are
    refused regardless.
    """

    def __init__(
        self,
        database: Database,
        jobs: Jobs,
        *,
        allow_private: bool = False,
        timeout: float = 10.0,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._jobs = jobs
        self.allow_private = allow_private
        self._timeout = timeout
        self._resolver = resolver
        self._clock = clock
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self._retry = DEFAULT_WEBHOOK_RETRY

    def register(
        self, registry: JobRegistry, bus: EventBus, *, retry: RetryPolicy | None = None
    ) -> None:
        """Hook into the event bus and add the delivery job (done by ``Dropkit``)."""
        self._retry = retry or DEFAULT_WEBHOOK_RETRY
        registry.register(self._deliver, name=DELIVER_WEBHOOK_JOB, retry=self._retry)
        bus.add_fanout(self._fan_out)

    def _client(self, allow_private: bool) -> httpx.AsyncClient:
        client = self._clients.get(allow_private)
        if client is None:
            client = httpx.AsyncClient(
                transport=GuardedTransport(allow_private=allow_private, resolver=self._resolver),
                timeout=self._timeout,
                follow_redirects=False,
                headers={"user-agent": f"dropkit-webhooks/{__version__}"},
            )
            self._clients[allow_private] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    # -- endpoints ------------------------------------------------------------------------

    async def add_endpoint(
        self,
        url: str,
        *,
        event_types: Sequence[str] = ("*",),
        secret: str | None = None,
        description: str = "",
        allow_private: bool = False,
    ) -> Endpoint:
        """Register a receiver; its URL is checked now and again at every delivery."""
        if allow_private and not self.allow_private:
            raise UnsafeTargetError(
                "private webhook targets are disabled here (Dropkit(allow_private_webhooks=True))"
            )
        if not event_types:
            raise WebhookError("an endpoint needs at least one event type pattern")
        await check_target(url, allow_private=allow_private, resolver=self._resolver)
        secret = secret or generate_secret()
        signature_headers(secret, "msg_check", b"")  # refuses a malformed secret now
        now = self._clock()
        row = await self._db.fetchrow(
            "INSERT INTO dropkit_webhook_endpoints (id, url, secret, event_types, description,"
            " enabled, allow_private, created_at, updated_at)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING *",
            f"ep_{uuid.uuid4().hex}",
            url,
            secret,
            json.dumps(list(event_types)),
            description,
            True,
            allow_private,
            now,
            now,
        )
        assert row is not None
        return Endpoint.from_row(row)

    async def endpoint(self, endpoint_id: str) -> Endpoint:
        row = await self._db.fetchrow(
            "SELECT * FROM dropkit_webhook_endpoints WHERE id = {}", endpoint_id
        )
        if row is None:
            raise NotFoundError(f"no webhook endpoint {endpoint_id!r}")
        return Endpoint.from_row(row)

    async def endpoints(self) -> list[Endpoint]:
        rows = await self._db.fetch("SELECT * FROM dropkit_webhook_endpoints ORDER BY created_at")
        return [Endpoint.from_row(row) for row in rows]

    async def _set_enabled(self, endpoint_id: str, enabled: bool) -> Endpoint:
        row = await self._db.fetchrow(
            "UPDATE dropkit_webhook_endpoints SET enabled = {}, updated_at = {}"
            " WHERE id = {} RETURNING *",
            enabled,
            self._clock(),
            endpoint_id,
        )
        if row is None:
            raise NotFoundError(f"no webhook endpoint {endpoint_id!r}")
        return Endpoint.from_row(row)

    async def disable(self, endpoint_id: str) -> Endpoint:
        return await self._set_enabled(endpoint_id, False)

    async def enable(self, endpoint_id: str) -> Endpoint:
        return await self._set_enabled(endpoint_id, True)

    async def remove(self, endpoint_id: str) -> None:
        """Delete an endpoint and its delivery log."""
        row = await self._db.fetchrow(
            "DELETE FROM dropkit_webhook_endpoints WHERE id = {} RETURNING id", endpoint_id
        )
        if row is None:
            raise NotFoundError(f"no webhook endpoint {endpoint_id!r}")

    # -- deliveries -----------------------------------------------------------------------

    async def delivery(self, delivery_id: str) -> Delivery:
        row = await self._db.fetchrow(
            "SELECT * FROM dropkit_webhook_deliveries WHERE id = {}", delivery_id
        )
        if row is None:
            raise NotFoundError(f"no webhook delivery {delivery_id!r}")
        return Delivery.from_row(row)

    async def deliveries(
        self,
        *,
        endpoint_id: str | None = None,
        state: DeliveryState | str | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        clauses: list[str] = []
        args: list[Any] = []
        if endpoint_id is not None:
            clauses.append("endpoint_id = {}")
            args.append(endpoint_id)
        if state is not None:
            if str(state) not in {s.value for s in DeliveryState}:
                raise WebhookError(
                    f"unknown delivery state {state!r}; known: {[s.value for s in DeliveryState]}"
                )
            clauses.append("state = {}")
            args.append(DeliveryState(state).value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetch(
            f"SELECT * FROM dropkit_webhook_deliveries{where} ORDER BY created_at DESC, id"
            " LIMIT {}",
            *args,
            limit,
        )
        return [Delivery.from_row(row) for row in rows]

    async def attempts(self, delivery_id: str) -> list[Attempt]:
        rows = await self._db.fetch(
            "SELECT * FROM dropkit_webhook_attempts WHERE delivery_id = {} ORDER BY id",
            delivery_id,
        )
        return [Attempt.from_row(row) for row in rows]

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Send a delivery again (after a fix on the receiver's side), with fresh retries."""
        async with self._db.transaction():
            # Guarded: of two concurrent redeliveries only one finds the delivery settled.
            row = await self._db.fetchrow(
                "UPDATE dropkit_webhook_deliveries SET state = {}, updated_at = {}"
                " WHERE id = {} AND state <> {} RETURNING id",
                DeliveryState.PENDING.value,
                self._clock(),
                delivery_id,
                DeliveryState.PENDING.value,
            )
            if row is None:
                delivery = await self.delivery(delivery_id)  # NotFoundError if it is gone
                raise ConflictError(f"delivery {delivery.id} is still pending")
            job = await self._jobs.enqueue(DELIVER_WEBHOOK_JOB, {"delivery_id": delivery_id})
            updated = await self._db.fetchrow(
                "UPDATE dropkit_webhook_deliveries SET job_id = {} WHERE id = {} RETURNING *",
                job.id,
                delivery_id,
            )
        assert updated is not None
        return Delivery.from_row(updated)

    # -- fan-out and the delivery job -----------------------------------------------------

    async def _fan_out(self, event: StoredEvent) -> None:
        """Create a delivery and its job per enabled, matching endpoint (in the dispatch tx)."""
        rows = await self._db.fetch(
            "SELECT id, event_types FROM dropkit_webhook_endpoints WHERE enabled = {}", True
        )
        now = self._clock()
        for row in rows:
            types = row["event_types"]
            if not _matches(event.type, json.loads(types) if isinstance(types, str) else types):
                continue
            delivery_id = f"msg_{uuid.uuid4().hex}"
            created = await self._db.fetchrow(
                "INSERT INTO dropkit_webhook_deliveries (id, endpoint_id, event_id, event_type,"
                " state, created_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {})"
                " ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id",
                delivery_id,
                row["id"],
                event.id,
                event.type,
                DeliveryState.PENDING.value,
                now,
                now,
            )
            if created is None:
                continue  # this dispatch ran before: the delivery and its job exist
            job = await self._jobs.enqueue(
                DELIVER_WEBHOOK_JOB, {"delivery_id": delivery_id}, key=f"webhook:{delivery_id}"
            )
            await self._db.execute(
                "UPDATE dropkit_webhook_deliveries SET job_id = {} WHERE id = {}",
                job.id,
                delivery_id,
            )

    async def _deliver(self, ctx: JobContext, delivery_id: str) -> int:
        """POST one delivery; returns the receiver's status code."""
        try:
            delivery = await self.delivery(delivery_id)
            endpoint = await self.endpoint(delivery.endpoint_id)
        except NotFoundError as exc:  # the endpoint (and with it the delivery) was removed
            raise Abort(str(exc)) from exc
        if delivery.state is not DeliveryState.PENDING:
            if delivery.job_id != ctx.job.id or delivery.state is DeliveryState.DELIVERED:
                return delivery.last_status or 0  # settled by another job, or already sent
            # This very job, replayed from the dead letters (``dropkit jobs retry``): send again.
            await self._settle(delivery_id, DeliveryState.PENDING, delivery.last_status, None)
        if not endpoint.enabled:
            await self._settle(delivery_id, DeliveryState.FAILED, None, "endpoint is disabled")
            raise Abort(f"endpoint {endpoint.id} is disabled")
        event_row = await self._db.fetchrow(
            "SELECT * FROM dropkit_events WHERE id = {}", delivery.event_id
        )
        if event_row is None:
            await self._settle(delivery_id, DeliveryState.FAILED, None, "event no longer exists")
            raise Abort(f"event {delivery.event_id} no longer exists")
        event = StoredEvent.from_row(event_row)
        body = json.dumps(
            {
                "type": event.type,
                "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
                "data": {"id": event.id, "subject": event.subject, **event.payload},
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "content-type": "application/json",
            **signature_headers(endpoint.secret, delivery.id, body),
        }
        allow_private = endpoint.allow_private and self.allow_private
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        excerpt: str | None = None
        retry_after: float | None = None
        unsafe = False
        try:
            client = self._client(allow_private)
            async with client.stream("POST", endpoint.url, content=body, headers=headers) as resp:
                status = resp.status_code
                retry_after = retry_after_seconds(resp.headers.get("retry-after"), now=time.time())
                excerpt = printable(await _read_excerpt(resp))
        except UnsafeTargetError as exc:
            error, unsafe = str(exc), True
        except (httpx.HTTPError, WebhookError) as exc:  # network errors, unresolvable host
            error = printable(f"{type(exc).__name__}: {exc}")
        duration_ms = (time.perf_counter() - started) * 1000
        await self._log_attempt(delivery, ctx.attempt, status, duration_ms, error, excerpt)

        if status is not None and 200 <= status < 300:
            await self._settle(delivery_id, DeliveryState.DELIVERED, status, None)
            return status
        reason = error or f"receiver answered HTTP {status}"
        # Redirects are not followed (a redirect could point anywhere): like a 4xx other than
        # 408/429, resending the same request cannot succeed, so it fails now.
        client_error = status is not None and 300 <= status < 500 and status not in _RETRYABLE_4XX
        if unsafe or client_error:
            await self._settle(delivery_id, DeliveryState.FAILED, status, reason)
            raise Abort(reason)
        if ctx.attempt >= ctx.job.max_attempts:
            await self._settle(delivery_id, DeliveryState.DEAD, status, reason)
        else:
            await self._settle(delivery_id, DeliveryState.PENDING, status, reason)
        # Retry-After is a floor, never a shortcut: "Retry-After: 0" keeps the backoff.
        backoff = self._retry.delay(ctx.attempt)
        raise Retry(reason, after=max(backoff, retry_after or 0.0))

    async def _log_attempt(
        self,
        delivery: Delivery,
        attempt: int,
        status: int | None,
        duration_ms: float,
        error: str | None,
        excerpt: str | None,
    ) -> None:
        await self._db.execute(
            "INSERT INTO dropkit_webhook_attempts (delivery_id, attempt, attempted_at, status,"
            " duration_ms, error, response_excerpt) VALUES ({}, {}, {}, {}, {}, {}, {})",
            delivery.id,
            attempt,
            self._clock(),
            status,
            duration_ms,
            error,
            excerpt,
        )

    async def _settle(
        self, delivery_id: str, state: DeliveryState, status: int | None, error: str | None
    ) -> None:
        now = self._clock()
        await self._db.execute(
            "UPDATE dropkit_webhook_deliveries SET state = {}, attempts = attempts + 1,"
            " last_status = {}, last_error = {}, updated_at = {},"
            " delivered_at = CASE WHEN {} THEN CAST({} AS DOUBLE PRECISION) ELSE delivered_at END"
            " WHERE id = {}",
            state.value,
            status,
            error,
            now,
            state is DeliveryState.DELIVERED,
            now,
            delivery_id,
        )
