"""A competitor shop served on loopback for the crawl tests (real HTTP, real uvicorn)."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

ROBOTS = "User-agent: *\nDisallow: /private/\n"

JSON_LD_PAGE = """<html><head><title>Aurora lamp | Shop A</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Product",
 "name": "Aurora Desk Lamp", "sku": "A-1", "brand": {"@type": "Brand", "name": "Aurora"},
 "offers": {"@type": "Offer", "price": "1299.00", "priceCurrency": "EUR",
            "availability": "https://schema.org/InStock"},
 "aggregateRating": {"@type": "AggregateRating", "ratingValue": "4.4", "reviewCount": "87"},
 "review": [{"@type": "Review", "name": "Bright", "reviewBody": "Very bright.",
             "author": {"@type": "Person", "name": "Ann"}, "datePublished": "2024-05-01",
             "reviewRating": {"@type": "Rating", "ratingValue": "5"}}]}</script>
<script type="application/ld+json">{"@type": "BreadcrumbList", broken,,}</script>
</head><body><h1>Aurora Desk Lamp</h1><span class="price">999,00 €</span></body></html>"""

MICRODATA_PAGE = """<html><body>
<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Halo Pendant</h1>
<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
<meta itemprop="priceCurrency" content="GBP"><span itemprop="price" content="59.00">£59</span>
<link itemprop="availability" href="https://schema.org/OutOfStock"></div></div>
</body></html>"""

OPENGRAPH_PAGE = """<html><head><meta property="og:title" content="Birch Stand">
<meta property="product:price:amount" content="45.50">
<meta property="product:price:currency" content="USD"></head><body></body></html>"""

PLAIN_PAGE = """<html><head><title>Fjord desk</title></head><body>
<h1>Fjord Standing Desk</h1><div class="product-price">{price}</div>
<p class="stock">{stock}</p><span class="rating">4,5 out of 5</span>
<a class="reviews-count">1,234 reviews</a></body></html>"""

JS_PAGE = """<html><head><title>JS shop</title></head><body><h1>Rendered Lamp</h1>
<div id="price"></div><script>setTimeout(function () {
  document.getElementById('price').innerHTML = '<span class="price">$1,299.99</span>';
}, 30);</script></body></html>"""

SLOW_PAGE = """<html><body><h1>Slow</h1><script>setTimeout(function () {
  document.body.insertAdjacentHTML('beforeend', '<b class="late price">€ 5,00</b>');
}, 1000);</script></body></html>"""

SPY_PAGE = """<html><body><h1>Spy</h1><div id="out"></div><script>
const out = document.getElementById('out');
const done = () => document.body.insertAdjacentHTML('beforeend', '<b id="done">done</b>');
const target = new URLSearchParams(location.search).get('target');
if (target.startsWith('ws')) {
  const socket = new WebSocket(target);
  socket.onmessage = (m) => { out.textContent = 'got:' + m.data; };
  socket.onerror = () => { out.textContent = 'error'; };
  socket.onclose = done;
} else {
  fetch(target).then((r) => r.text()).then((t) => { out.textContent = 'got:' + t; })
    .catch(() => { out.textContent = 'error'; }).finally(done);
}
</script></body></html>"""

HUGE_DOM_PAGE = """<html><body><h1>Huge</h1><script>
document.body.insertAdjacentHTML('beforeend', '<p>' + 'x'.repeat(300000) + '</p>');
</script></body></html>"""

CAPTCHA_PAGE = """<html><head><title>Attention Required! | Cloudflare</title></head>
<body><div class="g-recaptcha"></div></body></html>"""

REVIEWS = [
    ("5", "Great", "Love it", "Ann", "2024-01-02", True),
    ("4", "Good", "Nice lamp", "Bob", "2024-01-03", False),
    ("2", "Meh", "Flickers", "Cy", "2024-01-04", True),
    ("3", "Okay", "Fine", "Di", "2024-01-05", False),
    ("1", "Bad", "Broke", "Ed", "2024-01-06", True),
]


def reviews_page(page: int, per_page: int = 2) -> str:
    items = REVIEWS[(page - 1) * per_page : page * per_page]
    rows = "".join(
        f'<div class="review"><span class="stars">{r}/5</span><h3>{t}</h3><p>{b}</p>'
        f'<span class="by">{a}</span><time>{d}</time>'
        + ('<em class="verified">Verified purchase</em>' if v else "")
        + "</div>"
        for r, t, b, a, d, v in items
    )
    more = page * per_page < len(REVIEWS)
    link = f'<a class="next" href="/reviews?page={page + 1}">next</a>' if more else ""
    return f"<html><body>{rows}{link}</body></html>"


class Shop:
    """The shop's routes; ``prices`` lets a test change a price between runs."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.prices: dict[str, str] = {"plain": "1.299,00 €"}
        self.stock: dict[str, str] = {"plain": "In stock"}
        self.robots_txt = ROBOTS
        self.robots_status = 200
        self.robots_headers: dict[str, str] = {}
        self.down: set[str] = set()  # page names answering 500
        self.delay = 0.0  # seconds each product page takes

    def _count(self, request: Request) -> int:
        key = request.url.path
        self.hits[key] = self.hits.get(key, 0) + 1
        return self.hits[key]

    async def page(self, request: Request) -> Response:
        self._count(request)
        await anyio.sleep(self.delay)
        name = request.path_params["name"]
        pages = {
            "jsonld": JSON_LD_PAGE,
            "microdata": MICRODATA_PAGE,
            "og": OPENGRAPH_PAGE,
            "js": JS_PAGE,
            "slow": SLOW_PAGE,
            "captcha": CAPTCHA_PAGE,
            "spy": SPY_PAGE,
            "huge-dom": HUGE_DOM_PAGE,
        }
        if name in self.down:
            return HTMLResponse("<html><body>down</body></html>", status_code=500)
        if name in pages:
            return HTMLResponse(pages[name])
        if name.startswith("plain"):
            return HTMLResponse(
                PLAIN_PAGE.format(
                    price=self.prices.get(name, "1.299,00 €"),
                    stock=self.stock.get(name, "In stock"),
                )
            )
        if name.startswith("price-"):
            text = request.query_params["text"]
            return HTMLResponse(f"<html><body><h1>{name}</h1><b class='price'>{text}</b></body>")
        return HTMLResponse("<html><body>not found</body></html>", status_code=404)

    async def robots(self, request: Request) -> Response:
        self._count(request)
        return PlainTextResponse(
            self.robots_txt, status_code=self.robots_status, headers=self.robots_headers
        )

    async def reviews(self, request: Request) -> Response:
        return HTMLResponse(reviews_page(int(request.query_params.get("page", "1"))))

    async def limited(self, request: Request) -> Response:
        if self._count(request) == 1:
            return PlainTextResponse("slow down", status_code=429, headers={"retry-after": "1"})
        return HTMLResponse(PLAIN_PAGE.format(price="$10.00", stock="In stock"))

    async def busy(self, request: Request) -> Response:
        if self._count(request) == 1:
            return PlainTextResponse("busy", status_code=503, headers={"retry-after": "0"})
        return HTMLResponse(PLAIN_PAGE.format(price="$10.00", stock="In stock"))

    async def refused(self, request: Request) -> Response:
        self._count(request)
        return PlainTextResponse("go away", status_code=429, headers={"retry-after": "3600"})

    async def redirect(self, request: Request) -> Response:
        targets = {
            "metadata": "http://169.254.169.254/latest/meta-data/",
            "private": "http://10.1.2.3/admin",
            "local": "/p/plain",
        }
        where = request.path_params["where"]
        target = request.query_params["url"] if where == "to" else targets[where]
        return RedirectResponse(target, status_code=302)

    async def big(self, request: Request) -> Response:
        return HTMLResponse("<html>" + "x" * 300_000 + "</html>")

    async def private(self, request: Request) -> Response:
        self._count(request)
        return HTMLResponse("<html><body>secret</body></html>")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/robots.txt", self.robots),
                Route("/p/{name}", self.page),
                Route("/reviews", self.reviews),
                Route("/limited", self.limited),
                Route("/busy", self.busy),
                Route("/refused", self.refused),
                Route("/go/{where}", self.redirect),
                Route("/big", self.big),
                Route("/private/{rest:path}", self.private),
            ]
        )


def secret_app() -> Starlette:
    """An internal service: answers anyone, cross-origin reads allowed."""

    async def secret(request: Request) -> Response:
        return PlainTextResponse("internal-secret", headers={"access-control-allow-origin": "*"})

    return Starlette(routes=[Route("/{rest:path}", secret)])


@asynccontextmanager
async def serve(app: Starlette, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on ``host`` (free port) in this loop; yield its root URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: server.serve(sockets=[sock]))
            with anyio.fail_after(10):
                while not server.started:  # uvicorn only exposes a flag
                    await anyio.sleep(0.01)
            try:
                yield f"http://{host}:{port}"
            finally:
                server.should_exit = True
    finally:
        sock.close()


__all__ = ["JSON_LD_PAGE", "REVIEWS", "Shop", "json", "secret_app", "serve"]
