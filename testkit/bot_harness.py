"""Run the real bot against the fake Bot API with a real worker process (tests and bench).

``private_redis_url`` picks an empty database on the session's embedded Redis,
``WorkerProcess`` runs ``python -m workers worker`` on the test's data directory, and
``running_bot`` starts the real python-telegram-bot Application, polling the fake server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import redis

from bot.app import BotApplication, build_application
from core.queue import task_client
from core.settings import Settings, load_settings
from testkit.paths import REPO, SHARED_CACHE
from testkit.telegram_api import FakeBotApi
from testkit.workers_support import SHARED_REDIS, claim_redis_db


def private_redis_url() -> str:
    """Return the URL of an empty database (1-15) on the shared Redis, claiming it."""
    return f"{SHARED_REDIS}/{claim_redis_db()}"


def release_redis(url: str) -> None:
    """Empty the database this run claimed (only that one)."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def share_model_cache(data_dir: Path) -> None:
    """Point the data directory's cache at the repository's (weights, converted runtimes)."""
    cache = data_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("wheels", "weights", "runtime"):
        (SHARED_CACHE / name).mkdir(parents=True, exist_ok=True)
        link = cache / name
        if not link.exists():
            link.symlink_to(SHARED_CACHE / name)


def bot_settings(data_dir: Path, redis_url: str, fake: FakeBotApi | None, **bot: Any) -> Settings:
    """Local settings on ``data_dir`` and ``redis_url``, the bot pointed at ``fake``."""
    section: dict[str, Any] = {"token": fake.token if fake else "123456:TEST-fake-token", **bot}
    if fake is not None:
        section.update(base_url=fake.base_url, base_file_url=fake.base_file_url)
    return load_settings(data_dir=data_dir, redis={"url": redis_url}, bot=section)


def worker_env(data_dir: Path, redis_url: str, code: Path = REPO) -> dict[str, str]:
    """The environment of a worker process on this data directory and Redis database.

    ``code`` is the checkout whose packages the process imports (a benchmark may run another
    commit's bot and worker beside this one's).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREATURE_VIS_")}
    env.update(CREATURE_VIS_DATA_DIR=str(data_dir), REDIS_URL=redis_url, PYTHONUNBUFFERED="1")
    if code != REPO:
        inherited = env.get("PYTHONPATH", "").split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join([str(code), *inherited])
    return env


class WorkerProcess:
    """``python -m workers worker`` as a child process, waited for until it answers pings."""

    def __init__(
        self, data_dir: Path, redis_url: str, concurrency: int = 1, code: Path = REPO
    ) -> None:
        self.data_dir = data_dir
        self.redis_url = redis_url
        self.concurrency = concurrency
        self.code = code
        self.log_path = data_dir / f"worker-{concurrency}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> None:
        """Start the worker and wait until it replies to a ping."""
        argv = [sys.executable, "-m", "workers", "worker", "--concurrency", str(self.concurrency)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=self.code, env=worker_env(self.data_dir, self.redis_url, self.code),
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        settings = load_settings(data_dir=self.data_dir, redis={"url": self.redis_url})
        client = task_client(settings)
        deadline = time.monotonic() + timeout
        try:
            while not client.control.ping(timeout=0.5):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start:\n{self.log()}")
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the worker (warm shutdown, then kill)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        """The worker's output so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def worker_stack(
    data_dir: Path, concurrency: int = 1, *, training: bool = False, code: Path = REPO
) -> Iterator[tuple[Path, str]]:
    """A data directory and a private Redis database with a real worker on them.

    With ``training``, the training worker (which runs retrain checks and rounds) as well;
    ``code``: the checkout the worker runs.
    """
    share_model_cache(data_dir)
    url = private_redis_url()
    worker = WorkerProcess(data_dir, url, concurrency, code)
    trainer = None
    try:
        worker.start()
        if training:
            log = (data_dir / "training.log").open("wb")
            trainer = subprocess.Popen([sys.executable, "-m", "retraining", "worker"], cwd=REPO,
                                       env=worker_env(data_dir, url), stdout=log,
                                       stderr=subprocess.STDOUT)  # fmt: skip
            log.close()
        yield data_dir, url
    finally:
        if trainer is not None:
            trainer.terminate()  # a warm shutdown lets a round under way finish...
            try:
                trainer.wait(timeout=60)
            except subprocess.TimeoutExpired:
                trainer.kill()  # ...within a minute
                trainer.wait()
        worker.stop()
        release_redis(url)


@asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[BotApplication]:
    """Run the real Application with long polling until the block ends."""
    application = build_application(settings)
    await application.initialize()
    # run_polling() calls these hooks itself; a caller-managed loop calls them by hand.
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0.0, timeout=2)
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


@asynccontextmanager
async def fake_bot_api() -> AsyncIterator[FakeBotApi]:
    """A started fake Bot API server."""
    fake = FakeBotApi()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def button_data(message: dict[str, Any], text: str) -> str:
    """The callback data of the button labelled ``text`` on ``message``."""
    for row in message.get("reply_markup", {}).get("inline_keyboard", []):
        for button in row:
            if button["text"] == text:
                return str(button["callback_data"])
    raise AssertionError(f"no button {text!r} on {message.get('text')!r}")


def keyboard(message: dict[str, Any]) -> list[list[str]]:
    """The button labels of ``message``, row by row."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [[button["text"] for button in row] for row in rows]


async def prediction(fake: FakeBotApi, chat_id: int, count: int = 1) -> dict[str, Any]:
    """Wait until the chat holds ``count`` predictions; return the last one."""

    def found() -> list[dict[str, Any]]:
        shown = [m for m in fake.bot_messages(chat_id)
                 if str(m.get("text")).startswith(("I think", "This is"))]  # fmt: skip
        return shown if len(shown) >= count else []

    shown: list[dict[str, Any]] = await fake.wait_for(found)
    return shown[-1]
