"""Blocked-page detection: a refusal must be reported as a block, never as "no data".

Status codes say most of it (403, 429, 503 after retries); otherwise a 200 page can still be a
challenge page, recognised by markers of the common bot walls in its first kilobytes.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BLOCK_STATUSES", "block_reason"]

BLOCK_STATUSES: Final = frozenset({401, 403, 429, 503})
_MARKERS: Final = (
    "g-recaptcha",
    "h-captcha",
    "cf-chl-",
    "challenge-platform",
    "px-captcha",
    "<title>attention required",
    "<title>access denied",
    "<title>just a moment",
    "are you a robot",
    "verify you are human",
    "unusual traffic from your computer",
)
_SCAN: Final = 16_384


def block_reason(status: int | None, html: str) -> str | None:
    """Why the page looks like a block (``"HTTP 403"``, ``"captcha marker 'h-captcha'"``), or
    ``None`` for an ordinary page."""
    if status in BLOCK_STATUSES:
        return f"HTTP {status}"
    head = html[:_SCAN].lower()
    for marker in _MARKERS:
        if marker in head:
            return f"captcha marker {marker!r}"
    return None
