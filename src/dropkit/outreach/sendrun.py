"""The state one campaign-sender run shares between its producer, consumers and renewer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dropkit.outreach.instrument import SourceLinks
from dropkit.outreach.ledger import Claim, ClaimedSend
from dropkit.outreach.message import OutgoingMessage
from dropkit.outreach.models import Campaign
from dropkit.outreach.templates import CompiledTemplate

__all__ = ["Batch", "SendReport", "SendRun", "single_error"]


@dataclass
class SendReport:
    """What one :meth:`CampaignSender.run` did."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    suppressed: int = 0
    review: int = 0
    reconciled: int = 0
    throttled: int = 0
    released: int = 0  # handed back unsent (pause, cancel, a long back-off, a stopped run)
    lost: int = 0  # claims that lapsed under this run (rows reconciled by another sender)


class SendRun:
    """One run's shared state: template, subjects, links, claims held, the back-off."""

    def __init__(
        self,
        campaign: Campaign,
        template: CompiledTemplate,
        subjects: dict[str, Callable[..., str]],
        links: SourceLinks,
    ) -> None:
        self.campaign = campaign
        self.template = template
        self.subjects = subjects
        self.links = links
        self.recorded: set[str] = set()  # links already in outreach_links
        self.unsubscribe_post = links.instrumenter.list_unsubscribe_headers("")[1]
        # Campaign data and template globals merged once; each message adds its own keys.
        self.context = template.with_globals(
            {**campaign.context, "campaign": {"id": campaign.id, "name": campaign.name}}
        )
        self.held: dict[str, tuple[Claim, set[int]]] = {}  # token -> (claim, rows not settled)
        self.leased_until: dict[str, float] = {}  # token -> the lease last written for it
        self.on_wire: set[int] = set()  # rows inside send_batch right now
        self.resume_at = 0.0  # nobody sends (or claims) before this
        self.halted = False  # the provider is unreachable: end the run, rows wait in the ledger
        self.sending = True
        self.state_seen = -1.0

    def unsettled(self, claim: Claim) -> set[int]:
        """The claim's rows this run still holds (neither recorded nor dropped)."""
        entry = self.held.get(claim.token)
        return set() if entry is None else entry[1]

    def settle(self, claim: Claim, ids: Sequence[int]) -> None:
        entry = self.held.get(claim.token)
        if entry is not None:
            entry[1].difference_update(ids)
            if not entry[1]:
                del self.held[claim.token]
                self.leased_until.pop(claim.token, None)


Batch = tuple[Claim, list[tuple[ClaimedSend, OutgoingMessage]]]


def single_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside (nested) groups, if there is exactly one."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseExceptionGroup):
            pending.extend(item.exceptions)
        else:
            leaves.append(item)
    return leaves[0] if len(leaves) == 1 and isinstance(leaves[0], Exception) else None
