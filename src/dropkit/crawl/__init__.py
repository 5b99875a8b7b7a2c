"""The research bot: scrape tasks, the offer cascade, polite guarded fetching, monitors."""

from dropkit.crawl.browser import BrowserPool, BrowserStats
from dropkit.crawl.cleaners import Availability
from dropkit.crawl.crawler import Crawler
from dropkit.crawl.errors import (
    BrowserError,
    CrawlError,
    FetchError,
    ResponseTooLargeError,
    RobotsDisallowedError,
    TaskError,
    UnsafeUrlError,
)
from dropkit.crawl.events import (
    CompetitorPriceChanged,
    CompetitorSelectorDrifted,
    CompetitorStockChanged,
)
from dropkit.crawl.http import FetchedPage, HttpFetcher
from dropkit.crawl.monitors import (
    Competitor,
    CompetitorInput,
    Monitor,
    MonitorRun,
    Monitors,
    Observation,
)
from dropkit.crawl.options import CrawlOptions
from dropkit.crawl.prices import ParsedPrice, parse_price
from dropkit.crawl.results import (
    FieldValue,
    Offer,
    Provenance,
    Record,
    Review,
    ScrapeResult,
    ScrapeWarning,
    Timings,
)
from dropkit.crawl.schema import CRAWL_MIGRATIONS
from dropkit.crawl.service import RUN_MONITOR_JOB, RUN_MONITORS_JOB, Crawl
from dropkit.crawl.tasks import FieldSpec, Pagination, RenderMode, ScrapeTask
from dropkit.crawl.throttle import LocalThrottle, RedisThrottle, Throttle
from dropkit.crawl.trends import CompetitorPrice, PricePosition, RepricingSuggestion, Trends

__all__ = [
    "CRAWL_MIGRATIONS",
    "RUN_MONITORS_JOB",
    "RUN_MONITOR_JOB",
    "Availability",
    "BrowserError",
    "BrowserPool",
    "BrowserStats",
    "Competitor",
    "CompetitorInput",
    "CompetitorPrice",
    "CompetitorPriceChanged",
    "CompetitorSelectorDrifted",
    "CompetitorStockChanged",
    "Crawl",
    "CrawlError",
    "CrawlOptions",
    "Crawler",
    "FetchError",
    "FetchedPage",
    "FieldSpec",
    "FieldValue",
    "HttpFetcher",
    "LocalThrottle",
    "Monitor",
    "MonitorRun",
    "Monitors",
    "Observation",
    "Offer",
    "Pagination",
    "ParsedPrice",
    "PricePosition",
    "Provenance",
    "Record",
    "RedisThrottle",
    "RenderMode",
    "RepricingSuggestion",
    "ResponseTooLargeError",
    "Review",
    "RobotsDisallowedError",
    "ScrapeResult",
    "ScrapeTask",
    "ScrapeWarning",
    "TaskError",
    "Throttle",
    "Timings",
    "Trends",
    "UnsafeUrlError",
    "parse_price",
]
