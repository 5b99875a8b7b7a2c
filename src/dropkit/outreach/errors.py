"""Errors of the email subsystem, all under :class:`~dropkit.core.errors.OutreachError`."""

from __future__ import annotations

from dropkit.core.errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    OutreachError,
    ValidationError,
)

__all__ = [
    "CampaignStateError",
    "InvalidEmailError",
    "OutreachNotFoundError",
    "ProviderConfigurationError",
    "ProviderError",
    "ProviderThrottledError",
    "SignatureError",
    "SuppressedError",
    "TemplateError",
    "TokenError",
]


class InvalidEmailError(OutreachError, ValidationError):
    """An address is not a syntactically valid email address."""


class OutreachNotFoundError(OutreachError, NotFoundError):
    """A subscriber, list, segment, template or campaign does not exist."""


class CampaignStateError(OutreachError, ConflictError):
    """The campaign's state forbids the requested change (e.g. editing a sent campaign)."""


class TemplateError(OutreachError, ValidationError):
    """A template does not compile, escapes the sandbox or fails to render."""


class SuppressedError(OutreachError):
    """The recipient is on the suppression list and the message is not exempt."""


class TokenError(OutreachError, ValidationError):
    """A tracking, unsubscribe or confirmation token is forged, altered or expired."""


class SignatureError(OutreachError, ValidationError):
    """An inbound provider webhook failed signature verification."""


class ProviderError(OutreachError):
    """The email provider refused or failed a send.

    ``permanent`` tells the sender not to retry (a rejected recipient); otherwise it retries
    after a back-off.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        ambiguous: bool = False,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        #: The connection broke after the message may have been accepted: it is not resent
        #: unless the provider can confirm it was not delivered.
        self.ambiguous = ambiguous
        #: The provider could not be reached: nothing was sent, so no attempt is counted.
        self.unreachable = unreachable


class ProviderThrottledError(ProviderError):
    """The provider asked us to slow down (SMTP 421/450/451, HTTP 429): back off and retry."""

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message, permanent=False)
        self.retry_after = retry_after


class ProviderConfigurationError(ProviderError, ConfigurationError):
    """The provider refused our credentials or account (HTTP 401/403/404).

    Raised from ``send_batch``: every further message would be refused the same way, so the
    sender stops the run and hands its rows back instead of failing the whole audience.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)
