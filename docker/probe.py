"""Container health probes and a tiny supervisor for Cloud Run services that serve no HTTP.

Baked into every image as ``/app/probe.py`` and used by Docker HEALTHCHECK, docker-compose
and Cloud Run:

    python /app/probe.py http URL            exit 0 when URL answers 2xx
    python /app/probe.py redis               exit 0 when the configured Redis answers PING
    python /app/probe.py celery              exit 0 when this host's Celery worker answers
    python /app/probe.py serve --port N -- CMD...
                                             run CMD, answer GET /healthz on port N while it
                                             lives, forward SIGTERM, exit with its code

``serve`` exists because Cloud Run only runs containers that listen on a port, and a Celery
worker or beat listens on none. Only the standard library, redis and celery are needed, so
the probe works in every image (the bot image has no TensorFlow).
"""

from __future__ import annotations

import argparse
import http.server
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

TIMEOUT_SECONDS = 5.0


def check_http(url: str, timeout: float = TIMEOUT_SECONDS) -> bool:
    """Return whether ``url`` answers with a 2xx status."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False


def _redis_url() -> str:
    from core.settings import load_settings

    url = load_settings().redis.url
    if not url:
        raise SystemExit("probe: REDIS_URL is not set; nothing to probe")
    return url


def check_redis(url: str, timeout: float = TIMEOUT_SECONDS) -> bool:
    """Return whether the Redis at ``url`` answers PING."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def check_celery(url: str, hostname: str, timeout: float = TIMEOUT_SECONDS) -> bool:
    """Return whether a Celery worker on ``hostname`` answers a control ping."""
    from celery import Celery

    app = Celery(broker=url)
    try:
        replies: list[dict[str, Any]] = app.control.ping(timeout=timeout) or []
    except OSError:
        return False
    finally:
        app.close()
    return any(node.endswith(f"@{hostname}") for reply in replies for node in reply)


class _Health(http.server.BaseHTTPRequestHandler):
    """Answers /healthz with 200 while the supervised child runs, 503 after."""

    child: subprocess.Popen[bytes]

    def do_GET(self) -> None:
        """Report the child's liveness."""
        alive = self.child.poll() is None
        code = 404 if self.path != "/healthz" else (200 if alive else 503)
        body = b"ok\n" if code == 200 else b"not ok\n"
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep probe requests out of the logs."""


def serve(port: int, command: Sequence[str], host: str = "0.0.0.0") -> int:  # noqa: S104
    """Run ``command`` and answer /healthz on ``port`` until it exits; return its code."""
    child = subprocess.Popen(list(command))
    handler = type("Health", (_Health,), {"child": child})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def forward(signum: int, frame: object) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        return child.wait()
    finally:
        server.shutdown()
        server.server_close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="probe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("http").add_argument("url")
    sub.add_parser("redis")
    sub.add_parser("celery")
    serve_parser = sub.add_parser("serve")
    serve_parser.add_argument("--port", type=int, required=True)
    serve_parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one probe (exit 0 healthy, 1 not) or supervise a command."""
    args = _parser().parse_args(argv)
    if args.mode == "http":
        return 0 if check_http(args.url) else 1
    if args.mode == "redis":
        return 0 if check_redis(_redis_url()) else 1
    if args.mode == "celery":
        return 0 if check_celery(_redis_url(), socket.gethostname()) else 1
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("probe serve: give the command after --")
    return serve(args.port, command)


if __name__ == "__main__":
    sys.exit(main())
