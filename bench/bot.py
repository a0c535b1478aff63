"""Bot latency and throughput: 50 users each send 10 photos through the fake Bot API.

The real bot (python-telegram-bot, long polling) talks to the local fake Bot API server;
real worker processes (``python -m workers worker``) classify with the production model on
a private Redis database and a fresh data directory. Each user sends a photo, waits for the
prediction, then sends the next; all users run at once. Latency is from the moment the
update is offered to the bot to the moment the bot edits "Looking…" into the prediction.

    .venv/bin/python bench/bot.py [--users 50] [--photos 10] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import views
from core.warehouse import open_warehouse
from testkit.bot_harness import bot_settings, fake_bot_api, running_bot, worker_stack
from testkit.telegram_api import FakeBotApi
from testkit.telegram_chats import User

DATASET = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "animals-dev"


async def play_user(fake: FakeBotApi, user: User, photos: list[bytes]) -> list[float | None]:
    """Send photos one after another; return update-to-reply seconds (None: not a prediction)."""
    latencies: list[float | None] = []
    for data in photos:
        sent = fake.send_photo(user, data)
        key = (user.id, sent["message_id"])

        def answered(key: tuple[int, int] = key) -> tuple[int, int] | None:
            for message in fake.bot_messages(user.id):
                quoted = message.get("reply_to_message", {}).get("message_id")
                if quoted == key[1] and message.get("text") != views.LOOKING:
                    return (user.id, message["message_id"])
            return None

        reply = await fake.wait_for(answered, timeout=600)
        if str(fake.messages[reply].get("text")).startswith("I think"):
            latencies.append(fake.edit_times[reply] - fake.sent_times[key])
        else:
            latencies.append(None)
    return latencies


async def measure(workers: int, users: int, per_user: int, photos: list[bytes]) -> str:
    """Run one configuration and return its result line."""
    with tempfile.TemporaryDirectory() as tmp, worker_stack(Path(tmp) / "var", workers) as stack:
        async with fake_bot_api() as fake:
            settings = bot_settings(*stack, fake, rate_limit_count=10**6)
            async with running_bot(settings):
                await play_user(fake, User(1, "warm-up"), photos[-2:])  # model load, caches
                players = [User(1000 + i, f"user{i}") for i in range(users)]
                started = time.monotonic()
                results = await asyncio.gather(*(
                    play_user(fake, user, photos[i * per_user : (i + 1) * per_user])
                    for i, user in enumerate(players)
                ))  # fmt: skip
                elapsed = time.monotonic() - started
                worker_ms = [
                    float(row["latency_ms"])
                    for row in open_warehouse(settings).query("SELECT latency_ms FROM interactions")
                ]
    latencies = sorted(x for user in results for x in user if x is not None)
    failed = sum(x is None for user in results for x in user)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return (
        f"workers={workers}: {len(latencies)} photos in {elapsed:.1f} s = "
        f"{len(latencies) / elapsed:.1f} predictions/s; update->prediction "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
        f"(worker task itself: median {statistics.median(worker_ms):.0f} ms); "
        f"{failed} photos got an apology instead"
    )


def main() -> None:
    """Parse arguments and print one line per worker count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--photos", type=int, default=10, help="photos per user")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    paths = sorted(DATASET.glob("*/*.jpg"))
    step = max(1, len(paths) // (args.users * args.photos + 2))
    photos = [p.read_bytes() for p in paths[::step]][: args.users * args.photos + 2]
    print(f"{args.users} users x {args.photos} photos, {len(photos)} distinct real photos")
    for workers in args.workers:
        print(asyncio.run(measure(workers, args.users, args.photos, photos)), flush=True)


if __name__ == "__main__":
    main()
