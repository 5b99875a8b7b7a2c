"""Competitor prices through the library API: scrape, monitor, detect a change, reprice.

Run it: ``python examples/competitor_prices.py``. It serves two competitor product pages on
127.0.0.1 (one with JSON-LD, one with plain markup in a European price format), scrapes them
once, then opens a kit on a temporary SQLite file, watches both for our own variant, lets one
competitor cut its price, and prints the ``competitor.price_changed`` event, our price position
and a repricing suggestion that respects the margin floor. No network, no browser.
"""

from __future__ import annotations

import socket
import tempfile
from decimal import Decimal

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from dropkit import Dropkit
from dropkit.core.money import Money
from dropkit.crawl import Crawler, ScrapeTask

PRICES = {"jsonld": "54.90", "plain": "49,50 €"}


async def product(request: Request) -> HTMLResponse:
    if request.path_params["shop"] == "jsonld":
        return HTMLResponse(
            '<html><head><script type="application/ld+json">{"@type": "Product",'
            ' "name": "Halo Pendant", "offers": {"price": "' + PRICES["jsonld"] + '",'
            ' "priceCurrency": "EUR", "availability": "https://schema.org/InStock"}}</script>'
            "</head><body><h1>Halo Pendant</h1></body></html>"
        )
    return HTMLResponse(
        f"<html><body><h1>Halo pendant light</h1><span class='price'>{PRICES['plain']}</span>"
        "<p class='stock'>In stock</p></body></html>"
    )


async def robots(request: Request) -> PlainTextResponse:
    return PlainTextResponse("User-agent: *\nAllow: /\n")


async def main() -> None:
    app = Starlette(routes=[Route("/robots.txt", robots), Route("/{shop}/p", product)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        while not server.started:
            await anyio.sleep(0.01)
        urls = [f"{base}/jsonld/p", f"{base}/plain/p"]

        # 1. A one-off scrape. Loopback is private, so it must be allowed explicitly.
        async with Crawler(allow_networks=["127.0.0.0/8"]) as crawler:
            for result in await crawler.scrape(ScrapeTask(urls=tuple(urls))):
                offer = result.offer
                assert offer is not None
                print(
                    f"{offer.name}: {offer.price} {offer.currency}, {offer.availability.value}"
                    f" (price from {offer.sources['price'].value})"
                )

        # 2. A monitor for our own variant, run twice; the competitor cuts its price between.
        with tempfile.TemporaryDirectory() as data_dir:
            async with Dropkit(
                data_dir=data_dir,
                margin_floor=Decimal("0.25"),
                crawl={"allow_networks": ["127.0.0.0/8"]},
            ) as kit:
                vendor = await kit.commerce.vendors.create("Aurora Lighting")
                supplier = await kit.commerce.suppliers.create("Lumen Supply")
                halo = await kit.commerce.catalog.create(
                    vendor.id,
                    "Halo Pendant",
                    variants=[{"sku": "HALO-M", "price": Money("52.00", "EUR")}],
                )
                variant = halo.variants[0]
                await kit.commerce.suppliers.upsert_offer(
                    supplier.id, variant.id, "LS-HALO", Money("33.00", "EUR"), 20, 3
                )
                monitor = await kit.crawl.monitors.create(
                    variant.id, urls, name="halo", price_threshold="0.02"
                )
                await kit.crawl.monitors.run(monitor.id)
                PRICES["plain"] = "42,00 €"
                run = await kit.crawl.monitors.run(monitor.id)
                for event in run.events:
                    print(f"event {event.type}: {event.payload()}")

                position = await kit.crawl.trends.position(variant.id)
                print(
                    f"our price {position.our_price} {position.currency}: rank {position.rank},"
                    f" competitors min {position.min} / median {position.median}"
                    f" / max {position.max}"
                )
                advice = await kit.crawl.trends.suggest_price(variant.id)
                print(
                    f"suggested price {advice.suggested} {advice.currency}"
                    f" (floor {advice.floor}): {advice.reason}"
                )
        server.should_exit = True
    sock.close()


if __name__ == "__main__":
    anyio.run(main)
