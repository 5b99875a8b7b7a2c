"""Mailgun: batch sending with ``recipient-variables``, up to 1,000 recipients per call.

The subject, HTML and text of one call are ``%recipient.…%`` placeholders filled per recipient
from the ``recipient-variables`` JSON, so a call carries every rendered message; the correlation
id travels as a user variable (``v:dropkit-message-id``) that Mailgun returns in its events.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx

from dropkit.outreach.message import OutgoingMessage
from dropkit.outreach.providers.base import SendResult
from dropkit.outreach.providers.http_batch import send_splitting

__all__ = ["MailgunProvider"]


def _provider_id(response: httpx.Response) -> str | None:
    try:
        return str(response.json().get("id", "")).strip("<>") or None
    except ValueError:
        return None


class MailgunProvider:
    name = "mailgun"
    batch_size = 1000

    def __init__(
        self,
        api_key: str,
        domain: str,
        *,
        base_url: str = "https://api.mailgun.net",
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.domain = domain
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, auth=("api", api_key), transport=transport
        )

    def _form(self, messages: Sequence[OutgoingMessage]) -> dict[str, str | list[str]]:
        first = messages[0]
        variables = {
            m.recipient: {
                "subject": m.subject,
                "html": m.html,
                "text": m.text,
                "mid": m.message_id,
                **{f"h_{i}": value for i, (_, value) in enumerate(m.headers)},
                **{f"t_{i}": value for i, (_, value) in enumerate(m.tags)},
            }
            for m in messages
        }
        form: dict[str, str | list[str]] = {
            "from": first.sender,
            "to": [m.recipient for m in messages],
            "subject": "%recipient.subject%",
            "html": "%recipient.html%",
            "text": "%recipient.text%",
            "recipient-variables": json.dumps(variables),
            "h:X-Dropkit-Message-Id": "%recipient.mid%",
            "v:dropkit-message-id": "%recipient.mid%",
        }
        for i, (name, _) in enumerate(first.headers):
            form[f"h:{name}"] = f"%recipient.h_{i}%"
        for i, (key, _) in enumerate(first.tags):
            form[f"v:{key}"] = f"%recipient.t_{i}%"
        if first.reply_to:
            form["h:Reply-To"] = first.reply_to
        return form

    async def _post(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        async def post(batch: Sequence[OutgoingMessage]) -> httpx.Response:
            return await self._client.post(f"/v3/{self.domain}/messages", data=self._form(batch))

        return await send_splitting("mailgun", post, messages, _provider_id)

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        by_id: dict[str, SendResult] = {}
        groups: dict[tuple[str, str | None, tuple[str, ...]], list[OutgoingMessage]] = {}
        for message in messages:
            key = (
                message.sender,
                message.reply_to,
                tuple(n for n, _ in message.headers) + tuple(k for k, _ in message.tags),
            )
            groups.setdefault(key, []).append(message)
        for group in groups.values():
            seen: set[str] = set()
            batch: list[OutgoingMessage] = []
            for message in group:  # one recipient appears once per call
                if message.recipient in seen or len(batch) >= self.batch_size:
                    for result in await self._post(batch):
                        by_id[result.message_id] = result
                    batch, seen = [], set()
                batch.append(message)
                seen.add(message.recipient)
            if batch:
                for result in await self._post(batch):
                    by_id[result.message_id] = result
        return [by_id[m.message_id] for m in messages]

    async def accepted(self, message_ids: Sequence[str]) -> set[str] | None:
        return None  # Mailgun's events API is eventually consistent: not a safe "not sent"

    async def aclose(self) -> None:
        await self._client.aclose()
