"""Per-user rate limit in Redis, shared by every bot instance.

A user's window opens with their first request and lasts ``window_seconds``; within it at
most ``limit`` requests pass. The counter's TTL is the time until the user may try again.
"""

from __future__ import annotations

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

    async def check(self, user_id: int) -> Verdict:
        """Count one request by ``user_id`` and return the verdict."""
        key = f"{_PREFIX}{user_id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            # Only the first request opens a window: SET NX creates the counter with its TTL
            # and INCR keeps that TTL (Redis 6.2 has no EXPIRE ... NX).
            pipe.set(key, 0, ex=self._window, nx=True)
            pipe.incr(key)
            pipe.ttl(key)
            _, count, ttl = await pipe.execute()
        if count <= self._limit:
            return Verdict(True)
        # Say so once per window: further refusals stay silent rather than feed a flood.
        return Verdict(False, max(1, int(ttl)), first_refusal=count == self._limit + 1)
