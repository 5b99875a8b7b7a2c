"""Tracked links, the open pixel and unsubscribe headers, added to each rendered message.

Every link to an http(s) URL, in the HTML part (``href="…"``) and in the text part (bare URLs),
becomes a signed click URL carrying (source, subscriber, url); the signature makes the redirect
useless to anyone else, and the click handler also checks that the URL belongs to that campaign.

This runs once per message on the send path, so the constant parts are prepared once per source
(campaign or transactional message) in :class:`SourceLinks`: the JSON of the source id and of
each URL seen, and which hrefs are left alone. Per message what remains is one HMAC per distinct
link, one for the pixel and one for the unsubscribe URL. Tokens are byte-identical to
:meth:`TokenSigner.sign` of the same payload (sorted keys, compact JSON), so they verify alike.
"""

from __future__ import annotations

import html as html_lib
import json
import re

from dropkit.outreach.tokens import TokenSigner

__all__ = ["Instrumenter", "RecipientLinks", "SourceLinks"]

_HREF = re.compile(r'href\s*=\s*"(https?://[^"]+)"', re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"]+")
_TRAILING = ".,;:!?'"
OPEN, CLICK, UNSUBSCRIBE = "open", "click", "unsubscribe"


def _trim(url: str) -> str:
    """A URL in running text without the punctuation that follows it (``(see https://x).``)."""
    while url and (url[-1] in _TRAILING or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url


class Instrumenter:
    """Builds the tracking URLs of one site (``public_url``) with one signer."""

    def __init__(self, signer: TokenSigner, public_url: str) -> None:
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.own_prefix = f"{self.public_url}/email/"
        # Tokens are URL-safe base64: our URLs need HTML escaping only if the site URL does.
        self.plain = html_lib.escape(self.own_prefix, quote=True) == self.own_prefix

    def url(self, path: str, token: str) -> str:
        return f"{self.own_prefix}{path}?t={token}"  # tokens are URL-safe as they are

    def source(self, source_id: str) -> SourceLinks:
        """The per-source link state (build once per campaign run, use for every message)."""
        return SourceLinks(self, source_id)

    def list_unsubscribe_headers(self, unsubscribe_url: str) -> tuple[tuple[str, str], ...]:
        """RFC 2369 / RFC 8058 headers: one-click unsubscribe by POST to the signed URL."""
        return (
            ("List-Unsubscribe", f"<{unsubscribe_url}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        )


class SourceLinks:
    """One source's tracking state: encoded constants, and every URL it has tracked so far."""

    def __init__(self, instrumenter: Instrumenter, source_id: str) -> None:
        self.instrumenter = instrumenter
        self.source_id = source_id
        self.links: set[str] = set()  # the original URLs tracked (the click handler's allowlist)
        self._prefix = '{"c":' + json.dumps(source_id) + ',"s":'
        self._url_json: dict[str, str | None] = {}  # URL -> its JSON, or None: left alone

    def recipient(self, subscriber_id: str) -> RecipientLinks:
        return RecipientLinks(self, subscriber_id)

    def url_json(self, url: str) -> str | None:
        """The URL's JSON for click tokens, or None for a URL that is not tracked."""
        try:
            return self._url_json[url]
        except KeyError:
            pass
        encoded: str | None = json.dumps(url)
        if any(ch in url for ch in "\r\n\t ") or url.startswith(self.instrumenter.own_prefix):
            encoded = None  # not a URL we will ever redirect to, or one of our own
        self._url_json[url] = encoded
        return encoded


class RecipientLinks:
    """The tracking URLs of one message: one token per distinct link, cached for both parts."""

    def __init__(self, source: SourceLinks, subscriber_id: str) -> None:
        self._source = source
        self._instrumenter = source.instrumenter
        self._ids = source._prefix + json.dumps(subscriber_id)
        self._clicks: dict[str, str] = {}

    def _sign(self, purpose: str, payload: str) -> str:
        token = self._instrumenter.signer.sign_json(purpose, payload)
        return self._instrumenter.url(purpose, token)

    def _escaped(self, url: str) -> str:
        return url if self._instrumenter.plain else html_lib.escape(url, quote=True)

    def open_url(self) -> str:
        return self._sign(OPEN, self._ids + "}")

    def unsubscribe_url(self) -> str:
        return self._sign(UNSUBSCRIBE, self._ids + "}")

    def click_url(self, url: str) -> str | None:
        """The signed click URL for ``url`` (None: the URL stays as it is)."""
        tracked = self._clicks.get(url)
        if tracked is None:
            encoded = self._source.url_json(url)
            if encoded is None:
                return None
            self._source.links.add(url)
            tracked = self._clicks[url] = self._sign(CLICK, f'{self._ids},"u":{encoded}}}')
        return tracked

    def _href(self, match: re.Match[str]) -> str:
        tracked = self.click_url(html_lib.unescape(match.group(1)))
        if tracked is None:
            return match.group(0)
        return f'href="{self._escaped(tracked)}"'

    def _bare(self, match: re.Match[str]) -> str:
        found = match.group(0)
        url = _trim(found)
        tracked = self.click_url(url)
        return found if tracked is None else tracked + found[len(url) :]

    def html(self, body: str) -> str:
        """Links rewritten, and the open pixel before ``</body>`` (or at the end)."""
        body = _HREF.sub(self._href, body)
        pixel = (
            f'<img src="{self._escaped(self.open_url())}"'
            ' width="1" height="1" alt="" style="display:none">'
        )
        closing = body.lower().rfind("</body>")
        if closing == -1:
            return body + pixel
        return body[:closing] + pixel + body[closing:]

    def text(self, body: str) -> str:
        """Bare http(s) URLs in the text part rewritten (trailing punctuation kept outside)."""
        return _TEXT_URL.sub(self._bare, body)
