"""``creature-vis run``: start the whole system on this machine and serve it.

Each component runs as its own process (``python -m <component>``), as it would on Cloud
Run; this command supervises them, starts an embedded Redis when REDIS_URL is unset (or
replaces the one a killed run left behind), and stops everything cleanly on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.embedded_redis import EmbeddedRedis
from cli.processes import die_with_parent
from core.errors import ConfigurationError
from core.settings import Settings, env_name
from core.storage import open_store
from core.warehouse import open_warehouse


@dataclass
class Service:
    """One supervised process."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser("run", help="start the whole system and serve it")
    parser.add_argument(
        "--only", action="append", default=None, help="start only these services (repeatable)"
    )
    parser.set_defaults(handler=run)


def _has_main(module: str) -> bool:
    return importlib.util.find_spec(module) is not None and (
        importlib.util.find_spec(f"{module}.__main__") is not None
    )


def embedded_redis(settings: Settings) -> EmbeddedRedis | None:
    """The embedded Redis to start, or None when REDIS_URL names a server."""
    if settings.redis.url is not None:
        return None
    return EmbeddedRedis(settings.data_dir / "redis", settings.redis.embedded_port)


def plan(settings: Settings) -> tuple[list[Service], list[str]]:
    """Return the component services to start and notes on those skipped."""
    services: list[Service] = []
    notes: list[str] = []
    env: dict[str, str] = {}
    redis = embedded_redis(settings)
    if redis is not None:
        env["REDIS_URL"] = f"{redis.url}/0"
    python = sys.executable
    for name, module, args in (
        ("server", "model_server", []),
        ("worker", "workers", ["worker"]),
        ("beat", "workers", ["beat"]),
        ("training", "retraining", ["worker"]),
        ("monitoring", "monitoring", ["periodic"]),
    ):
        if _has_main(module):
            services.append(Service(name, [python, "-m", module, *args], env))
        else:
            notes.append(f"{name}: not built yet")
    if settings.bot.token is None:
        notes.append(f"bot: skipped, set TELEGRAM_BOT_TOKEN (or {env_name('bot', 'token')})")
    elif _has_main("bot"):
        services.append(Service("bot", [python, "-m", "bot"], env))
    return services, notes


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Prepare local state, start the services and wait until one stops or Ctrl-C."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    open_store(settings).ping()
    open_warehouse(settings).ping()
    services, notes = plan(settings)
    if args.only:
        services = [s for s in services if s.name in args.only]
    for note in notes:
        print(f"creature-vis: {note}", flush=True)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    redis = embedded_redis(settings)
    if redis is not None:
        try:
            services.insert(0, Service("redis", redis.argv(), process=redis.start()))
        except ConfigurationError as exc:
            print(f"creature-vis: {exc}", file=sys.stderr, flush=True)
            return 2
    for service in services:
        if service.process is None:
            # A component dies with this supervisor, even when it is killed outright.
            service.process = subprocess.Popen(
                service.argv,
                env={**os.environ, **service.env},
                preexec_fn=die_with_parent,  # noqa: PLW1509  (one preloaded libc call)
            )
    _announce(settings, services)
    code = _wait(services, lambda: stopping)
    _stop_all(services)
    return code


def _announce(settings: Settings, services: list[Service]) -> None:
    names = ", ".join(s.name for s in services) or "nothing yet"
    print(f"creature-vis: data in {Path(settings.data_dir).resolve()}; running: {names}")
    if any(s.name == "server" for s in services):
        url = f"http://{settings.server.host}:{settings.server.port}"
        print(f"creature-vis: serving the web page and API at {url} (Ctrl-C stops)", flush=True)


def _wait(services: list[Service], stopping: Any) -> int:
    while not stopping():
        for service in services:
            assert service.process is not None  # noqa: S101
            code = service.process.poll()
            if code is not None:
                print(f"creature-vis: {service.name} exited with {code}; stopping", flush=True)
                return code or 1
        if not services:
            return 0
        time.sleep(0.3)
    return 0


def _stop_all(services: list[Service]) -> None:
    """Stop the components together, then the embedded Redis they were writing to."""
    components = [s for s in services if s.name != "redis"]
    _stop(components)
    _stop([s for s in services if s.name == "redis"])


def _stop(services: list[Service]) -> None:
    for service in services:
        if service.process and service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    for service in services:
        if service.process:
            try:
                service.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                service.process.kill()
