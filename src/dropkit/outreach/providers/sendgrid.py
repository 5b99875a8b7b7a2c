"""SendGrid v3 Mail Send: up to 1,000 recipients per call through personalizations.

Each personalization carries its recipient, subject, headers (List-Unsubscribe, the
correlation id) and ``custom_args`` (returned in event webhooks). The per-recipient bodies are
``substitutions`` of two placeholders in the shared content, so one request carries every
rendered message. SendGrid caps substitutions at 10,000 bytes per personalization: a message
larger than that goes in a request of its own with its content inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import parseaddr
from typing import Any

import httpx

from dropkit.outreach.message import OutgoingMessage
from dropkit.outreach.providers.base import SendResult
from dropkit.outreach.providers.http_batch import send_splitting

__all__ = ["SendGridProvider"]

_HTML = "-dropkit-html-"
_TEXT = "-dropkit-text-"
_SUBSTITUTION_LIMIT = 9_500


def _address(value: str) -> dict[str, str]:
    name, email = parseaddr(value)
    return {"email": email, "name": name} if name else {"email": email}


class SendGridProvider:
    name = "sendgrid"
    batch_size = 1000

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.sendgrid.com",
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
        )

    def _personalization(self, message: OutgoingMessage, *, inline: bool) -> dict[str, Any]:
        item: dict[str, Any] = {
            "to": [{"email": message.recipient}],
            "subject": message.subject,
            "headers": {"X-Dropkit-Message-Id": message.message_id, **dict(message.headers)},
            "custom_args": {"dropkit_message_id": message.message_id, **dict(message.tags)},
        }
        if not inline:
            item["substitutions"] = {_HTML: message.html, _TEXT: message.text}
        return item

    def _body(self, messages: Sequence[OutgoingMessage], *, inline: bool) -> dict[str, Any]:
        first = messages[0]
        content = (
            [
                {"type": "text/plain", "value": first.text},
                {"type": "text/html", "value": first.html},
            ]
            if inline
            else [{"type": "text/plain", "value": _TEXT}, {"type": "text/html", "value": _HTML}]
        )
        body: dict[str, Any] = {
            "from": _address(first.sender),
            "personalizations": [self._personalization(m, inline=inline) for m in messages],
            "content": content,
        }
        if first.reply_to:
            body["reply_to"] = _address(first.reply_to)
        return body

    async def _post(self, messages: Sequence[OutgoingMessage], *, inline: bool) -> list[SendResult]:
        async def post(batch: Sequence[OutgoingMessage]) -> httpx.Response:
            return await self._client.post("/v3/mail/send", json=self._body(batch, inline=inline))

        return await send_splitting(
            "sendgrid", post, messages, lambda response: response.headers.get("x-message-id")
        )

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        by_id: dict[str, SendResult] = {}
        small = [m for m in messages if len(m.html) + len(m.text) <= _SUBSTITUTION_LIMIT]
        large = [m for m in messages if len(m.html) + len(m.text) > _SUBSTITUTION_LIMIT]
        groups: dict[tuple[str, str | None], list[OutgoingMessage]] = {}
        for message in small:
            groups.setdefault((message.sender, message.reply_to), []).append(message)
        for group in groups.values():
            for start in range(0, len(group), self.batch_size):
                for result in await self._post(
                    group[start : start + self.batch_size], inline=False
                ):
                    by_id[result.message_id] = result
        for message in large:
            (result,) = await self._post([message], inline=True)
            by_id[result.message_id] = result
        return [by_id[m.message_id] for m in messages]

    async def accepted(self, message_ids: Sequence[str]) -> set[str] | None:
        return None  # SendGrid has no lookup by our Message-ID without the paid activity API

    async def aclose(self) -> None:
        await self._client.aclose()
