"""SSRF guard for outbound webhook URLs: address classes, resolution, redirects, rebinding."""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from dropkit.core.errors import UnsafeTargetError, WebhookError
from dropkit.core.webhooks import targets
from dropkit.core.webhooks.targets import (
    GuardedTransport,
    Resolver,
    check_target,
    is_public_address,
)

NOT_PUBLIC = [
    "127.0.0.1",  # loopback
    "127.255.255.254",
    "10.0.0.1",  # RFC 1918
    "172.16.0.1",
    "192.168.1.1",
    "169.254.1.1",  # link-local
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "100.100.100.200",  # Alibaba metadata, inside the shared space
    "168.63.129.16",  # Azure wire server: looks public
    "0.0.0.0",  # unspecified
    "0.1.2.3",  # "this network"
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",  # broadcast
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "::1",  # IPv6 loopback
    "::",  # unspecified
    "fe80::1",  # link-local
    "fe80::1%lo",  # with a zone
    "fc00::1",  # unique local
    "fd00:ec2::254",  # AWS metadata over IPv6
    "fec0::1",  # deprecated site-local
    "ff02::1",  # multicast
    "ff0e::1",  # global-scope multicast
    "2001:db8::1",  # documentation
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::7f00:1",  # IPv4-compatible loopback
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "2002:a00:1::1",  # 6to4 around 10.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "64:ff9b::7f00:1",  # NAT64 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    "not an address",
    "",
    "example.com",
    "127.1",  # inet_aton shorthand is not an IP address here; resolution handles it
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "2001:4860:4860::8888"]


async def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"a literal IP must not be resolved (asked for {host}:{port})")


def fixed(*addresses: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/hook",
        "https://10.1.2.3/",
        "http://172.31.255.255/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0:8000/",
        "http://224.0.0.251/",
        "http://240.0.0.1/",
        "http://[::1]:8000/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://[fc00::1]/",
        "http://[ff02::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[2002:a00:1::1]/",
        "http://[64:ff9b::a00:1]/",
    ],
)
async def test_literal_private_ips_are_refused_without_dns(url: str) -> None:
    with pytest.raises(UnsafeTargetError, match="refused"):
        await check_target(url, resolver=no_dns)


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8/hook", "http://1.1.1.1:8080/", "https://[2606:4700:4700::1111]/x"]
)
async def test_literal_public_ips_are_allowed_without_dns(url: str) -> None:
    await check_target(url, resolver=no_dns)


async def test_refusal_names_host_and_address() -> None:
    with pytest.raises(UnsafeTargetError) as caught:
        await check_target("http://192.168.7.7:9000/", resolver=no_dns)
    assert "'192.168.7.7'" in str(caught.value)
    assert "192.168.7.7, which is not a public address" in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/", "http://10.0.0.1/", "http://[::1]/", "http://[fe80::1]/"]
)
async def test_allow_private(url: str) -> None:
    await check_target(url, allow_private=True, resolver=no_dns)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://168.63.129.16/",
    ],
)
async def test_metadata_is_refused_even_with_allow_private(url: str) -> None:
    with pytest.raises(UnsafeTargetError, match="metadata"):
        await check_target(url, allow_private=True, resolver=no_dns)


async def test_name_resolving_to_private_address_is_refused() -> None:
    """DNS rebinding: a public-looking name whose record points inside."""
    with pytest.raises(UnsafeTargetError, match=r"'hooks\.example\.com' resolves to 10\.0\.0\.5"):
        await check_target("https://hooks.example.com/in", resolver=fixed("10.0.0.5"))


async def test_one_private_record_among_public_ones_is_enough_to_refuse() -> None:
    resolver = fixed("93.184.215.14", "2606:4700:4700::1111", "127.0.0.1")
    with pytest.raises(UnsafeTargetError, match=r"127\.0\.0\.1"):
        await check_target("https://hooks.example.com/in", resolver=resolver)


async def test_name_resolving_to_metadata_is_refused_even_with_allow_private() -> None:
    with pytest.raises(UnsafeTargetError, match="metadata"):
        await check_target(
            "http://metadata.example/", allow_private=True, resolver=fixed("169.254.169.254")
        )


async def test_name_resolving_to_public_addresses_is_allowed() -> None:
    asked: list[tuple[str, int]] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["93.184.215.14", "2606:4700:4700::1111"]

    await check_target("https://Hooks.Example.com/in", resolver=resolver)
    await check_target("http://hooks.example.com/in", resolver=resolver)
    await check_target("http://hooks.example.com:8443/in", resolver=resolver)
    assert asked == [
        ("hooks.example.com", 443),
        ("hooks.example.com", 80),
        ("hooks.example.com", 8443),
    ]


async def test_resolver_garbage_is_refused() -> None:
    with pytest.raises(UnsafeTargetError, match="not an IP address"):
        await check_target("https://hooks.example.com/", resolver=fixed("not-an-ip"))


async def test_unresolvable_host_is_a_plain_webhook_error() -> None:
    async def fails(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(WebhookError, match=r"cannot resolve host 'nowhere\.example'") as caught:
        await check_target("https://nowhere.example/", resolver=fails)
    assert not isinstance(caught.value, UnsafeTargetError)

    with pytest.raises(WebhookError, match="no addresses") as caught:
        await check_target("https://nowhere.example/", resolver=fixed())
    assert not isinstance(caught.value, UnsafeTargetError)


@pytest.mark.parametrize("url", ["http://localhost:8000/", "http://127.1/", "http://2130706433/"])
async def test_default_resolver_sees_through_local_names(url: str) -> None:
    """The system resolver answers these from /etc/hosts or inet_aton: no DNS traffic."""
    with pytest.raises(UnsafeTargetError, match="not a public address"):
        await check_target(url)
    await check_target(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "javascript:alert(1)",
        "ws://example.com/",
        "//example.com/hook",
        "example.com/hook",
    ],
)
async def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTargetError, match="scheme"):
        await check_target(url, resolver=no_dns)


@pytest.mark.parametrize("url", ["http://", "https:///path", "http://:80/"])
async def test_url_without_host_is_refused(url: str) -> None:
    with pytest.raises(UnsafeTargetError, match=r"no host|not a valid URL"):
        await check_target(url, resolver=no_dns)


@pytest.mark.parametrize(
    "url", ["http://[::1/", "http://a:notaport/", "http://[zz::1]/", "http://a\x00b/"]
)
async def test_invalid_url_is_refused(url: str) -> None:
    with pytest.raises(UnsafeTargetError, match="not a valid URL"):
        await check_target(url, resolver=no_dns)


# GuardedTransport around a mock transport: no sockets at all.


def mock_inner(seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/redirect":
            return httpx.Response(302, headers={"location": "http://169.254.169.254/latest/"})
        return httpx.Response(200, text="ok")

    return httpx.MockTransport(handler)


async def test_transport_passes_public_requests_to_inner() -> None:
    seen: list[str] = []
    transport = GuardedTransport(mock_inner(seen), resolver=fixed("93.184.215.14"))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.post("https://hooks.example.com/in", content=b"{}")
    assert response.text == "ok"
    assert seen == ["https://hooks.example.com/in"]


async def test_transport_refuses_before_the_inner_transport_sees_anything() -> None:
    seen: list[str] = []
    transport = GuardedTransport(mock_inner(seen), resolver=fixed("10.0.0.5"))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(UnsafeTargetError, match=r"10\.0\.0\.5"):
            await client.post("https://hooks.example.com/in", content=b"{}")
    assert seen == []


async def test_transport_checks_every_redirect_hop() -> None:
    seen: list[str] = []
    transport = GuardedTransport(mock_inner(seen), resolver=fixed("93.184.215.14"))
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        with pytest.raises(UnsafeTargetError, match=r"169\.254\.169\.254"):
            await client.get("https://hooks.example.com/redirect")
    assert seen == ["https://hooks.example.com/redirect"]


async def test_transport_bounds_resolution_by_the_connect_timeout() -> None:
    async def hangs(host: str, port: int) -> list[str]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    transport = GuardedTransport(mock_inner([]), resolver=hangs)
    async with httpx.AsyncClient(transport=transport, timeout=0.05) as client:
        with pytest.raises(httpx.ConnectTimeout):
            await client.get("https://slow.example/")


# A real server on loopback. 127.0.0.2 stands in for a public receiver (the test declares it
# public); 127.0.0.1 is the private service an attacker wants to reach. Both listen on one port,
# so without the guard a request that lands on the wrong address would succeed.

PUBLIC_STAND_IN = "127.0.0.2"


@pytest.fixture
def stand_in_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    real = targets.is_public_address
    monkeypatch.setattr(
        targets, "is_public_address", lambda address: address == PUBLIC_STAND_IN or real(address)
    )


def bind_pair() -> tuple[socket.socket, socket.socket]:
    """Listening sockets on 127.0.0.1 and 127.0.0.2 sharing one free port."""
    for _ in range(20):
        private = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        private.bind(("127.0.0.1", 0))
        public = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            public.bind((PUBLIC_STAND_IN, private.getsockname()[1]))
        except OSError as exc:
            private.close()
            public.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return private, public
    raise AssertionError("no port free on both loopback addresses")


@asynccontextmanager
async def serving(hits: list[str]) -> AsyncIterator[int]:
    """Run a tiny app under uvicorn on both addresses; yield the port."""
    private_sock, public_sock = bind_pair()
    port = private_sock.getsockname()[1]

    async def start(request: Request) -> Response:
        hits.append(f"{request.url.hostname} /start")
        return RedirectResponse(f"http://127.0.0.1:{port}/private", status_code=302)

    async def private(request: Request) -> Response:
        hits.append(f"{request.url.hostname} /private")
        return PlainTextResponse("private data")

    async def hello(request: Request) -> Response:
        hits.append(f"{request.url.hostname} /hello")
        return PlainTextResponse(f"hello {request.headers['host']}")

    app = Starlette(
        routes=[Route("/start", start), Route("/private", private), Route("/hello", hello)]
    )
    config = uvicorn.Config(
        app, http="h11", ws="none", lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [private_sock, public_sock])
            with anyio.fail_after(10):
                while not server.started:
                    await anyio.sleep(0.01)
            try:
                yield port
            finally:
                server.should_exit = True
    finally:
        private_sock.close()
        public_sock.close()


@pytest.mark.usefixtures("stand_in_is_public")
async def test_redirect_to_a_private_address_is_refused() -> None:
    hits: list[str] = []
    transport = GuardedTransport()
    async with (
        serving(hits) as port,
        httpx.AsyncClient(transport=transport, follow_redirects=True) as client,
    ):
        with pytest.raises(UnsafeTargetError, match=r"'127\.0\.0\.1' resolves to 127\.0\.0\.1"):
            await client.get(f"http://{PUBLIC_STAND_IN}:{port}/start")
    assert hits == [f"{PUBLIC_STAND_IN} /start"]  # the first hop went through, the second did not


@pytest.mark.usefixtures("stand_in_is_public")
async def test_redirect_to_a_private_address_is_followed_when_allowed() -> None:
    hits: list[str] = []
    transport = GuardedTransport(allow_private=True)
    async with (
        serving(hits) as port,
        httpx.AsyncClient(transport=transport, follow_redirects=True) as client,
    ):
        response = await client.get(f"http://{PUBLIC_STAND_IN}:{port}/start")
    assert response.status_code == 200
    assert response.text == "private data"
    assert hits == [f"{PUBLIC_STAND_IN} /start", "127.0.0.1 /private"]


async def test_direct_request_to_loopback_server_is_refused_unless_allowed() -> None:
    hits: list[str] = []
    async with serving(hits) as port:
        async with httpx.AsyncClient(transport=GuardedTransport(), follow_redirects=True) as client:
            with pytest.raises(UnsafeTargetError):
                await client.get(f"http://127.0.0.1:{port}/start")
        assert hits == []
        async with httpx.AsyncClient(
            transport=GuardedTransport(allow_private=True), follow_redirects=True
        ) as client:
            response = await client.get(f"http://127.0.0.1:{port}/start")
    assert response.text == "private data"


@pytest.mark.usefixtures("stand_in_is_public")
async def test_connection_goes_to_the_checked_address_under_the_original_name() -> None:
    hits: list[str] = []
    resolver = fixed(PUBLIC_STAND_IN)
    transport = GuardedTransport(resolver=resolver)
    async with serving(hits) as port, httpx.AsyncClient(transport=transport) as client:
        response = await client.get(f"http://hooks.example:{port}/hello")
    assert response.text == f"hello hooks.example:{port}"


@pytest.mark.usefixtures("stand_in_is_public")
async def test_dns_rebinding_between_check_and_connect_is_refused() -> None:
    """The name is public when the URL is checked and private when the socket is opened."""
    answers = iter([[PUBLIC_STAND_IN], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    hits: list[str] = []
    transport = GuardedTransport(resolver=rebinding)
    async with serving(hits) as port, httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(UnsafeTargetError, match=r"'rebind\.example' resolves to 127"):
            await client.get(f"http://rebind.example:{port}/private")
    assert hits == []
