"""Per-user rate limit in Redis (fixed windows), shared by every bot instance."""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

_PREFIX = "creature_vis:bot:rate:"


@dataclass(frozen=True)
class Verdict:
    """Whether a request may go ahead; if not, when to retry and whether to say so."""

    allowed: bool
    retry_after: int = 0
    first_refusal: bool = False


class RateLimiter:
    """At most ``limit`` requests per user in each window of ``window_seconds``."""

    def __init__(self, redis: Redis, limit: int, window_seconds: int) -> None:
        self._redis = redis
        self._limit = limit
        self._window = window_seconds

    async def check(self, user_id: int, now: float | None = None) -> Verdict:
        """Count one request by ``user_id`` and return the verdict."""
        now = time.time() if now is None else now
        window = int(now // self._window)
        key = f"{_PREFIX}{user_id}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self._window + 1)
            count, _ = await pipe.execute()
        if count <= self._limit:
            return Verdict(True)
        retry_after = max(1, int((window + 1) * self._window - now + 0.999))
        # Say so once per window: further refusals stay silent rather than feed a flood.
        return Verdict(False, retry_after, first_refusal=count == self._limit + 1)
