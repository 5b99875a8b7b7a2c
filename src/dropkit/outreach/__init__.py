"""Email marketing: audience, templates, campaigns sent exactly once, tracking, analytics."""

from dropkit.outreach.addresses import normalise_email
from dropkit.outreach.analytics import Analytics, CampaignStats
from dropkit.outreach.campaigns import Campaigns
from dropkit.outreach.csvio import ImportReport
from dropkit.outreach.errors import (
    CampaignStateError,
    InvalidEmailError,
    OutreachNotFoundError,
    ProviderConfigurationError,
    ProviderError,
    ProviderThrottledError,
    SignatureError,
    SuppressedError,
    TemplateError,
    TokenError,
)
from dropkit.outreach.http import HandlerResponse, InboundRequest
from dropkit.outreach.intake import Feedback, FeedbackKind, SnsCertificates
from dropkit.outreach.ledger import SendLedger
from dropkit.outreach.machine import MachineDetector
from dropkit.outreach.message import OutgoingMessage, render_mime
from dropkit.outreach.models import (
    Campaign,
    CampaignState,
    SendState,
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
    Variant,
)
from dropkit.outreach.options import OutreachOptions
from dropkit.outreach.providers import (
    EmailProvider,
    MailgunProvider,
    OutboxProvider,
    SendGridProvider,
    SendResult,
    SmtpProvider,
)
from dropkit.outreach.ratelimit import LocalRateLimiter, RateLimit, RedisRateLimiter
from dropkit.outreach.schema import OUTREACH_MIGRATIONS
from dropkit.outreach.segments import (
    All,
    AnyOf,
    AttributeEquals,
    BoughtProduct,
    InList,
    NoOrderWithin,
    Not,
    OpenedWithin,
    SpentOver,
)
from dropkit.outreach.sender import CampaignSender, SendReport
from dropkit.outreach.service import SEND_CAMPAIGN_JOB, Outreach
from dropkit.outreach.templates import Rendered, Template, TemplateKind
from dropkit.outreach.tokens import TokenSigner
from dropkit.outreach.transactional import TransactionalKind, TransactionalResult

__all__ = [
    "OUTREACH_MIGRATIONS",
    "SEND_CAMPAIGN_JOB",
    "All",
    "Analytics",
    "AnyOf",
    "AttributeEquals",
    "BoughtProduct",
    "Campaign",
    "CampaignSender",
    "CampaignState",
    "CampaignStateError",
    "CampaignStats",
    "Campaigns",
    "EmailProvider",
    "Feedback",
    "FeedbackKind",
    "HandlerResponse",
    "ImportReport",
    "InList",
    "InboundRequest",
    "InvalidEmailError",
    "LocalRateLimiter",
    "MachineDetector",
    "MailgunProvider",
    "NoOrderWithin",
    "Not",
    "OpenedWithin",
    "OutboxProvider",
    "OutgoingMessage",
    "Outreach",
    "OutreachNotFoundError",
    "OutreachOptions",
    "ProviderConfigurationError",
    "ProviderError",
    "ProviderThrottledError",
    "RateLimit",
    "RedisRateLimiter",
    "Rendered",
    "SendGridProvider",
    "SendLedger",
    "SendReport",
    "SendResult",
    "SendState",
    "SignatureError",
    "SmtpProvider",
    "SnsCertificates",
    "SpentOver",
    "Subscriber",
    "SubscriberStatus",
    "SuppressedError",
    "SuppressionReason",
    "Template",
    "TemplateError",
    "TemplateKind",
    "TokenError",
    "TokenSigner",
    "TransactionalKind",
    "TransactionalResult",
    "Variant",
    "normalise_email",
    "render_mime",
]
