"""How the bot runs: webhook with a secret token, clear configuration errors, no TensorFlow."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import views
from bot.__main__ import webhook_options
from bot.app import build_application
from core.errors import ConfigurationError
from core.settings import load_settings
from testkit.bot_harness import (
    REPO,
    bot_settings,
    fake_bot_api,
    private_redis_url,
    release_redis,
)
from testkit.telegram_chats import User

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SECRET = secrets.token_urlsafe(24)


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = private_redis_url()
    yield url
    release_redis(url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_accepts_only_updates_with_the_secret(data_dir: Path, redis_url: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with fake_bot_api() as fake:
        settings = bot_settings(data_dir, redis_url, fake, webhook_url=url, webhook_secret=SECRET)
        application = build_application(settings)
        await application.initialize()
        assert application.post_init is not None and application.updater is not None
        await application.post_init(application)
        await application.start()
        options = webhook_options(settings, listen="127.0.0.1", port=port)
        await application.updater.start_webhook(**options)
        try:
            registered = fake.calls_to("setWebhook")[-1].params
            assert (registered["url"], registered["secret_token"]) == (url, SECRET)
            user = User(3001, "Wendy")
            message = {
                "message_id": 1, "date": 0, "chat": {"id": user.id, "type": "private"},
                "from": user.as_json(), "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            }  # fmt: skip
            for secret in (None, "wrong-secret"):
                update = fake.next_update({"message": message})
                assert await fake.post_webhook(url, update, secret) == 403
            assert (
                await fake.post_webhook(url, fake.next_update({"message": message}), SECRET) == 200
            )
            (reply,) = await fake.wait_for(lambda: fake.calls_to("sendMessage"))
            assert reply.params["text"] == views.help_text()
            assert len(fake.calls_to("sendMessage")) == 1  # the refused updates did nothing
        finally:
            await application.updater.stop()
            await application.stop()
            await application.shutdown()
            assert application.post_shutdown is not None
            await application.post_shutdown(application)


async def test_python_m_bot_polls_with_settings_from_the_environment(
    data_dir: Path, redis_url: str
) -> None:
    async with fake_bot_api() as fake:
        env = {
            "PATH": "/usr/bin:/bin",
            "CREATURE_VIS_DATA_DIR": str(data_dir),
            "REDIS_URL": redis_url,
            "TELEGRAM_BOT_TOKEN": fake.token,
            "CREATURE_VIS_BOT__BASE_URL": fake.base_url,
            "CREATURE_VIS_BOT__BASE_FILE_URL": fake.base_file_url,
            "CREATURE_VIS_BOT__ADMIN_IDS": "[3002]",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            admin = User(3002, "Root")
            fake.send_text(admin, "/stats")
            (reply,) = await fake.wait_for(lambda: fake.texts(admin.id))
            assert reply.startswith("Per label")
            assert fake.calls_to("deleteWebhook")  # polling mode clears any webhook first
        finally:
            process.terminate()
            output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output.decode(errors="replace")
        assert fake.token not in output.decode(errors="replace")  # never logged


def test_webhook_without_a_secret_is_refused(data_dir: Path) -> None:
    settings = load_settings(
        data_dir=data_dir, bot={"token": "1:x", "webhook_url": "https://x/hook"}
    )
    with pytest.raises(ConfigurationError, match="CREATURE_VIS_BOT__WEBHOOK_SECRET"):
        webhook_options(settings)


def test_bot_without_a_token_says_which_variable_to_set(data_dir: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CREATURE_VIS_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr


def test_importing_the_bot_loads_no_model_framework() -> None:
    code = (
        "import sys, bot.app, bot.__main__, bot.handlers\n"
        "heavy = {'tensorflow', 'keras', 'torch', 'onnxruntime', 'ai_edge_litert'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    assert result.stdout.strip() == "[]"
