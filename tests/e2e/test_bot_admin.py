"""Admins run /status, /retrain, /rollback and /stats on the real bot; others are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from bot import views
from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
from core.model.handle import open_registry
from core.model.registry import Lineage
from core.settings import Settings
from core.warehouse import open_warehouse
from testkit.bot_harness import (
    bot_settings,
    button_data,
    fake_bot_api,
    prediction,
    running_bot,
    worker_stack,
)
from testkit.telegram_api import FakeBotApi
from testkit.telegram_chats import User

pytestmark = [pytest.mark.e2e, pytest.mark.datasets, pytest.mark.timeout(180)]

ADMIN, MALLORY = User(2001, "Ada"), User(2002, "Mallory")
ADMIN_COMMANDS = ("/status", "/retrain", "/rollback", "/stats")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    with worker_stack(tmp_path_factory.mktemp("bot-admin") / "var", training=True) as stack:
        yield stack


@pytest.fixture
async def chat(stack: tuple[Path, str]) -> AsyncIterator[tuple[FakeBotApi, Settings]]:
    data_dir, url = stack
    async with fake_bot_api() as fake:
        settings = bot_settings(data_dir, url, fake, admin_ids=[ADMIN.id])
        async with running_bot(settings):
            yield fake, settings


async def command(
    fake: FakeBotApi, user: User, text: str, replies: int = 1, timeout: float = 60
) -> list[str]:
    """Send ``text`` and return the bot's new messages once ``replies`` have arrived."""
    before = len(fake.texts(user.id))
    fake.send_text(user, text)
    await fake.wait_for(lambda: len(fake.texts(user.id)) >= before + replies, timeout)
    return fake.texts(user.id)[before:]


async def test_non_admins_are_refused_politely(chat: tuple[FakeBotApi, Settings]) -> None:
    fake, settings = chat
    production = open_registry(settings).production()
    for text in ADMIN_COMMANDS:
        assert await command(fake, MALLORY, text) == [views.ADMINS_ONLY]
    assert open_registry(settings).production() == production
    assert open_warehouse(settings).query("SELECT * FROM retrain_events") == []


async def test_rollback_moves_production_back(chat: tuple[FakeBotApi, Settings]) -> None:
    fake, settings = chat
    registry = open_registry(settings)
    registry.ensure_taxonomy()
    (refused,) = await command(fake, ADMIN, "/rollback")
    assert refused.startswith("Nothing changed: no previous production version")

    head = Head(
        np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32), np.zeros(NUM_LABELS, np.float32)
    )
    lineage = Lineage(parent_version="v0", dataset_version=None, code_version="test")
    version = registry.save_head(head, metrics={"accuracy": 0.91}, lineage=lineage)
    registry.promote(version)
    (status,) = await command(fake, ADMIN, "/status")
    assert f"Model: {version} (held-out accuracy 91.0%)" in status

    (done,) = await command(fake, ADMIN, "/rollback")
    assert done == f"Rolled back: production is now v0 (was {version})."
    assert registry.production() == "v0"
    (event,) = open_warehouse(settings).query(
        "SELECT * FROM retrain_events WHERE kind = 'rollback'"
    )
    assert event["model_version"] == "v0"


async def test_status_stats_and_retrain(
    chat: tuple[FakeBotApi, Settings], animals_dev: Path
) -> None:
    fake, settings = chat
    dog = sorted((animals_dev / "dog").glob("inS_*.jpg"))[0].read_bytes()
    fake.send_photo(ADMIN, dog)
    shown = await prediction(fake, ADMIN.id)
    fake.press(ADMIN, shown, button_data(shown, "✅ Correct"))
    await fake.wait_for(lambda: "Recorded" in fake.texts(ADMIN.id)[0])
    fake.press(ADMIN, shown, button_data(shown, "✅ Correct"))  # the same answer once more
    warehouse = open_warehouse(settings)
    await fake.wait_for(lambda: len(warehouse.query("SELECT * FROM feedback")) == 2)

    (status,) = await command(fake, ADMIN, "/status")
    assert "Model: v0" in status
    assert "Feedback: 1 today, 1 in total" in status  # the answer that counts, not the rows
    assert "Queues: inference 0, default 0, training 0" in status
    assert "Last retrain check: never" in status
    # The shared key figures, as `creature-vis status` prints them.
    assert "Rolling accuracy: 100.0% over the latest 1 answers" in status

    stats = (await command(fake, ADMIN, "/stats"))[0].splitlines()
    assert "Dog: 1, 100% of 1" in stats
    assert "Giraffe: 0, no answers" in stats
    assert "This week's answers: 1 trusted, 0 down-weighted, 0 refused" in stats  # an admin's

    ack, outcome = await command(fake, ADMIN, "/retrain", replies=2, timeout=150)
    assert ack == "Forced a retrain check. I'll tell you what it decides."
    assert outcome.startswith("Retrain check")
    (check,) = open_warehouse(settings).query("SELECT * FROM retrain_events WHERE kind = 'check'")
    assert (check["fired"], check["rule"]) == (True, "forced by an admin")  # thresholds ignored
    (status,) = await command(fake, ADMIN, "/status")
    assert f"Last retrain check: {check['created_at']:%Y-%m-%d %H:%M} UTC" in status
    assert str(check["rule"]) in status and str(check["rule"]) in outcome
