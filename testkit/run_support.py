"""Running ``creature-vis run`` as a user does, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_VARIABLES = ("REDIS_URL", "TELEGRAM_BOT_TOKEN")


def user_env(**settings: str) -> dict[str, str]:
    """This environment without any project setting (so no REDIS_URL: the embedded Redis)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CREATURE_VIS_") and k not in PROJECT_VARIABLES
    }
    return {**env, "PYTHONUNBUFFERED": "1", **settings}


def start_run(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``creature-vis run`` in its own process group, as a terminal does; log to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", "run"],
            cwd=log.parent,  # no .env of the developer's
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Wait until the server on ``port`` says it is ready; fail if the run exits first."""
    deadline = time.monotonic() + 300
    while True:
        assert process.poll() is None, f"creature-vis run exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"never ready:\n{log.read_text()}"
        time.sleep(0.5)
