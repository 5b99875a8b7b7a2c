"""``OutreachOptions``: what ``Dropkit(outreach={...})`` may pass on to :class:`Outreach`.

The kit wires the database, event bus, jobs, provider (``email_provider``), outbox directory,
``tracking_secret``, ``public_url`` and ``redis_url`` itself; these are the rest of
``Outreach``'s keyword arguments, typed, so mypy checks a kit's ``outreach`` dict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypedDict

from dropkit.outreach.intake.sns import SnsCertificates
from dropkit.outreach.ratelimit import RateLimit

__all__ = ["OutreachOptions"]


class OutreachOptions(TypedDict, total=False):
    """Keyword arguments of :class:`Outreach` that ``Dropkit`` does not wire itself."""

    from_address: str
    message_domain: str
    rate_limit: RateLimit | None
    provider_rate_limit: RateLimit | None
    lease: float
    batch_size: int | None
    retry_backoff: float
    soft_bounce_threshold: int
    attribution_days: float
    sendgrid_public_key: str | None
    mailgun_signing_key: str | None
    sns_certificates: SnsCertificates | None
    sns_topics: Sequence[str] | None
    clock: Callable[[], float]
