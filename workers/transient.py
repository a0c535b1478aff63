"""Which failures are worth retrying: lost connections and busy resources, nothing else."""

from __future__ import annotations

import duckdb
import httpx
import redis

from core.errors import CreatureVisError


class TransientError(CreatureVisError):
    """A failure that another attempt later may not meet (rate limits, busy services)."""

    user_message = "The service is busy; please try again shortly."


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    ConnectionError,
    TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    duckdb.IOException,  # the warehouse file stayed locked by another process
    httpx.TransportError,
)
