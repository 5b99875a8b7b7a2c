"""Shared plumbing of the HTTP batch providers (SendGrid, Mailgun): status and error mapping.

One call carries up to a thousand recipients, so how a failure is read decides the fate of a
thousand rows: a refused key stops the run (every call would be refused), a refused batch is
split until the bad message is alone, a connection that never opened is plainly transient, and
only a request that was written and then lost its answer is ambiguous.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import httpx

from dropkit.outreach.errors import (
    ProviderConfigurationError,
    ProviderError,
    ProviderThrottledError,
)
from dropkit.outreach.message import OutgoingMessage
from dropkit.outreach.providers.base import SendResult

__all__ = ["error_for_status", "retry_after", "send_splitting"]

#: The request never reached the server whole: nothing can have been sent.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)
#: The account or endpoint is wrong: every call would be refused.
_CONFIGURATION = frozenset({401, 403, 404})
#: The provider refused the request's content: one message may be to blame.
_SPLIT = frozenset({400, 413, 422})


def retry_after(response: httpx.Response, default: float = 1.0) -> float:
    value = response.headers.get("retry-after") or response.headers.get("x-ratelimit-reset")
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return max(0.0, min(seconds, 3600.0))


def error_for_status(provider: str, response: httpx.Response) -> ProviderError | None:
    """None for 2xx; a throttle for 429; permanent for other 4xx; transient for 5xx/408."""
    if response.is_success:
        return None
    text = response.text[:300]
    if response.status_code == 429:
        return ProviderThrottledError(
            f"{provider} throttled (429): {text}", retry_after=retry_after(response)
        )
    permanent = 400 <= response.status_code < 500 and response.status_code != 408
    return ProviderError(f"{provider} HTTP {response.status_code}: {text}", permanent=permanent)


async def send_splitting(
    provider: str,
    post: Callable[[Sequence[OutgoingMessage]], Awaitable[httpx.Response]],
    messages: Sequence[OutgoingMessage],
    provider_id: Callable[[httpx.Response], str | None],
) -> list[SendResult]:
    """POST a batch; map the outcome to one result per message (see the module docstring).

    Raises :class:`ProviderConfigurationError` on 401/403/404. A 400/413/422 for several
    messages is retried as two halves, so only the offending message fails.
    """
    try:
        response = await post(messages)
    except _NOT_SENT as exc:
        down = ProviderError(f"{provider} unreachable: {exc!r}", unreachable=True)
        return [SendResult(m.message_id, error=down) for m in messages]
    except httpx.HTTPError as exc:
        lost = ProviderError(f"{provider} request lost its answer: {exc!r}", ambiguous=True)
        return [SendResult(m.message_id, error=lost) for m in messages]
    if response.status_code in _CONFIGURATION:
        raise ProviderConfigurationError(
            f"{provider} refused the account (HTTP {response.status_code}): {response.text[:300]}"
        )
    if response.status_code in _SPLIT and len(messages) > 1:
        half = len(messages) // 2
        first = await send_splitting(provider, post, messages[:half], provider_id)
        return first + await send_splitting(provider, post, messages[half:], provider_id)
    error = error_for_status(provider, response)
    if error is not None:
        return [SendResult(m.message_id, error=error) for m in messages]
    accepted_as = provider_id(response)
    return [SendResult(m.message_id, provider_message_id=accepted_as) for m in messages]
