"""The campaign sender: claim a batch, render it, send it, record it; repeat.

Any number of senders (tasks, processes, hosts) can run one campaign: the ledger hands each a
disjoint batch. The template is compiled once per run; per message the work is a Jinja render,
link instrumentation and byte splicing.

Leases: a background task renews every claim this run holds until its rows are recorded, and
a chunk whose lease has run down past half (it waited for the rate limiter or a back-off) is
confirmed (renewed) right before it goes out, so a live sender's rows are never reconciled
away. A fresher lease needs no statement: no reconciler takes a row before its lease ends,
which leaves half a lease of margin for clock skew between hosts.

Back-off: a throttled chunk sets one "resume at" that the producer and every consumer respect,
and the throttled rows are due again only then; transiently failed rows are due after
``backoff * 2**attempts`` (plus jitter), and an unreachable server costs no attempt. Pause and
cancel are seen between chunks: rows not yet on the wire go back to the ledger.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

from dropkit.core.database import Database
from dropkit.outreach.campaigns import Campaigns
from dropkit.outreach.errors import ProviderThrottledError, TemplateError
from dropkit.outreach.instrument import Instrumenter
from dropkit.outreach.ledger import Claim, ClaimedSend, SendLedger
from dropkit.outreach.message import OutgoingMessage
from dropkit.outreach.models import CampaignState, SendState, from_json
from dropkit.outreach.providers.base import EmailProvider, SendResult
from dropkit.outreach.ratelimit import RateLimiter
from dropkit.outreach.sendrun import Batch, SendReport, SendRun, single_error
from dropkit.outreach.templates import Templates
from dropkit.outreach.tracking import allow_links

__all__ = ["CampaignSender", "SendReport"]

_log = logging.getLogger(__name__)

_AHEAD = 1  # batches claimed and rendered, waiting for the wire
_IN_FLIGHT = 2  # batches on the wire at once: one starts while the other records its outcome
_SLICE = 32  # messages rendered between yields to the event loop
_STATE_EVERY = 0.05  # seconds between looks at the campaign state (pause, cancel): cheap, prompt
_MAX_EXPONENT = 10  # back-off stops doubling after this many attempts


class CampaignSender:
    def __init__(
        self,
        database: Database,
        campaigns: Campaigns,
        templates: Templates,
        ledger: SendLedger,
        instrumenter: Instrumenter,
        provider: EmailProvider,
        *,
        limiters: Sequence[RateLimiter] = (),
        lease: float = 60.0,
        batch_size: int | None = None,
        retry_backoff: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._campaigns = campaigns
        self._templates = templates
        self._ledger = ledger
        self._links = instrumenter
        self.provider = provider
        self._limiters = tuple(limiters)
        self._lease = lease
        self._batch = batch_size or provider.batch_size
        self._grant = min([lim.limit.burst for lim in self._limiters], default=self._batch)
        self._backoff = retry_backoff
        # A back-off longer than this ends the run (the rows wait in the ledger, the job comes
        # back when they are due) instead of sleeping on claimed rows.
        self._max_hold = min(5.0, lease / 4)
        self._clock = clock

    async def run(self, campaign_id: str) -> SendReport:
        """Send every due pending row of a ``sending`` campaign; stop when paused or done."""
        report = SendReport()
        campaign = await self._campaigns.get(campaign_id)
        if campaign.state is not CampaignState.SENDING:
            return report
        outcome = await self._ledger.reconcile(campaign_id, self.provider, now=self._clock())
        report.reconciled = outcome[SendState.RECONCILED]
        report.review += outcome[SendState.REVIEW]
        template = await self._templates.compile(campaign.template_id)
        subjects = {v.name: template.subject_variant(v.subject) for v in campaign.variants}
        run = SendRun(campaign, template, subjects, self._links.source(campaign.id))
        while await self._campaigns.state(campaign_id) is CampaignState.SENDING:
            if not await self._pipeline(run, report):
                await self._campaigns.finish_if_done(campaign_id)
                break
        return report

    async def _still_sending(self, run: SendRun) -> bool:
        """The campaign's state, looked up at most every ``_STATE_EVERY`` seconds."""
        now = time.monotonic()
        if run.sending and now - run.state_seen >= _STATE_EVERY:
            run.state_seen = now
            state = await self._campaigns.state(run.campaign.id)
            run.sending = state is CampaignState.SENDING
        return run.sending

    async def _wait_resume(self, run: SendRun) -> bool:
        """Sleep through a short shared back-off; False when it is too long to wait for."""
        delay = run.resume_at - self._clock()
        if run.halted or delay > self._max_hold:
            return False
        if delay > 0:
            await anyio.sleep(delay)
        return True

    async def _pipeline(self, run: SendRun, report: SendReport) -> int:
        """Claim and render the next batches while the current ones are on the wire.

        Returns how many batches were claimed (0: nothing due is left). Rows handed back
        during the run (throttling, transient errors) are picked up by the next pipeline.
        """
        claimed = 0
        send, receive = anyio.create_memory_object_stream[Batch](_AHEAD)

        async def produce() -> None:
            nonlocal claimed
            async with send:
                while await self._wait_resume(run) and await self._still_sending(run):
                    now = self._clock()
                    claim = await self._ledger.claim(
                        run.campaign.id, self._batch, lease=self._lease, now=now
                    )
                    if not claim.sends:
                        return
                    run.held[claim.token] = (claim, {s.id for s in claim.sends})
                    run.leased_until[claim.token] = now + self._lease
                    claimed += 1
                    await send.send((claim, await self._prepare(run, claim, report)))

        async def consume(batches: anyio.abc.ObjectReceiveStream[Batch]) -> None:
            async with batches:
                async for claim, ready in batches:
                    await self._deliver(run, claim, ready, report)

        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(self._renew, run, report)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(produce)
                    with receive:
                        for _ in range(_IN_FLIGHT):
                            tg.start_soon(consume, receive.clone())
                outer.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            leaf = single_error(group)
            if leaf is None:
                raise
            raise leaf from None
        finally:
            await self._release_held(run, report)
        return claimed

    async def _renew(self, run: SendRun, report: SendReport) -> None:
        """Keep every claim this run holds alive until its rows are settled."""
        while True:
            await anyio.sleep(self._lease / 3)
            now = self._clock()
            for claim, rows in list(run.held.values()):
                held = await self._ledger.extend(
                    claim, sorted(rows), until=now + self._lease, now=now
                )
                if claim.token in run.leased_until:
                    run.leased_until[claim.token] = now + self._lease
                self._drop_lost(run, claim, rows - held, report)

    def _drop_lost(self, run: SendRun, claim: Claim, lost: set[int], report: SendReport) -> None:
        lost &= run.unsettled(claim)
        if lost:
            _log.warning("campaign %s: %d claims lapsed; dropped", run.campaign.id, len(lost))
            report.lost += len(lost)
            run.settle(claim, sorted(lost))

    async def _release_held(self, run: SendRun, report: SendReport) -> None:
        """Hand back rows this run claimed but never put on the wire (error, cancellation)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            for claim, rows in list(run.held.values()):
                unsent = sorted(rows - run.on_wire)
                await self._ledger.set_state(claim, unsent, SendState.PENDING, refund_attempt=True)
                report.released += len(unsent)
                run.settle(claim, unsent)

    async def _recipients(self, claim: Claim, campaign_id: str) -> dict[int, dict[str, Any]]:
        """Each claimed row's subscriber data and whether its address is suppressed now.

        One statement found through the claim token (on the ledger's work index), not two
        IN lists of a batch's ids and addresses.
        """
        rows = await self._db.fetch(
            "SELECT t.id AS send_id, s.attributes, s.locale, s.timezone, s.status,"
            " x.email AS suppressed FROM outreach_sends t"
            " LEFT JOIN outreach_subscribers s ON s.id = t.subscriber_id"
            " LEFT JOIN outreach_suppressions x ON x.email = t.email"
            " WHERE t.campaign_id = {} AND t.state = {} AND t.claim_token = {}",
            campaign_id,
            SendState.CLAIMED.value,
            claim.token,
        )
        return {int(row["send_id"]): row for row in rows}

    def _message(self, run: SendRun, send: ClaimedSend, row: dict[str, Any]) -> OutgoingMessage:
        campaign = run.campaign
        links = run.links.recipient(send.subscriber_id)
        unsubscribe = links.unsubscribe_url()
        subscriber = {
            "id": send.subscriber_id,
            "email": send.email,
            "locale": row["locale"],
            "timezone": row["timezone"],
            "attributes": from_json(row["attributes"]) or {},
        }
        context = {**run.context, "subscriber": subscriber, "unsubscribe_url": unsubscribe}
        subject = run.subjects[send.variant](context, shared=True)
        rendered = run.template.render(context, subject=subject, shared=True)
        return OutgoingMessage(
            message_id=send.message_id,
            sender=campaign.from_address,
            recipient=send.email,
            subject=rendered.subject,
            html=links.html(rendered.html),
            text=links.text(rendered.text),
            headers=(
                ("List-Unsubscribe", f"<{unsubscribe}>"),
                run.unsubscribe_post,
                ("X-Dropkit-Campaign", campaign.id),
                ("X-Dropkit-Subscriber", send.subscriber_id),
            ),
            reply_to=campaign.reply_to,
            tags=(("dropkit_campaign", campaign.id), ("dropkit_subscriber", send.subscriber_id)),
        )

    async def _prepare(
        self, run: SendRun, claim: Claim, report: SendReport
    ) -> list[tuple[ClaimedSend, OutgoingMessage]]:
        """Skip suppressed rows, render the rest and record their links."""
        rows = await self._recipients(claim, run.campaign.id)
        skipped = {
            s.id
            for s in claim.sends
            if s.id not in rows
            or rows[s.id]["suppressed"] is not None
            or rows[s.id]["status"] != "active"
        }
        await self._settle(run, claim, sorted(skipped), SendState.SUPPRESSED)
        report.suppressed += len(skipped)
        ready: list[tuple[ClaimedSend, OutgoingMessage]] = []
        broken: list[int] = []
        errors: list[str] = []
        for index, send in enumerate(claim.sends):
            if index % _SLICE == _SLICE - 1:
                # Let the connections take their replies and send on between slices: rendering
                # fills their waits for the server instead of stalling them for a whole batch.
                await anyio.lowlevel.checkpoint()
            if send.id in skipped:
                continue
            try:
                ready.append((send, self._message(run, send, rows[send.id])))
            except TemplateError as exc:
                broken.append(send.id)
                errors.append(str(exc))
        if broken:
            await self._settle(run, claim, broken, SendState.FAILED, error=errors[0])
            report.failed += len(broken)
        await allow_links(self._db, run.campaign.id, run.links.links - run.recorded)
        run.recorded.update(run.links.links)
        return ready

    async def _settle(
        self, run: SendRun, claim: Claim, ids: Sequence[int], state: SendState, **options: Any
    ) -> None:
        await self._ledger.set_state(claim, ids, state, **options)
        run.settle(claim, ids)

    async def _deliver(
        self,
        run: SendRun,
        claim: Claim,
        ready: Sequence[tuple[ClaimedSend, OutgoingMessage]],
        report: SendReport,
    ) -> None:
        """Send a prepared batch in rate-limited chunks, recording each chunk's outcome.

        Before each chunk: a paused or cancelled campaign, or a back-off too long to wait
        for, hands the rest of the batch back to the ledger unsent.
        """
        for start in range(0, len(ready), self._grant):
            if not (await self._wait_resume(run) and await self._still_sending(run)):
                rest = [s.id for s, _ in ready[start:]]
                due = run.resume_at if run.resume_at > self._clock() else None
                await self._settle(
                    run, claim, rest, SendState.PENDING, refund_attempt=True, due_at=due
                )
                report.released += len(rest)
                return
            await self._send_chunk(run, claim, ready[start : start + self._grant], report)

    async def _send_chunk(
        self,
        run: SendRun,
        claim: Claim,
        chunk: Sequence[tuple[ClaimedSend, OutgoingMessage]],
        report: SendReport,
    ) -> None:
        """Take the rate grant, confirm a run-down lease, send (renewed meanwhile), record."""
        for limiter in self._limiters:
            await limiter.acquire(len(chunk))
        ids = [s.id for s, _ in chunk]
        now = self._clock()
        if run.leased_until.get(claim.token, now) - now > self._lease / 2:
            held = run.unsettled(claim) & set(ids)  # less what the renewer found lost
        else:
            # Renew every row the claim still holds, not only this chunk's: leased_until
            # speaks for the whole claim, and the next chunks skip the confirm on its word.
            rows = set(run.unsettled(claim))
            renewed = await self._ledger.extend(
                claim, sorted(rows), until=now + self._lease, now=now
            )
            self._drop_lost(run, claim, rows - renewed, report)
            if claim.token in run.leased_until:
                run.leased_until[claim.token] = now + self._lease
            held = renewed & set(ids)
        if len(held) < len(chunk):
            chunk = [(s, m) for s, m in chunk if s.id in held]
            if not chunk:
                return
        run.on_wire.update(held)
        try:
            results = await self.provider.send_batch([m for _, m in chunk])
        except BaseException:
            run.on_wire.difference_update(held)  # a raise means nothing left (config, cancel)
            raise
        try:
            await self._record(run, claim, [s for s, _ in chunk], results, report)
        finally:
            run.on_wire.difference_update(held)

    def _backoff_due(self, attempts: int, now: float) -> float:
        exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
        jitter = 1.0 + random.random() / 4  # spreads the retries of many rows
        return now + self._backoff * float(1 << exponent) * jitter

    async def _record(
        self,
        run: SendRun,
        claim: Claim,
        sends: Sequence[ClaimedSend],
        results: Sequence[SendResult],
        report: SendReport,
    ) -> None:
        accepted: list[tuple[int, SendResult]] = []
        ambiguous: list[ClaimedSend] = []
        failed: list[int] = []
        retry: dict[int, list[int]] = {}  # attempts -> row ids
        unreachable: list[int] = []
        throttled: list[int] = []
        delay = 0.0
        failure = ""
        for send, result in zip(sends, results, strict=True):
            error = result.error
            if error is None:
                accepted.append((send.id, result))
            elif isinstance(error, ProviderThrottledError):
                throttled.append(send.id)
                delay = max(delay, error.retry_after)
            elif error.ambiguous:
                ambiguous.append(send)
            elif error.permanent:
                failed.append(send.id)
                failure = failure or str(error)
            elif error.unreachable:
                unreachable.append(send.id)
            else:
                retry.setdefault(send.attempts, []).append(send.id)
        now = self._clock()
        recorded = await self._ledger.record_sent(claim, accepted, now=now)
        run.settle(claim, [i for i, _ in accepted])
        report.sent += recorded
        if recorded < len(accepted):
            _log.error(
                "campaign %s: %d sent messages could not be recorded (lease lost)",
                run.campaign.id,
                len(accepted) - recorded,
            )
            report.lost += len(accepted) - recorded
        if failed:
            await self._settle(run, claim, failed, SendState.FAILED, error=failure)
            report.failed += len(failed)
        for attempts, ids in retry.items():
            due = self._backoff_due(attempts, now)
            await self._settle(
                run, claim, ids, SendState.PENDING, error="transient error", due_at=due
            )
            report.retried += len(ids)
        if unreachable:
            run.halted = True
            run.resume_at = max(run.resume_at, self._backoff_due(1, now))
            await self._settle(
                run,
                claim,
                unreachable,
                SendState.PENDING,
                error="provider unreachable",
                refund_attempt=True,
                due_at=run.resume_at,
            )
            report.retried += len(unreachable)
        if throttled:
            run.resume_at = max(run.resume_at, now + delay)
            await self._settle(
                run, claim, throttled, SendState.PENDING, refund_attempt=True, due_at=now + delay
            )
            report.throttled += len(throttled)
        if ambiguous:
            await self._ledger.resolve_ambiguous(claim, ambiguous, self.provider, now=now)
            run.settle(claim, [s.id for s in ambiguous])
            report.review += len(ambiguous)
