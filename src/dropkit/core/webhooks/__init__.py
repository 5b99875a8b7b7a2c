"""Outbound webhooks: Standard Webhooks signing, SSRF-guarded, retried, logged delivery."""

from dropkit.core.webhooks.models import Attempt, Delivery, DeliveryState, Endpoint
from dropkit.core.webhooks.service import DEFAULT_WEBHOOK_RETRY, Webhooks
from dropkit.core.webhooks.signing import generate_secret, sign, signature_headers, verify
from dropkit.core.webhooks.targets import GuardedTransport, check_target, is_public_address

__all__ = [
    "DEFAULT_WEBHOOK_RETRY",
    "Attempt",
    "Delivery",
    "DeliveryState",
    "Endpoint",
    "GuardedTransport",
    "Webhooks",
    "check_target",
    "generate_secret",
    "is_public_address",
    "sign",
    "signature_headers",
    "verify",
]
