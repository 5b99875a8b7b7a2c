"""Telling machine-made opens and clicks from human ones.

Apple Mail Privacy Protection fetches every image of every message through Apple's proxies
(user agent a bare ``Mozilla/5.0``, addresses in 17.0.0.0/8), security gateways fetch and follow
links before delivery, and anything that loads the pixel seconds after the send is a prefetch,
not a reader. Such opens are counted apart; they are not engagement.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["MachineDetector"]

_APPLE_NETWORKS = (ipaddress.ip_network("17.0.0.0/8"),)
_SCANNERS = (
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "messagelabs",
    "trendmicro",
    "fireeye",
    "forcepoint",
    "sophos",
    "safelinks",
    "bot",
    "crawler",
    "spider",
    "python-requests",
    "python-httpx",
    "curl/",
    "wget/",
    "go-http-client",
    "headlesschrome",
)


@dataclass(frozen=True)
class MachineDetector:
    """Rules for machine opens; ``prefetch_seconds`` after delivery counts as prefetch."""

    prefetch_seconds: float = 5.0

    def reason(
        self, user_agent: str | None, ip: str | None, seconds_after_send: float | None
    ) -> str | None:
        """Why this looks machine-made, or None for a (probably) human open."""
        agent = (user_agent or "").strip()
        lowered = agent.lower()
        if not agent:
            return "no user agent"
        if any(marker in lowered for marker in _SCANNERS):
            return "known scanner"
        if ip:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                address = None
            if address is not None and any(address in net for net in _APPLE_NETWORKS):
                return "apple privacy proxy"
        if agent == "Mozilla/5.0":
            return "apple privacy proxy"
        if seconds_after_send is not None and 0 <= seconds_after_send < self.prefetch_seconds:
            return "prefetch"
        return None
