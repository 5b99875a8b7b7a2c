"""Outgoing messages and their MIME bytes, built by splicing precomputed parts.

``email.message.EmailMessage`` costs ~100 µs per message (policy objects, header folding); a
campaign needs one message per recipient, so this module writes the ``multipart/alternative``
bytes directly. A part that is plain ASCII with lines of at most 998 octets goes as ``7bit``
(readable, and no ``=3D`` in every tracked URL); anything else is quoted-printable through
``binascii`` (C), under a boundary that quoted-printable output cannot contain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate

__all__ = ["OutgoingMessage", "deterministic_message_id", "encode_header", "render_mime"]


def deterministic_message_id(source_id: str, recipient_key: str, domain: str) -> str:
    """A Message-ID derived from (campaign, subscriber): the same message always has the same id.

    This is what lets a crashed send be reconciled: the id was in the message before it left.
    """
    digest = hashlib.sha256(f"{source_id}\x00{recipient_key}".encode()).hexdigest()[:32]
    return f"{digest}@{domain}"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One rendered message to one recipient, as every provider receives it."""

    message_id: str  # without angle brackets
    sender: str
    recipient: str
    subject: str
    html: str
    text: str
    headers: tuple[tuple[str, str], ...] = ()
    reply_to: str | None = None
    tags: tuple[tuple[str, str], ...] = ()  # correlation data for provider events


def _clean(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def encode_header(value: str) -> str:
    """An unstructured header value: ASCII as is, otherwise RFC 2047 base64 words."""
    value = _clean(value)
    if value.isascii():
        return value
    words: list[str] = []
    chunk = ""
    for char in value:
        if len((chunk + char).encode()) > 45:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return "\r\n ".join(
        f"=?utf-8?b?{base64.b64encode(word.encode()).decode('ascii')}?=" for word in words
    )


_MAX_LINE = 998  # octets per line, without CRLF (RFC 5322)


def _has_long_line(text: str) -> bool:
    return len(text) > _MAX_LINE and max(map(len, text.split("\n"))) > _MAX_LINE


def _part(text: str, boundary: str) -> tuple[bytes, bytes]:
    """A body part's transfer encoding and bytes (CRLF line ends)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # a lone CR is a line break too
    if text.isascii() and "\0" not in text and boundary not in text and not _has_long_line(text):
        return b"7bit", text.replace("\n", "\r\n").encode()
    body = binascii.b2a_qp(text.encode(), istext=True)
    return b"quoted-printable", body.replace(b"\n", b"\r\n")


_date_cache: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode())
    return _date_cache[1]


def render_mime(message: OutgoingMessage, *, fixed: Sequence[bytes] = ()) -> bytes:
    """The message as RFC 5322 bytes (CRLF line ends), ready for SMTP DATA or a .eml file."""
    marker = "=_dk_" + _clean(message.message_id.split("@", 1)[0])[:24]
    boundary = marker.encode()
    text_encoding, text = _part(message.text, marker)
    html_encoding, html = _part(message.html, marker)
    head = [
        b"From: " + encode_header(message.sender).encode(),
        b"To: " + _clean(message.recipient).encode(),
        b"Subject: " + encode_header(message.subject).encode(),
        b"Date: " + _date(),
        b"Message-ID: <" + _clean(message.message_id).encode() + b">",
        b"MIME-Version: 1.0",
    ]
    if message.reply_to:
        head.append(b"Reply-To: " + _clean(message.reply_to).encode())
    head.extend(fixed)
    for name, value in message.headers:
        head.append(f"{name}: {encode_header(value)}".encode())
    head.append(b'Content-Type: multipart/alternative; boundary="' + boundary + b'"')
    return b"".join(
        (
            b"\r\n".join(head),
            b"\r\n\r\n--",
            boundary,
            b"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: ",
            text_encoding,
            b"\r\n\r\n",
            text,
            b"\r\n--",
            boundary,
            b"\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: ",
            html_encoding,
            b"\r\n\r\n",
            html,
            b"\r\n--",
            boundary,
            b"--\r\n",
        )
    )
