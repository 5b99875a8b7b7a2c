"""Campaign messages per second over SMTP and the HTTP batch API, against the bare limit.

Run: ``python benchmarks/email.py [--subscribers 50000] [--connections 8] [--database URL]``

1. dropkit: a campaign to ``--subscribers`` subscribers (a personalised Jinja template with a
   tracked link, the open pixel and unsubscribe headers) through ``SmtpProvider`` with
   ``--connections`` persistent connections into a local SMTP sink running in another process.
   Every message goes through the ledger (claim, send, record). Subscribers and the audience
   snapshot are written before the clock starts.
2. the limit: a bare aiosmtplib loop with the same number of connections sending the same
   messages into the same sink: the exact bytes dropkit handed to aiosmtplib (the sink keeps
   them during step 1), with the same envelope sender and recipients; no database, no
   templating, no tracking.
3. the provider alone: the first messages dropkit rendered in step 1 (``_KEPT`` of them, so
   that holding them does not load step 1's garbage collector), sent again and again through a
   fresh ``SmtpProvider`` up to the campaign's size (``provider_cpu_us_per_msg``): what the
   SMTP dialogue itself costs dropkit, next to the bare loop's ``sendmail``; the rest of step
   1's CPU is the campaign's own work.
4. HTTP batch: the same campaign size through ``SendGridProvider`` (1,000 personalizations per
   call) into a local HTTP server (another process) speaking ``/v3/mail/send``.

The sink counts Message-IDs (SMTP) and recipients (HTTP): ``duplicates`` and ``missing`` are
counted there, not trusted from the sender. ``*_cpu_us_per_msg`` is this process's CPU time
(all threads) per message in the two SMTP runs: on a shared machine the wall-time ratio swings
with the neighbours' load, the CPU cost much less. The database is a SQLite file by default (the
embedded setup); ``--database`` takes a PostgreSQL URL. The last line is one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is benchmarks/email.py: run as a script, its folder comes first on sys.path and
# would shadow the standard library's ``email`` package (which httpx and aiosmtplib import).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import json
import os
import re
import resource
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import aiosmtplib
import anyio
import httpx

from dropkit.commerce.schema import COMMERCE_MIGRATIONS
from dropkit.core.database import Database
from dropkit.core.jsontext import dumps_strict
from dropkit.core.migrations import Migrator
from dropkit.core.schema import CORE_MIGRATIONS
from dropkit.outreach import (
    OUTREACH_MIGRATIONS,
    Outreach,
    SendGridProvider,
    SmtpProvider,
)
from dropkit.outreach.message import OutgoingMessage
from dropkit.outreach.providers.base import EmailProvider, SendResult

TEMPLATE = """<html><body><h1>Hello {{ subscriber.attributes.name }}</h1>
<p>The {{ product.title }} is back for {{ product.price }}.</p>
<p><a href="https://shop.example/products/lamp">See it</a></p>
</body></html>"""

# -- the sink servers (run as separate processes) ----------------------------------------------

_MID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.IGNORECASE | re.MULTILINE)


class _SmtpSink(asyncio.Protocol):
    counts: Counter[bytes] = Counter()
    kept: list[bytes] | None = None  # raw messages, between XKEP and XDMP

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.in_data = False
        self.transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end == -1:
                    return
                body, self.buffer = self.buffer[:end], self.buffer[end + 5 :]
                match = _MID.search(body, 0, body.find(b"\r\n\r\n"))
                _SmtpSink.counts[match.group(1) if match else b"?"] += 1
                if _SmtpSink.kept is not None:
                    _SmtpSink.kept.append(body)
                self.in_data = False
                self.transport.write(b"250 OK\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end == -1:
                return
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.transport.write(b"250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.transport.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
            elif verb == b"XKEP":  # the benchmark's control commands: keep the messages,
                _SmtpSink.kept = []
                self.transport.write(b"250 keeping\r\n")
            elif verb == b"XDMP":  # dump (and reset) counts and kept messages
                dump = {k.decode(): v for k, v in _SmtpSink.counts.items()}
                _SmtpSink.counts = Counter()
                target = Path(line[5:].decode())
                target.write_text(json.dumps(dump))
                if _SmtpSink.kept is not None:
                    with target.with_suffix(".eml").open("wb") as out:
                        for body in _SmtpSink.kept:
                            out.write(len(body).to_bytes(8, "big") + body)
                    _SmtpSink.kept = None
                self.transport.write(b"250 dumped\r\n")
            else:
                self.transport.write(b"250 OK\r\n")


async def _serve_smtp(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_SmtpSink, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _serve_http(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    counts: Counter[str] = Counter()

    async def send(request: Request) -> Response:
        body = json.loads(await request.body())
        for p in body["personalizations"]:
            counts[p["to"][0]["email"]] += 1
        return Response(status_code=202, headers={"X-Message-Id": uuid.uuid4().hex})

    async def stats(request: Request) -> Response:
        dump = dict(counts)
        counts.clear()
        return JSONResponse(dump)

    app = Starlette(routes=[Route("/v3/mail/send", send, methods=["POST"]), Route("/stats", stats)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- the benchmark -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn(mode: str, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-P", __file__, mode, str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{mode} server did not start")


async def _smtp_control(port: int, command: str) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    await client.execute_command(command.encode())
    await client.quit()


async def _smtp_counts(port: int, path: Path) -> dict[str, int]:
    await _smtp_control(port, f"XDMP {path}")
    return dict(json.loads(await anyio.Path(path).read_text()))


_STUFFED = re.compile(rb"^\.\.", re.MULTILINE)
_TO = re.compile(rb"^To: ([^\r\n]+)", re.MULTILINE)


def _kept(path: Path) -> list[tuple[str, bytes]]:
    """The (recipient, message) pairs the sink kept, as the sender handed them to aiosmtplib."""
    data, messages, at = path.read_bytes(), [], 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 8], "big")
        body = _STUFFED.sub(b".", data[at + 8 : at + 8 + size]) + b"\r\n"  # undo dot-stuffing
        match = _TO.search(body)
        messages.append((match.group(1).decode() if match else "x@bench.example", body))
        at += 8 + size
    return messages


async def _seed(db: Database, count: int) -> str:
    """Subscribers and their list as bulk rows (setup, not measured)."""
    now = time.time()
    list_id = "lst_bench"
    await db.execute(
        "INSERT INTO outreach_lists (id, name, created_at) VALUES ({}, {}, {})",
        list_id,
        "bench",
        now,
    )
    for start in range(0, count, 500):
        chunk = range(start, min(count, start + 500))
        args: list[Any] = []
        for n in chunk:
            args += [
                f"sub_{n:07d}",
                f"user{n}@bench.example",
                dumps_strict({"name": f"User {n}"}),
                now,
                now,
            ]
        values = ", ".join(["({}, {}, 'active', {}, {}, {})"] * len(chunk))
        await db.execute(
            "INSERT INTO outreach_subscribers (id, email, status, attributes, created_at,"
            f" updated_at) VALUES {values}",
            *args,
        )
        members: list[Any] = []
        for n in chunk:
            members += [list_id, f"sub_{n:07d}", now]
        await db.execute(
            "INSERT INTO outreach_memberships (list_id, subscriber_id, added_at) VALUES "
            + ", ".join(["({}, {}, {})"] * len(chunk)),
            *members,
        )
    return list_id


async def _campaign(service: Outreach, list_id: str, name: str) -> tuple[str, float]:
    await service.templates.save(
        "bench",
        subject="{{ product.title }} for you, {{ subscriber.attributes.name }}",
        html=TEMPLATE,
    )
    campaign = await service.campaigns.create(
        name,
        template="bench",
        from_address="Bench Shop <news@shop.example>",
        lists=[list_id],
        context={"product": {"title": "Aurora Desk Lamp", "price": "31.00 EUR"}},
    )
    await service.campaigns.schedule(campaign.id)
    started = time.perf_counter()
    await service.campaigns.begin(campaign.id)
    return campaign.id, time.perf_counter() - started


def _cpu() -> float:
    """CPU seconds of this process, every thread (the database's too): a figure the other
    processes on a busy machine disturb much less than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run_campaign(
    db: Database, provider: EmailProvider, list_id: str, name: str
) -> tuple[float, int, float, float]:
    service = Outreach(
        db,
        provider=provider,
        tracking_secret="bench-secret-0123456789",
        public_url="https://shop.example",
    )
    try:
        campaign_id, snapshot = await _campaign(service, list_id, name)
        started, cpu = time.perf_counter(), _cpu()
        report = await service.sender.run(campaign_id)
        elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
    finally:
        await service.aclose()
    return elapsed, report.sent, snapshot, cpu


_KEPT = 2_000


class _KeepingSmtp(SmtpProvider):
    """The SMTP provider, keeping the first ``_KEPT`` rendered messages (for step 3)."""

    kept: list[OutgoingMessage]

    async def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        if len(self.kept) < _KEPT:
            self.kept.extend(messages[: _KEPT - len(self.kept)])
        return await super().send_batch(messages)


async def _provider_alone(
    port: int, messages: list[OutgoingMessage], connections: int, total: int
) -> tuple[float, float]:
    provider = SmtpProvider("127.0.0.1", port, connections=connections)
    batch = connections * 100
    started, cpu = time.perf_counter(), _cpu()
    try:
        for start in range(0, total, batch):
            chunk = [messages[i % len(messages)] for i in range(start, min(total, start + batch))]
            results = await provider.send_batch(chunk)
            assert all(r.error is None for r in results), "the sink accepts everything"
    finally:
        await provider.aclose()
    return time.perf_counter() - started, _cpu() - cpu


async def _bare(port: int, messages: list[tuple[str, bytes]], connections: int) -> float:
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port) for _ in range(connections)]
    for client in clients:
        await client.connect()
    queue = list(reversed(messages))

    async def lane(client: aiosmtplib.SMTP) -> None:
        while queue:
            recipient, raw = queue.pop()
            await client.sendmail("news@shop.example", [recipient], raw)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for client in clients:
            tg.start_soon(lane, client)
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.quit()
    return elapsed


def _audit(counts: dict[str, int], expected: int) -> tuple[int, int]:
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    return duplicates, max(0, expected - len(counts))


async def main(args: argparse.Namespace) -> None:
    smtp_port, http_port = _free_port(), _free_port()
    sink = _spawn("--serve-smtp", smtp_port)
    http = _spawn("--serve-http", http_port)
    tmp = Path(tempfile.mkdtemp(prefix="dropkit-email-bench-"))
    url = args.database or f"sqlite:///{tmp / 'bench.db'}"
    n = args.subscribers
    try:
        async with Database(url, pool_size=4) as db:
            await Migrator(
                db, [*CORE_MIGRATIONS, *COMMERCE_MIGRATIONS, *OUTREACH_MIGRATIONS]
            ).migrate()
            list_id = await _seed(db, n)
            provider = _KeepingSmtp("127.0.0.1", smtp_port, connections=args.connections)
            provider.kept = []
            await _smtp_control(smtp_port, "XKEP")  # the bare loop resends these exact bytes
            smtp_s, sent, snapshot, smtp_cpu = await _run_campaign(db, provider, list_id, "smtp")
            counts = await _smtp_counts(smtp_port, tmp / "smtp.json")
            duplicates, missing = _audit(counts, n)
            print(f"audience snapshot into the ledger: {n} rows in {snapshot:.2f} s")
            print(
                f"dropkit SMTP: {sent} messages in {smtp_s:.2f} s = {n / smtp_s:,.0f}/s"
                f" ({args.connections} connections);"
                f" at the sink: {duplicates} duplicates, {missing} missing"
            )

            messages = _kept(tmp / "smtp.eml")
            assert len(messages) == n, "the sink kept every message dropkit sent"
            bare_cpu = _cpu()
            bare_s = await _bare(smtp_port, messages, args.connections)
            bare_cpu = _cpu() - bare_cpu
            await _smtp_counts(smtp_port, tmp / "bare.json")
            print(f"bare aiosmtplib loop: {n} messages in {bare_s:.2f} s = {n / bare_s:,.0f}/s")

            alone_s, alone_cpu = await _provider_alone(
                smtp_port, provider.kept, args.connections, n
            )
            provider.kept = []
            await _smtp_counts(smtp_port, tmp / "alone.json")
            print(f"SmtpProvider alone: {n} messages in {alone_s:.2f} s = {n / alone_s:,.0f}/s")

            sendgrid = SendGridProvider("bench", base_url=f"http://127.0.0.1:{http_port}")
            http_s, http_sent, _, _ = await _run_campaign(db, sendgrid, list_id, "http")
            async with httpx.AsyncClient() as client:
                http_counts = (await client.get(f"http://127.0.0.1:{http_port}/stats")).json()
            http_dup, http_missing = _audit(http_counts, n)
            print(
                f"dropkit SendGrid batch: {http_sent} messages in {http_s:.2f} s"
                f" = {n / http_s:,.0f}/s;"
                f" at the server: {http_dup} duplicates, {http_missing} missing"
            )
    finally:
        for process in (sink, http):
            process.terminate()
            process.wait(timeout=10)
    smtp_rate, bare_rate = n / smtp_s, n / bare_s
    print(
        json.dumps(
            {
                "smtp_msgs_per_s": round(smtp_rate, 1),
                "bare_msgs_per_s": round(bare_rate, 1),
                "ratio": round(smtp_rate / bare_rate, 3),
                "http_batch_msgs_per_s": round(n / http_s, 1),
                "duplicates": duplicates + http_dup,
                "missing": missing + http_missing,
                "smtp_cpu_us_per_msg": round(smtp_cpu / n * 1e6, 1),
                "bare_cpu_us_per_msg": round(bare_cpu / n * 1e6, 1),
                "provider_cpu_us_per_msg": round(alone_cpu / n * 1e6, 1),
            }
        )
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--subscribers", type=int, default=50_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database", default=None, help="default: a SQLite file in a temp dir")
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-smtp":
        asyncio.run(_serve_smtp(int(sys.argv[2])))
    elif len(sys.argv) == 3 and sys.argv[1] == "--serve-http":
        _serve_http(int(sys.argv[2]))
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        anyio.run(main, parse())
