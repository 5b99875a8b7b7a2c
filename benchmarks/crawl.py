"""Static crawl pages/s against Scrapy, and the browser path's memory over a long run.

Run: ``python benchmarks/crawl.py [--pages 2000] [--concurrency 16] [--browser-pages 200]``

(1) A shop of ``--pages`` product pages (JSON-LD, a heading, a price in markup) is served by a
    small asyncio HTTP/1.1 keep-alive server in its own process, answering from memory. Its CPU
    share during each run is printed, to show it is not the bottleneck.
(2) dropkit's http path (:class:`~dropkit.crawl.Crawler`, the offer cascade) and Scrapy (the
    peer, in a subprocess; parsel for extraction, json for the JSON-LD, price-parser for the
    price) crawl every page with the same concurrency, the same fields (name, price, currency,
    availability), robots.txt off and no delay or autothrottle on either side. The clock runs
    from the first request to the last page parsed, in each process; the best of ``--rounds``
    counts for each side.
(3) ``--browser-pages`` JavaScript-rendered pages through dropkit's browser path (system
    Chromium), sampling Chromium's RSS (summed over its process tree) every few pages; the
    ratio is the peak of the last quarter over the peak of the first quarter. At the end the
    number of Chromium processes left is counted (goal: 0).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PRODUCT = """<!doctype html><html><head><title>Product {n}</title>
<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "Product",
"name": "Product {n}", "sku": "SKU-{n}", "offers": {{"@type": "Offer", "price": "{price}",
"priceCurrency": "EUR", "availability": "https://schema.org/{stock}"}}}}</script></head>
<body><header><nav><a href="/">Home</a> <a href="/c">Catalog</a></nav></header>
<main><h1>Product {n}</h1><p class="price">{display} €</p><p class="stock">{stock}</p>
<div class="description">{text}</div></main><footer>Shop footer</footer></body></html>"""

JS_PRODUCT = """<!doctype html><html><head><title>JS {n}</title></head><body>
<h1>JS product {n}</h1><div id="buy"></div><script>
setTimeout(function () {{ document.getElementById('buy').innerHTML =
  '<span class="price">$' + ({cents} / 100).toFixed(2) + '</span>'; }}, 5);
</script><div class="description">{text}</div></body></html>"""

FILLER = " ".join(["Solid oak, brushed steel, a cable tray and a quiet motor."] * 12)


def _pages(count: int) -> dict[bytes, bytes]:
    pages: dict[bytes, bytes] = {b"/robots.txt": b"User-agent: *\nAllow: /\n"}
    for n in range(count):
        cents = 1999 + n * 7
        price = f"{cents // 100}.{cents % 100:02d}"
        stock = "InStock" if n % 5 else "OutOfStock"
        pages[f"/p/{n}".encode()] = PRODUCT.format(
            n=n, price=price, display=price.replace(".", ","), stock=stock, text=FILLER
        ).encode()
        pages[f"/js/{n}".encode()] = JS_PRODUCT.format(n=n, cents=cents, text=FILLER).encode()
    return pages


class _Http(asyncio.Protocol):
    pages: dict[bytes, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1]
            body = self.pages.get(path)
            status = b"200 OK" if body is not None else b"404 Not Found"
            body = body if body is not None else b"not found"
            kind = b"text/plain" if path.endswith(b".txt") else b"text/html; charset=utf-8"
            self.transport.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + kind
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: keep-alive\r\n\r\n"
                + body
            )


def serve(count: int) -> None:
    """The shop server process: prints its port, serves until killed."""
    _Http.pages = _pages(count)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Http, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SCRAPY_SPIDER = textwrap.dedent(
    """
    import json, sys, time
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from price_parser import Price

    BASE, COUNT, CONCURRENCY = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    state = {"items": 0, "start": None, "end": None}

    class Shop(scrapy.Spider):
        name = "shop"

        async def start(self):
            state["start"] = time.perf_counter()
            for n in range(COUNT):
                yield scrapy.Request(f"{BASE}/p/{n}", dont_filter=True)

        def parse(self, response):
            item = {"name": None, "price": None, "currency": None, "availability": None}
            for block in response.css('script[type="application/ld+json"]::text').getall():
                try:
                    data = json.loads(block)
                except ValueError:
                    continue
                if data.get("@type") == "Product":
                    offer = data.get("offers") or {}
                    price = Price.fromstring(str(offer.get("price")))
                    item.update(name=data.get("name"), price=price.amount,
                                currency=offer.get("priceCurrency"),
                                availability=offer.get("availability"))
            if item["price"] is None:
                item["name"] = response.css("h1::text").get()
                price = Price.fromstring(response.css(".price::text").get() or "")
                item["price"], item["currency"] = price.amount, price.currency
            state["items"] += 1
            state["end"] = time.perf_counter()
            yield item

    process = CrawlerProcess(settings={
        "LOG_LEVEL": "ERROR", "ROBOTSTXT_OBEY": False, "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0, "CONCURRENT_REQUESTS": CONCURRENCY,
        "CONCURRENT_REQUESTS_PER_DOMAIN": CONCURRENCY, "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False, "RETRY_ENABLED": False, "HTTPCACHE_ENABLED": False,
        "REDIRECT_ENABLED": True, "ITEM_PIPELINES": {}, "FEEDS": {},
    })
    process.crawl(Shop)
    process.start()
    print(json.dumps({"items": state["items"], "seconds": state["end"] - state["start"]}))
    """
)


def run_scrapy(base: str, count: int, concurrency: int) -> tuple[int, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(SCRAPY_SPIDER)
    try:
        out = subprocess.run(
            [sys.executable, script.name, base, str(count), str(concurrency)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
    finally:
        os.unlink(script.name)
    result = json.loads(out.strip().splitlines()[-1])
    return int(result["items"]), float(result["seconds"])


async def run_dropkit(base: str, count: int, concurrency: int) -> tuple[int, float]:
    from dropkit.crawl import Crawler, ScrapeTask

    task = ScrapeTask(urls=tuple(f"{base}/p/{n}" for n in range(count)))
    async with Crawler(
        allow_networks=("127.0.0.0/8",),
        obey_robots=False,
        concurrency=concurrency,
        per_site_concurrency=concurrency,
    ) as crawler:
        await crawler.fetch(f"{base}/robots.txt")  # builds the clients (TLS contexts): setup
        started = time.perf_counter()
        results = await crawler.scrape(task)
        seconds = time.perf_counter() - started
    good = sum(1 for r in results if r.offer is not None and r.offer.price is not None)
    return good, seconds


async def run_browser(base: str, count: int) -> dict[str, float]:
    from dropkit.crawl import BrowserPool, Crawler, RenderMode, ScrapeTask

    pool = BrowserPool(
        allow_networks=("127.0.0.0/8",), contexts=2, pages_per_context=20, rss_check_every=5
    )
    task = ScrapeTask(
        urls=tuple(f"{base}/js/{n}" for n in range(count)),
        render=RenderMode.BROWSER,
        wait_for=".price",
    )
    async with Crawler(
        allow_networks=("127.0.0.0/8",), obey_robots=False, concurrency=2, browser=pool
    ) as crawler:
        started = time.perf_counter()
        results = await crawler.scrape(task)
        seconds = time.perf_counter() - started
        await pool.aclose()
    good = sum(1 for r in results if r.offer is not None and r.offer.price is not None)
    samples = pool.stats.rss_samples
    quarter = max(len(samples) // 4, 1)
    first, last = max(samples[:quarter]), max(samples[-quarter:])
    await asyncio.sleep(0.5)
    return {
        "pages": good,
        "seconds": seconds,
        "peak_rss_mb": pool.stats.peak_rss_bytes / 2**20,
        "first_quarter_mb": first / 2**20,
        "last_quarter_mb": last / 2**20,
        "rss_ratio": last / first,
        # every Chromium process the pool ever saw that is still alive (re-parented ones too)
        "leftover": len(pool.leftover_processes()),
        "contexts": pool.stats.contexts_opened,
        "recycled": pool.stats.recycled_for_memory,
    }


def main() -> None:
    # Run as a script, this directory heads sys.path; a sibling benchmark named like a stdlib
    # module (email.py) would shadow it for the libraries imported below.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != here]
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--browser-pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    server = subprocess.Popen(
        [sys.executable, "-P", __file__, "--serve", str(max(args.pages, args.browser_pages))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base = f"http://127.0.0.1:{int(server.stdout.readline())}"
        print(f"shop: {args.pages} product pages at {base} (server pid {server.pid})")
        best: dict[str, float] = {}
        for round_ in range(1, args.rounds + 1):
            for side in ("dropkit", "scrapy"):
                cpu = _cpu_seconds(server.pid)
                if side == "dropkit":
                    pages, seconds = asyncio.run(run_dropkit(base, args.pages, args.concurrency))
                else:
                    pages, seconds = run_scrapy(base, args.pages, args.concurrency)
                share = (_cpu_seconds(server.pid) - cpu) / seconds
                rate = pages / seconds
                best[side] = max(best.get(side, 0.0), rate)
                print(
                    f"round {round_} {side:8s}: {pages} pages in {seconds:.2f}s = {rate:,.0f}"
                    f" pages/s (server busy {share:.0%} of the time)"
                )
                if pages != args.pages:
                    raise SystemExit(f"{side} extracted {pages} of {args.pages} pages")
        ratio = best["dropkit"] / best["scrapy"]
        print(
            f"http path: {best['dropkit']:,.0f} pages/s, Scrapy {best['scrapy']:,.0f}"
            f" pages/s: {ratio:.2f}x (goal >= 1.5x)"
        )
        browser = asyncio.run(run_browser(base, args.browser_pages))
        print(
            f"browser path: {browser['pages']:.0f} pages in {browser['seconds']:.1f}s ="
            f" {browser['pages'] / browser['seconds']:.1f} pages/s; Chromium RSS peak"
            f" {browser['peak_rss_mb']:.0f} MB, first quarter {browser['first_quarter_mb']:.0f}"
            f" MB, last quarter {browser['last_quarter_mb']:.0f} MB"
            f" ({browser['rss_ratio']:.2f}x, goal <= 1.2x); contexts opened"
            f" {browser['contexts']:.0f}; Chromium processes left: {browser['leftover']:.0f}"
        )
    finally:
        server.terminate()
        server.wait()
    print(
        json.dumps(
            {
                "http_pages_per_s": round(best["dropkit"], 1),
                "scrapy_pages_per_s": round(best["scrapy"], 1),
                "ratio": round(ratio, 2),
                "browser_pages_per_s": round(browser["pages"] / browser["seconds"], 2),
                "browser_rss_ratio": round(browser["rss_ratio"], 2),
                "leftover_chromium": int(browser["leftover"]),
            }
        )
    )


if __name__ == "__main__":
    main()
