"""CPU per Bot API request: the bot's aiohttp request beside PTB's httpx request.

Both send ``sendMessage`` to the fake Bot API in this process, many at a time (as the bot
does under load), through the same semaphore in front of 32 connections; the fake's share of
the CPU is the same for both, so the difference is the client's. Rounds alternate.

    .venv/bin/python bench/bot_requests.py [--requests 3000] [--in-flight 200] [--rounds 3]
        [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest

from bot.connections import AiohttpRequest
from testkit.bot_harness import fake_bot_api

CONNECTIONS = 32


class QueuedHTTPXRequest(HTTPXRequest):
    """PTB's httpx request behind a semaphore (the bot's request before aiohttp)."""

    def __init__(self, connections: int) -> None:
        super().__init__(connection_pool_size=connections)
        self._slots = asyncio.Semaphore(connections)

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """Wait for a free connection, then send as PTB does."""
        async with self._slots:
            return await super().do_request(*args, **kwargs)


async def measure(make: Callable[[int], BaseRequest], count: int, in_flight: int) -> str:
    """Send ``count`` messages, ``in_flight`` at a time; return CPU per request and rate."""
    async with (
        fake_bot_api() as fake,
        Bot(fake.token, base_url=fake.base_url, request=make(CONNECTIONS)) as bot,
    ):
        for chat in range(50):  # connections open, the fake's chats exist
            await bot.send_message(chat + 1, "warm-up")
        slots = asyncio.Semaphore(in_flight)

        async def one(i: int) -> None:
            async with slots:
                await bot.send_message(i % 50 + 1, f"message {i}")

        cpu, started = time.process_time(), time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        cpu, elapsed = time.process_time() - cpu, time.monotonic() - started
    return f"{cpu / count * 1000:.2f} ms CPU per request (client + fake), {count / elapsed:.0f}/s"


async def run(args: argparse.Namespace) -> None:
    """Print one line per request kind and round."""
    kinds: list[tuple[str, Callable[[int], BaseRequest]]] = [
        ("httpx (PTB's HTTPXRequest)", QueuedHTTPXRequest),
        ("aiohttp (bot.connections)", AiohttpRequest),
    ]
    for round_ in range(args.rounds):
        for name, make in kinds:
            figure = await measure(make, args.requests, args.in_flight)
            print(f"round {round_ + 1}: {name}: {figure}", flush=True)


def main() -> None:
    """Parse arguments and run the rounds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as python -m bot")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
