"""The bot's Redis client rides out a Redis restart (a few seconds down) instead of failing."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import redis
from redis.asyncio import Redis

from bot.services import REDIS_RETRIED, REDIS_RETRY
from cli.embedded_redis import EmbeddedRedis
from testkit.workers_support import free_port


async def test_a_command_during_a_restart_waits_for_the_server(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", free_port())
    first = server.start()
    client = Redis.from_url(f"{server.url}/0", retry=REDIS_RETRY, retry_on_error=REDIS_RETRIED)
    await client.set("before", "1")
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis(port=server.port).shutdown()  # saves the append-only file
    first.wait(timeout=30)

    async def restart_later() -> None:
        await asyncio.sleep(2.0)
        await asyncio.to_thread(server.start)

    restarting = asyncio.create_task(restart_later())
    try:
        await client.set("during", "1")  # sent while the server is down
        assert await client.get("before") == b"1" and await client.get("during") == b"1"
    finally:
        await restarting
        await client.aclose()
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(port=server.port).shutdown(nosave=True)
