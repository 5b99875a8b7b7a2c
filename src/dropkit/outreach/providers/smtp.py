"""SMTP through aiosmtplib over a pool of persistent connections (SES SMTP, any MTA).

Each connection sends one message at a time (SMTP is a dialogue); ``connections`` of them run
side by side and stay open between batches, so a campaign pays the TCP/TLS/AUTH handshake a few
times, not once per message. ``start_tls``/``use_tls`` with ``tls_context`` (a private CA, a
client certificate) and ``username``/``password`` (AUTH after STARTTLS) cover hosted relays.
421/450/451/452 replies mean "slow down": the batch stops, and the messages not sent come back
with a :class:`ProviderThrottledError` for the sender to retry.

Only a connection lost after the message body was handed over (the DATA phase) is ambiguous:
a failure during MAIL FROM or RCPT TO means the server cannot have taken the message, so it is
retried, and a server that cannot be reached at all costs the rows no attempt.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Callable, Sequence
from email.utils import parseaddr

import aiosmtplib
import anyio

from dropkit.core.errors import ConfigurationError
from dropkit.outreach.errors import (
    ProviderConfigurationError,
    ProviderError,
    ProviderThrottledError,
)
from dropkit.outreach.message import OutgoingMessage, render_mime
from dropkit.outreach.providers.base import SendResult

__all__ = ["SmtpProvider"]

_THROTTLE = {421, 450, 451, 452}
# A plain dot-atom address: ``email.utils.parseaddr`` returns it unchanged and aiosmtplib's
# injection check passes it, so its MAIL/RCPT argument is just ``<address>``. Anything else
# (display names, quoting, non-ASCII) goes through aiosmtplib's own parsing.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_+=-]+(?:\.[A-Za-z0-9_+=-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
DeliveryLookup = Callable[[Sequence[str]], Awaitable[set[str]]]


async def _reset(client: aiosmtplib.SMTP) -> None:
    """Drop a refused envelope so the connection can carry the next message."""
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


async def _rcpt(client: aiosmtplib.SMTP, recipient: str) -> None:
    """RCPT TO without aiosmtplib's per-call address parsing when the address is plain."""
    if client.is_ehlo_or_helo_needed or _PLAIN_ADDRESS.fullmatch(recipient) is None:
        await client.rcpt(recipient, timeout=None)
        return
    response = await client.execute_command(
        b"RCPT", b"TO:<" + recipient.encode("ascii") + b">", timeout=None
    )
    if response.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)


class SmtpProvider:
    """Send through an SMTP server with ``connections`` persistent connections."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool | None = None,
        tls_context: ssl.SSLContext | None = None,
        connections: int = 4,
        timeout: float = 30.0,
        bounce_address: str | None = None,
        delivery_lookup: DeliveryLookup | None = None,
    ) -> None:
        if connections < 1:
            raise ConfigurationError("connections must be at least 1")
        self.host = host
        self.port = port
        self._auth = (username, password) if username else None
        self._tls = use_tls
        self._start_tls = start_tls
        self._tls_context = tls_context
        self._timeout = timeout
        self._bounce = bounce_address
        self._lookup = delivery_lookup
        self.connections = connections
        self.batch_size = connections * 100
        self._idle: list[aiosmtplib.SMTP] = []
        # One slot per connection: concurrent batches share the pool, never grow it, and a
        # batch's lanes take over connections as the previous batch's lanes finish.
        self._slots = anyio.Semaphore(connections)
        self._envelope: dict[str, str] = {}  # From header -> envelope sender (parsed once)
        self._mail_from: dict[str, bytes] = {}  # envelope sender -> MAIL argument, if plain

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self._timeout,
            use_tls=self._tls,
            start_tls=self._start_tls,
            tls_context=self._tls_context,
        )
        try:
            await client.connect()
            if self._auth is not None:
                await client.login(*self._auth)  # type: ignore[arg-type]
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            raise ProviderConfigurationError(
                f"SMTP {self.host}:{self.port} refused the credentials: {exc}"
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise ProviderError(
                f"cannot connect to SMTP {self.host}:{self.port}: {exc}", unreachable=True
            ) from exc
        return client

    async def _acquire(self) -> aiosmtplib.SMTP:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        return await self._connect()

    async def _send_one(self, client: aiosmtplib.SMTP, message: OutgoingMessage) -> SendResult:
        envelope_from = self._bounce or self._envelope.get(message.sender)
        if envelope_from is None:
            envelope_from = self._envelope[message.sender] = parseaddr(message.sender)[1]
        handed_over = False  # True once DATA begins: from then on, a lost link is ambiguous
        loop = asyncio.get_running_loop()
        try:
            # One deadline moved along per command rather than aiosmtplib's per-reply timeout,
            # which wraps every reply in wait_for (a timer, a future and an event-loop round).
            async with asyncio.timeout(self._timeout) as deadline:
                await self._mail(client, envelope_from)
                deadline.reschedule(loop.time() + self._timeout)
                await _rcpt(client, message.recipient)
                handed_over = True
                # DATA waits for two replies: 354, then the verdict on the body.
                deadline.reschedule(loop.time() + 2 * self._timeout)
                await client.data(render_mime(message), timeout=None)
        except TimeoutError:
            client.close()
            timed_out = ProviderError(
                f"SMTP {self.host}:{self.port} did not answer within {self._timeout} s",
                ambiguous=handed_over,
            )
            return SendResult(message.message_id, error=timed_out)
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(client)
            if exc.code in _THROTTLE:
                error = ProviderThrottledError(f"SMTP {exc.code}: {exc.message}")
                return SendResult(message.message_id, error=error)
            permanent = 500 <= exc.code < 600
            return SendResult(
                message.message_id, error=ProviderError(str(exc), permanent=permanent)
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            lost = ProviderError(f"SMTP connection lost: {exc}", ambiguous=handed_over)
            return SendResult(message.message_id, error=lost)
        return SendResult(message.message_id, provider_message_id=message.message_id)

    async def _mail(self, client: aiosmtplib.SMTP, sender: str) -> None:
        """MAIL FROM, its argument quoted once per sender instead of parsed per message."""
        argument = self._mail_from.get(sender)
        if argument is None:
            if _PLAIN_ADDRESS.fullmatch(sender) is None:
                await client.mail(sender, timeout=None)
                return
            argument = self._mail_from[sender] = b"FROM:<" + sender.encode("ascii") + b">"
        if client.is_ehlo_or_helo_needed:
            await client.mail(sender, timeout=None)  # the first command on a connection: EHLO
            return
        response = await client.execute_command(b"MAIL", argument, timeout=None)
        if response.code != 250:
            raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Send over the pool; after a throttling reply the unsent rest comes back throttled."""
        results: dict[int, SendResult] = {}
        queue = list(enumerate(messages))
        queue.reverse()
        throttled: list[ProviderThrottledError] = []
        refused: list[ProviderError] = []  # why a connection could not be had (TLS, AUTH...)

        async def lane() -> None:
            async with self._slots:
                if queue and not throttled:
                    await work()

        async def work() -> None:
            try:
                client = await self._acquire()
            except ProviderError as exc:
                refused.append(exc)
                return  # the messages this lane would have taken stay unsent (failed below)
            try:
                while queue and not throttled:
                    index, message = queue.pop()
                    result = await self._send_one(client, message)
                    results[index] = result
                    if isinstance(result.error, ProviderThrottledError):
                        throttled.append(result.error)
                    elif not client.is_connected:
                        try:
                            client = await self._acquire()
                        except ProviderError as exc:
                            refused.append(exc)
                            return
            except BaseException:
                # Cancelled mid-dialogue: the reply still owed would answer the next command.
                client.close()
                raise
            finally:
                if client.is_connected:
                    self._idle.append(client)

        async with anyio.create_task_group() as tg:
            for _ in range(min(self.connections, len(messages))):
                tg.start_soon(lane)
        wrong = [e for e in refused if isinstance(e, ProviderConfigurationError)]
        if wrong and not results:
            raise wrong[0]  # every message would be refused the same way: stop the run
        unsent: ProviderError = (
            throttled[0]
            if throttled
            else refused[0]
            if refused
            else ProviderError(f"cannot reach {self.host}:{self.port}", unreachable=True)
        )
        return [
            results.get(i) or SendResult(message.message_id, error=unsent)
            for i, message in enumerate(messages)
        ]

    async def accepted(self, message_ids: Sequence[str]) -> set[str] | None:
        if self._lookup is None:
            return None
        return await self._lookup(message_ids)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
