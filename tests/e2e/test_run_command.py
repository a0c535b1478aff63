"""``creature-vis run`` as a newcomer meets it: embedded Redis, a bot token, a killed run.

The whole system starts as `make run` starts it (no REDIS_URL, so on the embedded Redis;
the bot pointed at a fake Bot API), answers a photo with a prediction and buttons, is
killed outright (SIGKILL to its process group, as a closed terminal does) and starts again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from testkit.bot_harness import (
    button_data,
    fake_bot_api,
    keyboard,
    prediction,
    share_model_cache,
)
from testkit.run_support import start_run, user_env, wait_ready
from testkit.telegram_api import FakeBotApi
from testkit.telegram_chats import User
from testkit.workers_support import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.datasets, pytest.mark.timeout(600)]
ALICE = User(2001, "Alice")


def run_env(data_dir: Path, fake: FakeBotApi, server_port: int, redis_port: int) -> dict[str, str]:
    return user_env(
        CREATURE_VIS_DATA_DIR=str(data_dir),
        TELEGRAM_BOT_TOKEN=fake.token,
        CREATURE_VIS_BOT__BASE_URL=fake.base_url,
        CREATURE_VIS_BOT__BASE_FILE_URL=fake.base_file_url,
        CREATURE_VIS_SERVER__PORT=str(server_port),
        CREATURE_VIS_REDIS__EMBEDDED_PORT=str(redis_port),
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


async def test_run_answers_a_photo_on_the_embedded_redis_and_restarts_after_a_kill(
    tmp_path: Path, animals_dev: Path
) -> None:
    data_dir = tmp_path / "var"
    share_model_cache(data_dir)
    log = tmp_path / "run.log"
    server_port, redis_port = free_port(), free_port()
    photo = sorted((animals_dev / "dog").glob("inS_*.jpg"))[0].read_bytes()
    async with fake_bot_api() as fake:
        env = run_env(data_dir, fake, server_port, redis_port)
        first = start_run(env, log)
        try:
            await asyncio.to_thread(wait_ready, first, server_port, log)
            fake.send_photo(ALICE, photo)
            shown = await prediction(fake, ALICE.id)
            assert shown["text"].startswith("I think this is a dog")
            assert keyboard(shown) == [["✅ Correct", "❌ Wrong"]]
            assert button_data(shown, "✅ Correct")
            redis_pid = int((data_dir / "redis" / "redis.pid").read_text())
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        # Nothing of the killed run is left to block the next one.
        deadline = time.monotonic() + 30
        while pid_alive(redis_pid):
            assert time.monotonic() < deadline, "the embedded Redis outlived its run"
            await asyncio.sleep(0.1)

        second = start_run(env, log)
        try:
            await asyncio.to_thread(wait_ready, second, server_port, log)
            fake.send_photo(ALICE, photo)
            again = await prediction(fake, ALICE.id, count=2)
            assert again["text"].startswith("I think this is a dog")
        finally:
            second.send_signal(signal.SIGINT)  # Ctrl-C
            assert second.wait(timeout=90) == 0, log.read_text()
    assert "redis exited" not in log.read_text()
