"""When the production version cannot tell labels apart, the bot says so and lets people pick.

The real bot and a real worker with the real model; model v0 carries a calibration whose set
threshold takes the top three labels of every photo into its answer set.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.labels import DISPLAY_NAMES
from core.model.calibration import Calibration
from core.model.handle import open_registry
from core.settings import Settings, load_settings
from core.warehouse import open_warehouse
from testkit.bot_harness import (
    bot_settings,
    button_data,
    fake_bot_api,
    keyboard,
    prediction,
    running_bot,
    share_model_cache,
    worker_stack,
)
from testkit.telegram_api import FakeBotApi
from testkit.telegram_chats import User

pytestmark = [pytest.mark.e2e, pytest.mark.datasets, pytest.mark.timeout(180)]
ERIN = User(1005, "Erin")
EVERY_TOP3 = Calibration(1.0, 2.0, 0.5, 0.95, 100, "test-1")  # APS scores are at most 1


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, animals_dev: Path
) -> Iterator[tuple[Path, str]]:
    data_dir = tmp_path_factory.mktemp("bot-answer-sets") / "var"
    share_model_cache(data_dir)
    registry = open_registry(load_settings(data_dir=data_dir))
    registry.calibrate(registry.ensure_taxonomy(), EVERY_TOP3)
    with worker_stack(data_dir) as stack:
        yield stack


@pytest.fixture
async def chat(stack: tuple[Path, str]) -> AsyncIterator[tuple[FakeBotApi, Settings]]:
    data_dir, url = stack
    async with fake_bot_api() as fake:
        settings = bot_settings(data_dir, url, fake)
        async with running_bot(settings):
            yield fake, settings


async def test_a_set_is_shown_as_either_and_each_label_is_a_button(
    chat: tuple[FakeBotApi, Settings], animals_dev: Path
) -> None:
    fake, settings = chat
    fake.send_photo(ERIN, sorted((animals_dev / "dog").glob("inS_*.jpg"))[0].read_bytes())
    shown = await prediction(fake, ERIN.id)
    warehouse = open_warehouse(settings)
    (interaction,) = await fake.wait_for(
        lambda: warehouse.query("SELECT * FROM interactions")  # the worker logs it soon after
    )
    answer = json.loads(interaction["answer_json"])
    top3 = [label for label, _ in json.loads(interaction["top3_json"])]
    assert answer == top3 and answer[0] == "dog"
    first, *_ = shown["text"].splitlines()
    assert first.startswith("This is a dog, ") and first.endswith(": I can't tell which.")
    assert shown["text"].endswith("Which is it?")
    names = [DISPLAY_NAMES[label] for label in answer]
    assert keyboard(shown) == [names, ["❌ None of these"]]

    fake.press(ERIN, shown, button_data(shown, names[1]))  # the second of the set
    recorded = await fake.wait_for(
        lambda: (
            "Recorded" in fake.bot_messages(ERIN.id)[-1]["text"] and fake.bot_messages(ERIN.id)[-1]
        )
    )
    assert "❌ Recorded" in recorded["text"] and keyboard(recorded) == keyboard(shown)
    fake.press(ERIN, recorded, button_data(recorded, "❌ None of these"))
    grid = await fake.wait_for(
        lambda: (
            len(keyboard(fake.bot_messages(ERIN.id)[-1])) == 5 and fake.bot_messages(ERIN.id)[-1]
        )
    )
    fake.press(ERIN, grid, button_data(grid, "Cancel"))  # back to the set's buttons
    await fake.wait_for(lambda: keyboard(fake.bot_messages(ERIN.id)[-1]) == keyboard(shown))
    fake.press(ERIN, grid, button_data(grid, names[0]))  # the top label: a correct answer
    await fake.wait_for(lambda: "✅ Recorded: correct" in fake.bot_messages(ERIN.id)[-1]["text"])

    answers = warehouse.query("SELECT * FROM feedback ORDER BY created_at")
    assert [(a["label"], a["is_correct"]) for a in answers] == [(answer[1], False), ("dog", True)]
