"""Bot latency and throughput through the fake Bot API: a burst mode and a steady-rate mode.

The real bot (python-telegram-bot, long polling) talks to the local fake Bot API server;
real worker processes (``python -m workers worker``) classify with the production model on
a private Redis database and a fresh data directory. Latency is from the moment the update
is offered to the bot to the moment the bot edits "Looking…" into the prediction.

Burst (default): 50 users each send a photo, wait for the prediction, then send the next;
all users run at once; the bot runs in this process.

Steady (``--rates``): at each offered rate, new users send one photo each at that rate for
``--seconds``; the bot runs as its own process (``python -m bot``), as deployed, so the
players and the fake server here do not share its event loop. Each rate prints p50/p99,
photos answered per second and the CPU time per photo of the bot, the worker and this
process (the fake and the players: what a deployment does not pay), then the highest rate
whose p99 stayed under a second, beside the serving path measured in the same run (JPEG
bytes to top 3, one 1-thread process per core, as bench/inference.py measures it).

    .venv/bin/python bench/bot.py [--users 50] [--photos 10] [--workers 1 2]
    .venv/bin/python bench/bot.py --rates 10 20 30 40 [--seconds 20] [--workers 1]
        [--baseline ../other-checkout]   # its bot and worker too, alternated rate by rate
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import views
from core.settings import load_settings
from core.warehouse import open_warehouse
from testkit.bot_harness import (
    bot_settings,
    fake_bot_api,
    running_bot,
    share_model_cache,
    worker_env,
    worker_stack,
)
from testkit.paths import REPO
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
                # The reply under the photo, or one quoting nothing after it (the error handler)
                quoted = message.get("reply_to_message", {}).get("message_id")
                after = quoted is None and message["message_id"] > key[1]
                if (quoted == key[1] or after) and message.get("text") != views.LOOKING:
                    return (user.id, message["message_id"])
            return None

        reply = await fake.wait_in_chat(user.id, answered, timeout=600)
        if str(fake.messages[reply].get("text")).startswith("I think") and reply in fake.edit_times:
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


@asynccontextmanager
async def bot_process(
    data_dir: Path, redis_url: str, fake: FakeBotApi, code: Path = REPO
) -> AsyncIterator[None]:
    """``python -m bot`` (of checkout ``code``) on the fake Bot API, stopped by SIGTERM."""
    env = worker_env(data_dir, redis_url, code)
    env.update(
        CREATURE_VIS_BOT__TOKEN=fake.token,
        CREATURE_VIS_BOT__BASE_URL=fake.base_url,
        CREATURE_VIS_BOT__BASE_FILE_URL=fake.base_file_url,
        CREATURE_VIS_BOT__RATE_LIMIT_COUNT=str(10**6),
    )
    with (data_dir / "bot.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=code, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def steady(
    rate: float, seconds: float, workers: int, photos: list[bytes], code: Path = REPO
) -> dict[str, float]:
    """Offer one photo per new user at ``rate`` per second; return latency figures."""
    count = max(1, round(rate * seconds))
    with (
        tempfile.TemporaryDirectory() as tmp,
        worker_stack(Path(tmp) / "var", workers, code=code) as stack,
    ):
        async with fake_bot_api() as fake, bot_process(*stack, fake, code):
            for i in range(3):  # the bot connects, the worker loads the model, caches fill
                await play_user(fake, User(10 + i, f"warm-up{i}"), photos[-1 - i :][:1])
            started, cpu_before = time.monotonic(), cpu_by_role()

            async def one(i: int) -> list[float | None]:
                await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
                return await play_user(fake, User(100_000 + i, f"u{i}"), [photos[i % len(photos)]])

            results = await asyncio.gather(*(one(i) for i in range(count)))
            last, cpu_after = max(fake.edit_times.values()), cpu_by_role()
    latencies = sorted(x for user in results for x in user if x is not None)
    failed = sum(x is None for user in results for x in user)
    return {
        "rate": rate,
        "offered": count,
        "answered": len(latencies),
        "failed": failed,
        "p50": statistics.median(latencies) if latencies else float("inf"),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        if latencies
        else float("inf"),
        "per_second": len(latencies) / max(1e-9, last - started),
        **{f"cpu_{role}": (cpu_after[role] - cpu_before[role]) / max(1, len(latencies))
           for role in cpu_after},
    }  # fmt: skip


def cpu_by_role() -> dict[str, float]:
    """CPU seconds used so far by the bot, the worker processes and this one (fake, players).

    Per photo answered, they show where the work goes whatever else the machine is doing.
    """
    me = psutil.Process()
    times = me.cpu_times()
    roles = {"bot": 0.0, "worker": 0.0, "bench": times.user + times.system}
    for child in me.children(recursive=True):
        try:
            command, times = child.cmdline(), child.cpu_times()
        except psutil.Error:
            continue
        role = "bot" if command[-2:] == ["-m", "bot"] else "worker" if "workers" in command else ""
        if role:
            roles[role] += times.user + times.system
    return roles


def serving_path(photos: list[bytes]) -> float:
    """Photos/s from JPEG bytes to top 3, one 1-thread process per core (bench/inference.py)."""
    from bench.inference import jpeg_throughput

    with tempfile.TemporaryDirectory() as tmp:
        share_model_cache(Path(tmp))
        settings = load_settings(data_dir=Path(tmp))
        return jpeg_throughput(settings, photos, os.cpu_count() or 1)


def run_steady(args: argparse.Namespace, photos: list[bytes]) -> None:
    """Print one line per offered rate (and checkout), then the rates beside the serving path."""
    print(f"steady: one photo per new user, {args.seconds:.0f} s per rate, "
          f"{args.workers[0]} worker process(es), load {os.getloadavg()[0]:.1f}")  # fmt: skip
    checkouts = [("this tree", REPO)]
    if args.baseline:  # alternated rate by rate, so both see the same load
        checkouts.insert(0, ("baseline", args.baseline.resolve()))
    figures: dict[str, list[dict[str, float]]] = {name: [] for name, _ in checkouts}
    for rate in args.rates:
        for name, code in checkouts:
            f = asyncio.run(steady(rate, args.seconds, args.workers[0], photos, code))
            figures[name].append(f)
            print(f"{name + ': ' if args.baseline else ''}offered {rate:.0f}/s: "
                  f"{f['answered']:.0f}/{f['offered']:.0f} answered "
                  f"({f['failed']:.0f} apologies), {f['per_second']:.1f} photos/s answered; "
                  f"update->prediction p50 {f['p50'] * 1000:.0f} ms, p99 {f['p99'] * 1000:.0f} ms; "
                  f"CPU per photo: bot {f['cpu_bot'] * 1000:.1f} ms, worker "
                  f"{f['cpu_worker'] * 1000:.1f} ms, fake+players {f['cpu_bench'] * 1000:.1f} ms "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
    serving = serving_path(photos[:200] * 2)
    print(f"serving path (JPEG to top 3, {os.cpu_count()} processes x 1 thread): "
          f"{serving:.0f} photos/s")  # fmt: skip
    for name, rows in figures.items():
        within = [f["rate"] for f in rows if f["p99"] < 1.0 and f["failed"] == 0]
        best = max(within) if within else 0.0
        print(f"{name + ': ' if args.baseline else ''}highest offered rate with p99 < 1 s: "
              f"{best:.0f} photos/s = {best / serving:.2f}x the serving path")  # fmt: skip


def main() -> None:
    """Parse arguments; print one line per worker count (burst) or per rate (steady)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--photos", type=int, default=10, help="photos per user")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rates", type=float, nargs="+", help="steady mode: photos/s offered")
    parser.add_argument("--seconds", type=float, default=20.0, help="steady mode: per rate")
    parser.add_argument("--baseline", type=Path, help="steady mode: a checkout to run beside")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    paths = sorted(DATASET.glob("*/*.jpg"))
    wanted = max(args.users * args.photos + 2, 400)
    step = max(1, len(paths) // wanted)
    photos = [p.read_bytes() for p in paths[::step]][:wanted]
    if args.rates:
        run_steady(args, photos)
        return
    print(f"{args.users} users x {args.photos} photos, {len(photos)} distinct real photos")
    for workers in args.workers:
        print(asyncio.run(measure(workers, args.users, args.photos, photos)), flush=True)


if __name__ == "__main__":
    main()
