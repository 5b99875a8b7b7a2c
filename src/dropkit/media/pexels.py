"""Pexels stock video through httpx: search, best rendition at or above the target, cache.

Downloads are cached by a hash of the file URL (written atomically, capped in size). The file
links come from a remote answer, so each is checked like a webhook target (no private, loopback
or metadata addresses unless ``allow_networks`` admits them) and fetched through the guarded
transport. Every clip used carries its attribution (author and page), which Pexels' licence
asks for, into the manifest and the render's result.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from dropkit.core.errors import WebhookError
from dropkit.core.webhooks.targets import GuardedTransport, check_target
from dropkit.media.errors import ProviderError
from dropkit.media.files import atomic_path
from dropkit.media.timeline import Source

__all__ = ["PexelsFootage"]


def _orientation(size: tuple[int, int]) -> str:
    width, height = size
    return "portrait" if height > width else "landscape" if width > height else "square"


def best_rendition(files: list[dict[str, Any]], size: tuple[int, int]) -> dict[str, Any] | None:
    """The smallest MP4 covering the target size, else the largest there is."""
    target_w, target_h = sorted(size)
    mp4 = [f for f in files if f.get("file_type") == "video/mp4" and f.get("link")]
    if not mp4:
        return None

    def dims(f: dict[str, Any]) -> tuple[int, int]:
        w, h = int(f.get("width") or 0), int(f.get("height") or 0)
        return min(w, h), max(w, h)

    covering = [f for f in mp4 if dims(f)[0] >= target_w and dims(f)[1] >= target_h]
    if covering:
        return min(covering, key=lambda f: dims(f)[0] * dims(f)[1])
    return max(mp4, key=lambda f: dims(f)[0] * dims(f)[1])


class PexelsFootage:
    """Video search on Pexels (``GET /videos/search``), downloads cached on disk."""

    def __init__(
        self,
        api_key: str,
        cache_dir: Path,
        *,
        base_url: str = "https://api.pexels.com",
        client: httpx.AsyncClient | None = None,
        per_page: int = 8,
        timeout: float = 30.0,
        max_bytes: int = 300_000_000,
        allow_networks: Iterable[str] = (),
    ) -> None:
        self.cache_dir = cache_dir
        self.base_url = base_url.rstrip("/")
        self.per_page = per_page
        self.max_bytes = max_bytes
        self.allow_networks = tuple(allow_networks)  # e.g. ("127.0.0.0/8",) for a test server
        self.client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=True)
        # Downloads follow links from the API's answer: every hop is checked and pinned.
        self.downloads = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=True,
            transport=GuardedTransport(allow_networks=self.allow_networks),
        )
        self._owns_client = client is None
        self._api_key = api_key

    async def _search(self, query: str, size: tuple[int, int]) -> list[dict[str, Any]]:
        url = f"{self.base_url}/videos/search"
        params = {"query": query, "orientation": _orientation(size), "per_page": str(self.per_page)}
        try:
            response = await self.client.get(
                url, params=params, headers={"Authorization": self._api_key}
            )
            response.raise_for_status()
            videos = response.json().get("videos", [])
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError("footage", f"Pexels search failed: {exc}", file=url) from exc
        return [v for v in videos if isinstance(v, dict)]

    async def _download(self, link: str) -> Path:
        path = self.cache_dir / (hashlib.sha256(link.encode()).hexdigest()[:32] + ".mp4")
        if path.is_file():
            return path
        try:
            await check_target(link, allow_networks=self.allow_networks)
        except WebhookError as exc:
            raise ProviderError("footage", f"refused download link: {exc}", file=link) from exc
        try:
            with atomic_path(path) as partial:  # removed on any error or cancellation
                async with self.downloads.stream("GET", link) as response:
                    response.raise_for_status()
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > self.max_bytes:
                        raise self._too_large(link)
                    size = 0
                    with partial.open("wb") as out:
                        async for chunk in response.aiter_bytes():
                            size += len(chunk)
                            if size > self.max_bytes:
                                raise self._too_large(link)
                            out.write(chunk)
        except (httpx.HTTPError, WebhookError) as exc:
            raise ProviderError("footage", f"download failed: {exc}", file=link) from exc
        except OSError as exc:  # disk full, cache not writable
            raise ProviderError("footage", f"cannot save the download: {exc}", file=link) from exc
        return path

    def _too_large(self, link: str) -> ProviderError:
        return ProviderError("footage", f"download is over {self.max_bytes:,} bytes", file=link)

    async def find(
        self, terms: tuple[str, ...], duration: float, size: tuple[int, int], rng: random.Random
    ) -> Source | None:
        if not terms:
            return None
        videos = await self._search(" ".join(terms[:2]), size)
        long_enough = [v for v in videos if float(v.get("duration") or 0) >= duration] or videos
        for video in sorted(long_enough, key=lambda v: int(v.get("id") or 0)):
            rendition = best_rendition(list(video.get("video_files") or []), size)
            if rendition is None:
                continue
            path = await self._download(str(rendition["link"]))
            user = video.get("user") or {}
            credit = f"Video by {user.get('name', 'unknown')} on Pexels ({video.get('url', '')})"
            slack = max(0.0, float(video.get("duration") or 0) - duration)
            in_point = round(rng.uniform(0, slack), 2) if slack > 1 else 0.0
            return Source(kind="video", path=str(path), in_point=in_point, attribution=credit)
        return None

    async def aclose(self) -> None:
        await self.downloads.aclose()
        if self._owns_client:
            await self.client.aclose()
