"""Per-site politeness: a concurrency cap, a delay between request starts, and backoff.

Every request reserves a start time: ``start = max(now, next_free)`` and ``next_free = start +
delay``; a 429/503 pushes ``next_free`` to now + Retry-After for every worker of that site. The
in-process :class:`LocalThrottle` keeps this in memory; :class:`RedisThrottle` keeps it in Redis
(atomic Lua scripts on Redis' clock) so several processes or machines share one budget per site.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import anyio

__all__ = ["LocalThrottle", "RedisThrottle", "Throttle", "throttled"]


class Throttle(Protocol):
    async def acquire(self, site: str, *, concurrency: int, delay: float) -> str:
        """Wait for a free slot and the site's next start time; return a release token."""
        ...

    async def release(self, site: str, token: str) -> None: ...

    async def backoff(self, site: str, seconds: float) -> None:
        """Start nothing on ``site`` for ``seconds`` (all workers sharing this throttle)."""
        ...

    async def aclose(self) -> None: ...


@asynccontextmanager
async def throttled(
    throttle: Throttle, site: str, *, concurrency: int, delay: float
) -> AsyncIterator[None]:
    token = await throttle.acquire(site, concurrency=concurrency, delay=delay)
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            await throttle.release(site, token)


class LocalThrottle:
    """Politeness state for this process only.

    A site's state is dropped once it is idle (no request holds a slot) and its next start
    time has passed, as soon as more than ``max_sites`` sites are tracked: dropping it loses
    nothing, the next request would start at once anyway.
    """

    def __init__(self, *, max_sites: int = 10_000) -> None:
        self._slots: dict[str, anyio.Semaphore] = {}
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._max_sites = max(max_sites, 1)

    def __len__(self) -> int:
        """How many sites' state is kept."""
        return len(self._slots.keys() | self._next.keys())

    def _prune(self) -> None:
        if len(self) <= self._max_sites:
            return
        now = time.monotonic()
        for site in list(self._slots.keys() | self._next.keys()):
            if not self._held.get(site) and self._next.get(site, 0.0) <= now:
                self._slots.pop(site, None)
                self._next.pop(site, None)

    async def acquire(self, site: str, *, concurrency: int, delay: float) -> str:
        self._prune()
        slot = self._slots.setdefault(site, anyio.Semaphore(concurrency))
        self._held[site] = self._held.get(site, 0) + 1  # waiting counts: keep its semaphore
        try:
            await slot.acquire()
        except BaseException:
            self._drop_hold(site)
            raise
        try:
            now = time.monotonic()
            start = max(now, self._next.get(site, 0.0))
            self._next[site] = start + delay
            if start > now:
                await anyio.sleep(start - now)
        except BaseException:
            slot.release()
            self._drop_hold(site)
            raise
        return site

    def _drop_hold(self, site: str) -> None:
        held = self._held.get(site, 0) - 1
        if held > 0:
            self._held[site] = held
        else:
            self._held.pop(site, None)

    async def release(self, site: str, token: str) -> None:
        self._slots[site].release()
        self._drop_hold(site)

    async def backoff(self, site: str, seconds: float) -> None:
        self._next[site] = max(self._next.get(site, 0.0), time.monotonic() + seconds)

    async def aclose(self) -> None:
        self._slots.clear()
        self._next.clear()
        self._held.clear()


_NOW = "local t = redis.call('TIME'); local now = tonumber(t[1]) + tonumber(t[2]) / 1e6\n"
_ACQUIRE_SLOT = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000))
  return 1
end
return 0
"""
)
_RESERVE_START = (
    _NOW
    + """
local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], tostring(start + tonumber(ARGV[1])), 'EX', 3600)
return tostring(start - now)
"""
)
_BACKOFF = (
    _NOW
    + """
local until_ = math.max(now + tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], tostring(until_), 'EX', 3600)
return tostring(until_)
"""
)


class RedisThrottle:
    """Politeness state shared through Redis by every process crawling with the same prefix.

    A slot is a lease (``lease`` seconds) so a process that dies does not hold it forever.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        prefix: str = "dropkit:crawl",
        lease: float = 120.0,
        poll: float = 0.02,
    ) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.Redis.from_url(redis_url)
        self._prefix = prefix
        self._lease = lease
        self._poll = poll
        self._acquire_slot = self._redis.register_script(_ACQUIRE_SLOT)
        self._reserve = self._redis.register_script(_RESERVE_START)
        self._backoff = self._redis.register_script(_BACKOFF)

    def _key(self, site: str, what: str) -> str:
        return f"{self._prefix}:{what}:{site}"

    async def acquire(self, site: str, *, concurrency: int, delay: float) -> str:
        token = uuid.uuid4().hex
        slots = self._key(site, "slots")
        # Polled: the slot is freed by another process, so there is no local event to wait on.
        while not await self._acquire_slot(  # noqa: ASYNC110
            keys=[slots], args=[concurrency, token, self._lease]
        ):
            await anyio.sleep(self._poll)
        try:
            wait = float(await self._reserve(keys=[self._key(site, "next")], args=[delay]))
            if wait > 0:
                await anyio.sleep(wait)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.release(site, token)
            raise
        return token

    async def release(self, site: str, token: str) -> None:
        await self._redis.zrem(self._key(site, "slots"), token)

    async def backoff(self, site: str, seconds: float) -> None:
        await self._backoff(keys=[self._key(site, "next")], args=[seconds])

    async def aclose(self) -> None:
        await self._redis.aclose()
