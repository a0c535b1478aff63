"""The container health probe (docker/probe.py) against real servers and processes."""

from __future__ import annotations

import http.server
import importlib.util
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from testkit.workers_support import SHARED_REDIS, claim_redis_db, release_redis_db
from tests.conftest import REPO

PROBE = REPO / "docker" / "probe.py"
REDIS = SHARED_REDIS


def _load_probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("container_probe", PROBE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


probe = _load_probe()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


class _Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 500)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_probe_passes_only_on_a_2xx_answer(http_server: str) -> None:
    assert probe.main(["http", f"{http_server}/healthz"]) == 0
    assert probe.main(["http", f"{http_server}/broken"]) == 1
    assert probe.main(["http", f"http://127.0.0.1:{_free_port()}/healthz"]) == 1


def test_http_probe_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="not an http"):
        probe.check_http("file:///etc/passwd")


def test_redis_probe_reads_the_url_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", f"{REDIS}/0")
    assert probe.main(["redis"]) == 0
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{_free_port()}/0")
    assert probe.main(["redis"]) == 1


def test_celery_probe_needs_a_worker_on_this_host(tmp_path: Path) -> None:
    db = claim_redis_db()  # released below, so no queue bindings are left behind
    broker = f"{REDIS}/{db}"
    queue = f"probe-{os.getpid()}-{random.randrange(10**9)}"
    (tmp_path / "probe_app.py").write_text(
        f"from celery import Celery\napp = Celery(broker={broker!r})\n"
        f"app.conf.task_default_queue = {queue!r}\n"
    )
    assert not probe.check_celery(broker, f"nohost-{queue}", timeout=1.0)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "probe_app", "worker", "--pool", "solo",
         "-n", f"{queue}@%h", "--loglevel", "warning"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    try:
        _wait_for(lambda: probe.check_celery(broker, socket.gethostname(), timeout=1.0))
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        release_redis_db(db)


def test_serve_answers_while_the_command_runs_and_passes_on_its_exit_code(tmp_path: Path) -> None:
    port = _free_port()
    handled = tmp_path / "handler-installed"
    # The command says when its SIGTERM handler is in place: a signal sent before that
    # would end it with the default action, not with its own exit code.
    script = "import pathlib, signal, sys, time\n"
    script += "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\n"
    script += f"pathlib.Path({str(handled)!r}).touch()\ntime.sleep(120)\n"
    supervisor = subprocess.Popen(
        [sys.executable, str(PROBE), "serve", "--port", str(port), "--",
         sys.executable, "-c", script],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        _wait_for(lambda: probe.check_http(url, timeout=1.0) and handled.exists())
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
        assert missing.value.code == 404
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=60) == 7
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


def test_serve_exits_when_the_command_fails() -> None:
    port = _free_port()
    code = subprocess.run(
        [sys.executable, str(PROBE), "serve", "--port", str(port), "--",
         sys.executable, "-c", "raise SystemExit(3)"],
        timeout=60,
        check=False,
    ).returncode  # fmt: skip
    assert code == 3
