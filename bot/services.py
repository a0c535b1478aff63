"""The clients every handler uses, opened in ``post_init`` and closed in ``post_shutdown``."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from telegram.ext import Application, CallbackContext

from bot.callbacks import CallbackStore
from bot.ratelimit import RateLimiter
from bot.worker_tasks import TaskClient
from core.errors import ConfigurationError
from core.settings import Settings, env_name
from core.storage import ImageStore, open_store
from core.warehouse import Warehouse, open_warehouse

SERVICES_KEY = "services"
# Threads for blocking store and warehouse calls (how a warehouse shares its connections
# between them is the adapter's business).
BLOCKING_THREADS = 8
# A Redis restart (Memorystore maintenance, the embedded server) takes a few seconds: commands
# are retried across about ten, so a photo sent meanwhile is answered late, not failed.
REDIS_RETRY = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=9)
REDIS_RETRIED = [RedisConnectionError, RedisTimeoutError]
# Commands beyond the connections wait for one: redis-py's default pool refuses the 101st at
# once (MaxConnectionsError), which under load turned photos into apologies.
REDIS_CONNECTIONS = 64
REDIS_WAIT_SECONDS = 30.0
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Services:
    """Everything a handler needs beyond the update itself."""

    settings: Settings
    store: ImageStore
    warehouse: Warehouse
    redis: Redis
    callbacks: CallbackStore
    limiter: RateLimiter
    tasks: TaskClient
    blocking: ThreadPoolExecutor

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking store or warehouse call off the event loop."""
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.blocking, call)

    def is_admin(self, user_id: int | None) -> bool:
        """Tell whether ``user_id`` is one of the configured admins."""
        return user_id is not None and user_id in self.settings.bot.admin_ids


async def open_services(settings: Settings) -> Services:
    """Connect to Redis, the store, the warehouse and the task queue."""
    url = settings.redis.url
    if url is None:
        raise ConfigurationError(
            f"the bot needs Redis: set REDIS_URL (or {env_name('redis', 'url')})"
        )
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_CONNECTIONS,
        timeout=REDIS_WAIT_SECONDS,
        retry=REDIS_RETRY,
        retry_on_error=REDIS_RETRIED,
    )
    redis = Redis(connection_pool=pool)
    await redis.ping()
    blocking = ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="blocking")
    # Like the server, the bot keeps the embedded DuckDB file open while photos keep coming:
    # opening it for each photo's row cost a fifth of the bot's CPU at 25 photos/s.
    opening = functools.partial(open_warehouse, settings, hold_while_busy=True)
    warehouse = await asyncio.get_running_loop().run_in_executor(blocking, opening)
    bot = settings.bot
    return Services(
        settings=settings,
        store=open_store(settings),
        warehouse=warehouse,
        redis=redis,
        callbacks=CallbackStore(redis, bot.callback_ttl_seconds),
        limiter=RateLimiter(redis, bot.rate_limit_count, bot.rate_limit_seconds),
        tasks=TaskClient(settings),
        blocking=blocking,
    )


async def close_services(services: Services) -> None:
    """Release every connection."""
    services.tasks.close()
    services.blocking.shutdown(wait=True)
    services.warehouse.close()
    await services.redis.aclose()


def get_services(context: CallbackContext[Any, Any, Any, Any]) -> Services:
    """Return the Services stored on the application by ``post_init``."""
    services = context.application.bot_data[SERVICES_KEY]
    assert isinstance(services, Services)  # noqa: S101  (set in post_init)
    return services


def services_of(application: Application[Any, Any, Any, Any, Any, Any]) -> Services:
    """Return the application's Services (for code outside handlers)."""
    services = application.bot_data[SERVICES_KEY]
    assert isinstance(services, Services)  # noqa: S101
    return services
