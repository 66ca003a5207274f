"""Failed sign-ins and unknown API keys, rate-limited per client address (429 + ``Retry-After``).

Only failures spend: a caller with a good key is never slowed, while guessing keys costs one
token a try. On the embedded default the buckets live in this process (one per app); with a
Redis broker configured they live in Redis so every process of a deployment shares them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from starlette.requests import Request

from agent.errors import OvertureError
from agent.settings import Settings, get_settings


class TooManyFailures(OvertureError):
    status, code, title = 429, "rate_limited", "Too many requests"


@dataclass
class MemoryLimiter:
    """A token bucket per address: ``burst`` failures at once, refilled at ``rate`` per second."""

    burst: float
    rate: float
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def _tokens(self, addr: str, now: float) -> float:
        tokens, at = self._buckets.get(addr, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    async def retry_after(self, addr: str) -> int:
        tokens = self._tokens(addr, time.monotonic())
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self.rate))

    async def spend(self, addr: str) -> None:
        now = time.monotonic()
        self._buckets[addr] = (self._tokens(addr, now) - 1, now)
        if len(self._buckets) > 100_000:  # bounded memory: forget the fullest (oldest) buckets
            self._buckets = dict(list(self._buckets.items())[-50_000:])


@dataclass
class RedisLimiter:
    """A fixed window per address shared through Redis: ``burst`` failures per ``burst / rate`` s."""

    url: str
    burst: float
    rate: float

    def __post_init__(self) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(self.url)

    def _key(self, addr: str) -> str:
        return f"overture:auth-failures:{addr}"

    async def retry_after(self, addr: str) -> int:
        count = int(await self._redis.get(self._key(addr)) or 0)
        if count < self.burst:
            return 0
        return max(1, int(await self._redis.ttl(self._key(addr))))

    async def spend(self, addr: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._key(addr))
            pipe.expire(self._key(addr), max(1, math.ceil(self.burst / self.rate)), nx=True)
            await pipe.execute()


def _make(settings: Settings) -> MemoryLimiter | RedisLimiter:
    burst, rate = settings.auth_failure_burst, settings.auth_failure_rate
    url = settings.broker_url or ""
    if url.startswith(("redis://", "rediss://")):
        return RedisLimiter(url, burst, rate)
    return MemoryLimiter(burst, rate)


def limiter(request: Request) -> MemoryLimiter | RedisLimiter:
    """The app's limiter, made on first use (each app, so each test, starts with full buckets)."""
    state = request.app.state
    if getattr(state, "auth_limiter", None) is None:
        state.auth_limiter = _make(get_settings())
    return state.auth_limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def check(request: Request) -> None:
    """Refuse with 429 while this address has spent its failures."""
    wait = await limiter(request).retry_after(client_address(request))
    if wait:
        raise TooManyFailures("too many failed sign-ins or unknown API keys from this address; wait and retry",
                              retry_after=wait)


async def failed(request: Request) -> None:
    await limiter(request).spend(client_address(request))
