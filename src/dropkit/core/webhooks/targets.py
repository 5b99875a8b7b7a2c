"""SSRF guard: outbound webhooks go only to public internet addresses.

A webhook URL is chosen by whoever registers it, so without a guard it is a way to make this
server call its own admin ports, the private network, or the cloud metadata endpoint that hands out
credentials. :func:`check_target` refuses a URL unless *every* address its host resolves to is
public: checking only the first would let a name with one public and one private record through.

Checking a URL once is not enough, for two reasons, and :class:`GuardedTransport` covers both: a
redirect makes the client send a new request to a new host (each hop passes through the
transport, so each is checked), and DNS can answer differently when the connection is made than
when the URL was checked (DNS rebinding), so the transport connects only to the very addresses
that passed the check.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

import anyio
import httpcore
import httpx

from dropkit.core.errors import UnsafeTargetError, WebhookError

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Resolves ``(host, port)`` to IP address strings; the default uses :func:`anyio.getaddrinfo`."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES: Final = frozenset({"http", "https"})

_METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle instance metadata
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud instance metadata
        "168.63.129.16",  # Azure wire server: a public-looking address only VMs reach
    )
)
"""Cloud metadata endpoints: refused even with ``allow_private``, they hand out credentials."""

_LIMITS: Final = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's own

_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")


def _parse(address: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address leads to (mapped, 6to4, Teredo, NAT64, compatible).

    Each of these forms reaches an IPv4 host, so ``::ffff:127.0.0.1`` must be judged as
    ``127.0.0.1``; ``ipaddress`` calls several of them global on their own.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return []
    embedded: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        embedded.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        embedded.append(address.sixtofour)
    if address.teredo is not None:
        embedded.extend(address.teredo)
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return embedded


def _is_public(address: IPAddress) -> bool:
    if (
        not address.is_global
        or address.is_multicast  # ipaddress calls global multicast "global"
        or address.is_reserved
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return address not in _METADATA_ADDRESSES


def _is_metadata(address: IPAddress) -> bool:
    return address in _METADATA_ADDRESSES or any(
        embedded in _METADATA_ADDRESSES for embedded in _embedded_ipv4(address)
    )


def is_public_address(addr: str) -> bool:
    """True if ``addr`` is an IP address on the public internet, including any IPv4 it embeds.

    Anything that is not a valid IP address is not public: the guard fails closed.
    """
    address = _parse(addr)
    if address is None:
        return False
    return _is_public(address) and all(_is_public(v4) for v4 in _embedded_ipv4(address))


async def _getaddrinfo(host: str, port: int) -> list[str]:
    """Resolve with the system resolver, off the event loop."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _split(url: str) -> tuple[str, int]:
    """Return the host and port of an http(s) URL, parsed the way httpx will parse it."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeTargetError(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise UnsafeTargetError(f"URL scheme {parsed.scheme!r} is not allowed; use http or https")
    if not parsed.host:
        raise UnsafeTargetError("URL has no host")
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    return parsed.host, port


def allowed_networks(networks: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    """Parse an allow-list of networks (``"127.0.0.0/8"``, ``"::1"``) that may be private."""
    try:
        return tuple(ipaddress.ip_network(n, strict=False) for n in networks)
    except ValueError as exc:
        raise UnsafeTargetError(f"not a network: {exc}") from None


async def _checked_addresses(
    host: str,
    port: int,
    *,
    allow_private: bool,
    resolver: Resolver | None,
    allow_networks: tuple[IPNetwork, ...] = (),
) -> list[str]:
    """Resolve ``host`` and return its addresses, or refuse the lot if any one is unsafe."""
    if _parse(host) is not None:
        addresses = [host]  # a literal IP: nothing to resolve
    else:
        try:
            addresses = await (resolver or _getaddrinfo)(host, port)
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise WebhookError(f"cannot resolve host {host!r}: {exc}") from None
        if not addresses:
            raise WebhookError(f"cannot resolve host {host!r}: no addresses")
    unique = list(dict.fromkeys(addresses))
    for text in unique:
        address = _parse(text)
        if address is None:
            raise UnsafeTargetError(f"host {host!r} resolves to {text!r}, not an IP address")
        if _is_metadata(address):
            raise UnsafeTargetError(
                f"host {host!r} resolves to {text}, a cloud metadata address; refused"
            )
        if (
            not allow_private
            and not is_public_address(text)
            and not any(address in network for network in allow_networks)
        ):
            raise UnsafeTargetError(
                f"host {host!r} resolves to {text}, which is not a public address; refused"
            )
    return unique


async def check_target(
    url: str,
    *,
    allow_private: bool = False,
    resolver: Resolver | None = None,
    allow_networks: Iterable[str | IPNetwork] = (),
) -> None:
    """Refuse ``url`` unless it is http(s) and every address of its host is public.

    Raises :class:`UnsafeTargetError` (naming the host and the address) for a bad scheme, a
    missing host, or any private, loopback, link-local, multicast, reserved, shared or
    unspecified address, also when embedded in IPv6; cloud metadata addresses are refused even
    with ``allow_private=True`` (meant for tests and self-hosted receivers on a LAN).
    ``allow_networks`` admits private addresses inside those networks only (e.g. loopback for a
    local test server while ``10.0.0.0/8`` stays refused). A host
    that does not resolve raises plain :class:`WebhookError`: that is a dead target, not an
    attack. A literal IP host is checked without DNS.
    """
    host, port = _split(url)
    await _checked_addresses(
        host,
        port,
        allow_private=allow_private,
        resolver=resolver,
        allow_networks=allowed_networks(allow_networks),
    )


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks at connect time, then dials the checked address itself.

    Dialing the IP (not the name) leaves DNS no second chance to answer differently; TLS still
    verifies the certificate against the host name, which httpcore passes separately.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver | None,
        allow_networks: tuple[IPNetwork, ...] = (),
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver
        self._allow_networks = allow_networks
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await _checked_addresses(
                    host,
                    port,
                    allow_private=self._allow_private,
                    resolver=self._resolver,
                    allow_networks=self._allow_networks,
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from None
        error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # in resolver order, as a plain client would try them
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # _checked_addresses never returns an empty list
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedHTTPTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool dialing through :class:`_PinnedBackend`."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver | None,
        allow_networks: tuple[IPNetwork, ...] = (),
        limits: httpx.Limits = _LIMITS,
    ) -> None:
        super().__init__()
        if type(self._pool) is not httpcore.AsyncConnectionPool:  # httpx changed its internals
            raise RuntimeError("this httpx version does not allow pinning connections")
        # Only the network backend differs from the pool httpx built (its defaults otherwise).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(
                allow_private=allow_private, resolver=resolver, allow_networks=allow_networks
            ),
        )


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that runs :func:`check_target` on every request it sends.

    Use it with ``follow_redirects=True`` freely: every redirect hop is a new request through
    the transport. Without ``inner`` it builds httpx's default transport with connections pinned
    to the checked addresses, which also defeats DNS rebinding. A caller-supplied ``inner``
    transport gets the per-request check only, since its connections are not ours to pin.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        allow_networks: Iterable[str | IPNetwork] = (),
        limits: httpx.Limits = _LIMITS,
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver
        self._allow_networks = allowed_networks(allow_networks)
        self._inner = (
            inner
            if inner is not None
            else _PinnedHTTPTransport(
                allow_private=allow_private,
                resolver=resolver,
                allow_networks=self._allow_networks,
                limits=limits,
            )
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        try:
            with anyio.fail_after(timeouts.get("connect")):
                await check_target(
                    str(request.url),
                    allow_private=self._allow_private,
                    resolver=self._resolver,
                    allow_networks=self._allow_networks,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"resolving {request.url.host!r} timed out", request=request
            ) from None
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


__all__ = [
    "ALLOWED_SCHEMES",
    "GuardedTransport",
    "IPNetwork",
    "Resolver",
    "allowed_networks",
    "check_target",
    "is_public_address",
]
