"""``creature-vis status``: the production model, key figures, the schedule and the queues.

``collect_status`` returns plain data; ``run`` prints it as text or JSON. The key figures are
the same ones the web status view, the bot's /status and Grafana show.
"""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from core.metrics.summary import format_figures, key_figures
from core.model.handle import open_registry
from core.queue import PENDING_INTERACTIONS_KEY, count_queued, task_client
from core.settings import Settings
from core.warehouse import open_warehouse
from workers.schedule import describe_schedule

REDIS_TIMEOUT = 2.0


def register(subparsers: Any) -> None:
    """Add the ``status`` subcommand."""
    parser = subparsers.add_parser("status", help="show the beat schedule and queue depths")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def redis_url(settings: Settings) -> tuple[str, bool]:
    """Return the Redis URL to inspect and whether it is `creature-vis run`'s embedded one."""
    if settings.redis.url:
        return settings.redis.url, False
    return f"redis://127.0.0.1:{settings.redis.embedded_port}/0", True


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}:{parts.port or 6379}"
    return urlunsplit(parts._replace(netloc=netloc))


def queue_status(settings: Settings) -> dict[str, Any]:
    """Return the queue depths and live workers, or why they could not be read."""
    url, embedded = redis_url(settings)
    status: dict[str, Any] = {"redis": _masked(url), "embedded": embedded}
    client = redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )
    try:
        status["depth"] = count_queued(client)
        status["interactions_pending"] = int(client.scard(PENDING_INTERACTIONS_KEY))
    except redis.exceptions.RedisError as exc:
        status["error"] = f"Redis unreachable: {exc}"
        return status
    finally:
        client.close()
    status["workers"] = _live_workers(settings, url)
    return status


def _live_workers(settings: Settings, url: str) -> int:
    app = task_client(settings.model_copy(update={"redis": settings.redis.model_copy(
        update={"url": url})}))  # fmt: skip
    try:
        return len(app.control.ping(timeout=1.0) or [])
    finally:
        app.close()


def collect_status(settings: Settings) -> dict[str, Any]:
    """Return the figures ``status`` shows, as JSON-ready data."""
    registry = open_registry(settings)
    figures = key_figures(
        open_warehouse(settings), rolling_answers=settings.triggers.accuracy_window
    )
    return {
        "model": {"production": registry.production(), "versions": registry.versions()},
        "figures": figures.to_json(),
        "figures_text": format_figures(figures),
        "schedule": describe_schedule(settings),
        "queues": queue_status(settings),
    }


def render(status: dict[str, Any]) -> str:
    """Format ``collect_status``'s data for a terminal."""
    model = status["model"]
    lines = [
        f"Production model: {model['production'] or 'none yet (v0 is created on first use)'}"
        f" ({len(model['versions'])} versions)",
        status["figures_text"],
        "Beat schedule:",
    ]
    for entry in status["schedule"]:
        lines.append(
            f"  {entry['entry']:<16} {entry['task']:<30} every {entry['every_seconds']:>6} s"
            f"  (queue {entry['queue']})"
        )
    queues = status["queues"]
    origin = " (embedded, started by `creature-vis run`)" if queues["embedded"] else ""
    lines.append(f"Queues on {queues['redis']}{origin}:")
    if "error" in queues:
        lines.append(f"  {queues['error']}")
    else:
        lines += [f"  {name:<16} {count:>6}" for name, count in queues["depth"].items()]
        lines.append(f"  {'workers':<16} {queues['workers']:>6}")
        lines.append(f"  {'log backlog':<16} {queues['interactions_pending']:>6}"
                     "  (interactions not yet in the warehouse)")  # fmt: skip
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the status; exit 1 when Redis cannot be reached."""
    status = collect_status(settings)
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 1 if "error" in status["queues"] else 0
