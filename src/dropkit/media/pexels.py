"""Pexels stock video through httpx: search, best rendition at or above the target, cache.

Downloads are cached by a hash of the file URL (written atomically), and every clip used is
recorded with its attribution (author and page), which Pexels' licence asks for.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import httpx

from dropkit.media.errors import ProviderError
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
    ) -> None:
        self.cache_dir = cache_dir
        self.base_url = base_url.rstrip("/")
        self.per_page = per_page
        self.client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=True)
        self._owns_client = client is None
        self._api_key = api_key
        self.attributions: list[str] = []

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
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        try:
            async with self.client.stream("GET", link) as response:
                response.raise_for_status()
                with partial.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise ProviderError("footage", f"download failed: {exc}", file=link) from exc
        partial.replace(path)
        return path

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
            self.attributions.append(credit)
            slack = max(0.0, float(video.get("duration") or 0) - duration)
            in_point = round(rng.uniform(0, slack), 2) if slack > 1 else 0.0
            return Source(kind="video", path=str(path), in_point=in_point, attribution=credit)
        return None

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()
