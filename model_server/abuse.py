"""Abuse limits on the public API: requests per client address and per session, stored bytes.

Each limit is a token bucket per key that refills continuously: ``limit`` tokens per
``window`` seconds, so a caller may burst up to ``limit`` and then goes at the average rate.
A refusal says when the next token arrives (``Retry-After``). Buckets live in this process:
with several server instances each one counts on its own, so the limits are per instance
(Cloud Run: multiply by the instance count). At most ``MAX_KEYS`` callers are tracked; the
least recently seen go first, which only ever forgives.

The client address is the connection's peer, or, behind ``trusted_proxies`` proxies (Cloud
Run's front end is one), the address that many hops back in ``X-Forwarded-For``: entries
before it were written by the caller and prove nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import Request

from core.errors import Throttled
from core.settings import ServerSettings

MAX_KEYS = 100_000
MB = 1024 * 1024
DAY = 24 * 3600


class Buckets:
    """Token buckets of ``limit`` tokens refilled over ``window`` seconds, one per key."""

    def __init__(
        self, limit: float, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when
        self._lock = threading.Lock()

    def take(self, key: str, amount: float = 1.0) -> float:
        """Take ``amount`` tokens from ``key``'s bucket; return 0, or seconds until it could."""
        if self.limit <= 0:
            return 0.0  # no limit
        now = self.clock()
        rate = self.limit / self.window
        with self._lock:
            tokens, then = self._buckets.pop(key, (self.limit, now))
            tokens = min(self.limit, tokens + (now - then) * rate)
            need = min(amount, self.limit)  # more than a full bucket goes when it is full
            wait = 0.0 if tokens >= need else (need - tokens) / rate
            self._buckets[key] = (tokens - amount if wait == 0 else tokens, now)
            while len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        return wait


class AbuseLimits:
    """The server's limits, from its settings."""

    def __init__(self, settings: ServerSettings) -> None:
        self.trusted_proxies = settings.trusted_proxies
        self.by_address = Buckets(settings.requests_per_minute_per_address, 60)
        self.by_session = Buckets(settings.requests_per_minute_per_session, 60)
        self.storage = Buckets(settings.stored_mb_per_day * MB, DAY)

    def client_address(self, request: Request) -> str:
        """Return the caller's address (see the module's note on proxies)."""
        peer = request.client.host if request.client else "unknown"
        if self.trusted_proxies <= 0:
            return peer
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
        hops = [hop for hop in hops if hop]
        return hops[-self.trusted_proxies] if len(hops) >= self.trusted_proxies else peer

    def admit_address(self, address: str) -> None:
        """Count one request from ``address``; raise Throttled past the address's rate."""
        self._refuse_past(self.by_address.take(address), "address")

    def admit_person(self, person: str) -> None:
        """Count one request by a session or key holder; raise Throttled past their rate."""
        self._refuse_past(self.by_session.take(person), "session")

    @staticmethod
    def _refuse_past(wait: float, whose: str) -> None:
        if wait:
            raise Throttled(
                f"rate limit for {whose}",
                wait,
                f"Too many requests. Please wait {max(1, math.ceil(wait))} s and try again.",
            )

    def charge_storage(self, caller: str, size: int) -> None:
        """Count ``size`` bytes a caller asks us to keep; raise Throttled past the quota."""
        wait = self.storage.take(caller, size)
        if wait:
            hours = max(1, math.ceil(wait / 3600))
            raise Throttled(
                f"storage quota of {caller}",
                wait,
                f"You have sent us a lot of photos today. Please try again in {hours} h.",
            )
