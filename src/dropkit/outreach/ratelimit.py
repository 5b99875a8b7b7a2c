"""Sliding-window send limits (per second / hour / day), in process or shared through Redis.

A limiter grants ``n`` sends when every window has room for them, otherwise it sleeps until the
oldest sends in the fullest window age out. With Redis, the windows are sorted sets updated by
one Lua script (atomic), so every sender process on every host shares the same budget; the
script reads the server's clock, so hosts with skewed clocks still agree.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from dropkit.core.errors import ConfigurationError

__all__ = ["LocalRateLimiter", "RateLimit", "RateLimiter", "RedisRateLimiter"]


@dataclass(frozen=True)
class RateLimit:
    """Maximum messages per second, hour and day (None: no limit on that window)."""

    per_second: int | None = None
    per_hour: int | None = None
    per_day: int | None = None

    def windows(self) -> list[tuple[float, int]]:
        pairs = [(1.0, self.per_second), (3600.0, self.per_hour), (86400.0, self.per_day)]
        result = [(seconds, limit) for seconds, limit in pairs if limit is not None]
        if any(limit < 1 for _, limit in result):
            raise ConfigurationError("rate limits must be at least 1")
        return result

    @property
    def burst(self) -> int:
        """The largest grant worth asking for at once: a tenth of a second's budget.

        Never more than any window's cap: a grant larger than a cap could never be granted.
        """
        caps = [cap for cap in (self.per_second, self.per_hour, self.per_day) if cap is not None]
        return max(1, min([*caps, (self.per_second or 1000) // 10]))


class RateLimiter(Protocol):
    limit: RateLimit

    async def acquire(self, count: int = 1) -> None:
        """Wait until ``count`` sends fit in every window, and take them."""
        ...

    async def aclose(self) -> None: ...


class LocalRateLimiter:
    """In-process sliding windows (one process; use :class:`RedisRateLimiter` to share)."""

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._windows = [(seconds, cap, deque[float]()) for seconds, cap in limit.windows()]
        self._clock = clock
        self._lock = anyio.Lock()

    def _wait(self, count: int, now: float) -> float:
        wait = 0.0
        for seconds, cap, stamps in self._windows:
            if count > cap:
                raise ConfigurationError(f"cannot take {count} sends at once under a cap of {cap}")
            while stamps and stamps[0] <= now - seconds:
                stamps.popleft()
            excess = len(stamps) + count - cap
            if excess > 0:
                wait = max(wait, stamps[excess - 1] + seconds - now)
        return wait

    async def acquire(self, count: int = 1) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                wait = self._wait(count, now)
                if wait <= 0:
                    for _, _, stamps in self._windows:
                        stamps.extend([now] * count)
                    return
                await anyio.sleep(wait)

    async def aclose(self) -> None:
        return None


# KEYS: one sorted set per window. ARGV: count, token, then (window_ms, cap) pairs.
# Returns 0 when granted (and records the sends), else the milliseconds to wait.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[1 + 2 * i])
  local cap = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local excess = redis.call('ZCARD', key) + count - cap
  if excess > 0 then
    local oldest = redis.call('ZRANGE', key, excess - 1, excess - 1, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  for n = 1, count do
    redis.call('ZADD', key, now, ARGV[2] .. ':' .. n)
  end
  redis.call('PEXPIRE', key, tonumber(ARGV[1 + 2 * i]) + 1000)
end
return 0
"""


class RedisRateLimiter:
    """Sliding windows in Redis, shared by every process using the same ``name``."""

    def __init__(self, redis_url: str, limit: RateLimit, *, name: str = "global") -> None:
        import redis.asyncio as aioredis

        self.limit = limit
        self._windows = limit.windows()
        self._client: Any = aioredis.from_url(redis_url)  # type: ignore[no-untyped-call]
        self._script = self._client.register_script(_SCRIPT)
        self._keys = [f"dropkit:outreach:rate:{name}:{int(s)}" for s, _ in self._windows]

    async def acquire(self, count: int = 1) -> None:
        for _, cap in self._windows:
            if count > cap:
                raise ConfigurationError(f"cannot take {count} sends at once under a cap of {cap}")
        args: list[Any] = [count, uuid.uuid4().hex]
        for seconds, cap in self._windows:
            args += [int(seconds * 1000), cap]
        while True:
            wait_ms = int(await self._script(keys=self._keys, args=args))
            if wait_ms <= 0:
                return
            await anyio.sleep(wait_ms / 1000)
            args[1] = uuid.uuid4().hex

    async def aclose(self) -> None:
        await self._client.aclose()
