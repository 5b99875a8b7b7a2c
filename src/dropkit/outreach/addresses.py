"""Email address normalisation and syntax validation, without network lookups.

Addresses are stored lowercase (domain IDNA-encoded) so one person is one subscriber; the checks
follow RFC 5321/5322 for the addresses people really use (dot-atom local part, a dotted domain).
"""

from __future__ import annotations

import re

from dropkit.outreach.errors import InvalidEmailError

__all__ = ["normalise_email"]

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_email(address: str) -> str:
    """The canonical form of ``address`` (trimmed, lowercase, IDNA domain), or raise."""
    text = address.strip()
    if not text or len(text) > 254 or text.count("@") != 1:
        raise InvalidEmailError(f"not an email address: {address!r}")
    local, domain = text.rsplit("@", 1)
    if not local or len(local) > 64 or not _LOCAL.match(local):
        raise InvalidEmailError(f"invalid local part in {address!r}")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidEmailError(f"invalid domain in {address!r}") from exc
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidEmailError(f"invalid domain in {address!r}")
    if labels[-1].isdigit():
        raise InvalidEmailError(f"invalid top-level domain in {address!r}")
    return f"{local.lower()}@{ascii_domain}"
