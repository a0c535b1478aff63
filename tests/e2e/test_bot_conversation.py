"""People talk to the real bot (python-telegram-bot) through a fake Bot API; a real worker
classifies their photos with the production model. Assertions are on what the user sees
(the Bot API calls) and on the warehouse rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import views
from core.settings import Settings
from core.storage import open_store
from core.warehouse import Warehouse, open_warehouse
from core.warehouse.records import effective_feedback
from testkit.bot_harness import (
    bot_settings,
    button_data,
    fake_bot_api,
    keyboard,
    prediction,
    running_bot,
    worker_stack,
)
from testkit.telegram_api import FakeBotApi
from testkit.telegram_chats import User

pytestmark = [pytest.mark.e2e, pytest.mark.datasets, pytest.mark.timeout(180)]

ALICE, BOB, CAROL, DAVE = (
    User(1001, "Alice"),
    User(1002, "Bob"),
    User(1003, "Carol"),
    User(1004, "Dave"),
)
GROUP = -5001
RATE_LIMIT = 3


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, animals_dev: Path
) -> Iterator[tuple[Path, str]]:
    """A data directory and a private Redis database, with a real worker on them."""
    with worker_stack(tmp_path_factory.mktemp("bot-conversation") / "var") as stack:
        yield stack


@pytest.fixture
async def chat(stack: tuple[Path, str]) -> AsyncIterator[tuple[FakeBotApi, Settings]]:
    """The fake Bot API with the real bot polling it."""
    data_dir, url = stack
    async with fake_bot_api() as fake:
        settings = bot_settings(data_dir, url, fake, rate_limit_count=RATE_LIMIT)
        async with running_bot(settings):
            yield fake, settings


def photo(animals_dev: Path, label: str, index: int = 0) -> bytes:
    return sorted((animals_dev / label).glob("inS_*.jpg"))[index].read_bytes()


def rows(warehouse: Warehouse, table: str, user: User) -> list[dict[str, Any]]:
    sql = f"SELECT * FROM {table} WHERE user_id = @user"  # noqa: S608  (fixed table names)
    return warehouse.query(sql, {"user": f"telegram:{user.id}"})


async def test_photo_gets_a_prediction_and_answers_are_recorded(
    chat: tuple[FakeBotApi, Settings], animals_dev: Path
) -> None:
    fake, settings = chat
    fake.send_photo(ALICE, photo(animals_dev, "dog"))
    shown = await prediction(fake, ALICE.id)
    first_reply = fake.calls_to("sendMessage")[0].params
    assert first_reply["text"] == views.LOOKING  # acknowledged before the model ran
    assert shown["text"].startswith("I think this is a dog")
    assert len([line for line in shown["text"].splitlines() if "%" in line]) == 4
    assert keyboard(shown) == [["✅ Correct", "❌ Wrong"]]

    query = fake.press(ALICE, shown, button_data(shown, "✅ Correct"))
    await fake.wait_for(lambda: "Recorded: correct" in fake.bot_messages(ALICE.id)[-1]["text"])
    assert fake.answers(query) == [{"callback_query_id": query}]

    fake.press(ALICE, shown, button_data(shown, "❌ Wrong"))
    grid = await fake.wait_for(
        lambda: (
            len(keyboard(fake.bot_messages(ALICE.id)[-1])) == 5 and fake.bot_messages(ALICE.id)[-1]
        )
    )
    assert [len(row) for row in keyboard(grid)] == [4, 4, 4, 4, 1]
    assert keyboard(grid)[0] == ["Dog", "Cat", "Horse", "Elephant"]
    fake.press(ALICE, grid, button_data(grid, "Cancel"))
    await fake.wait_for(
        lambda: keyboard(fake.bot_messages(ALICE.id)[-1]) == [["✅ Correct", "❌ Wrong"]]
    )
    fake.press(ALICE, grid, button_data(grid, "❌ Wrong"))
    await fake.wait_for(lambda: len(keyboard(fake.bot_messages(ALICE.id)[-1])) == 5)
    fake.press(ALICE, grid, button_data(grid, "Giraffe"))
    final = await fake.wait_for(
        lambda: (
            "it's a giraffe" in fake.bot_messages(ALICE.id)[-1]["text"]
            and fake.bot_messages(ALICE.id)[-1]
        )
    )
    assert keyboard(final) == [["✅ Correct", "❌ Wrong"]]  # the answer can still be changed

    warehouse = open_warehouse(settings)
    (interaction,) = rows(warehouse, "interactions", ALICE)
    assert (interaction["channel"], interaction["predicted_label"]) == ("telegram", "dog")
    assert interaction["chat_id"] == str(ALICE.id)
    assert len(rows(warehouse, "images", ALICE)) == 1
    answers = rows(warehouse, "feedback", ALICE)
    assert sorted(a["is_correct"] for a in answers) == [False, True]  # both kept
    (effective,) = [f for f in effective_feedback(warehouse) if f["user_id"] == "telegram:1001"]
    assert (effective["label"], effective["is_correct"]) == ("giraffe", False)  # latest counts


async def test_forged_stale_and_foreign_presses_change_nothing(
    chat: tuple[FakeBotApi, Settings], animals_dev: Path
) -> None:
    fake, settings = chat
    fake.send_photo(BOB, photo(animals_dev, "cat"), chat_id=GROUP)
    shown = await prediction(fake, GROUP)
    ok = button_data(shown, "✅ Correct")
    short_id = ok.split(":")[1]
    edits_before = len(fake.calls_to("editMessageText") + fake.calls_to("editMessageReplyMarkup"))
    forged = {
        "someone else's photo": (CAROL, ok, views.NOT_YOURS),
        "unknown id": (BOB, "ok:AAAAAAAAAAAA", views.EXPIRED),
        "label out of range": (BOB, f"lb:{short_id}:99", views.EXPIRED),
        "garbage": (BOB, "drop table feedback", views.EXPIRED),
    }
    for user, data, refusal in forged.values():
        query = fake.press(user, shown, data)
        answer = await fake.wait_for(lambda q=query: fake.answers(q))
        assert answer == [{"callback_query_id": query, "text": refusal, "show_alert": True}]
    edits_after = len(fake.calls_to("editMessageText") + fake.calls_to("editMessageReplyMarkup"))
    assert edits_after == edits_before
    assert rows(open_warehouse(settings), "feedback", BOB) == []
    assert rows(open_warehouse(settings), "feedback", CAROL) == []

    fake.press(BOB, shown, ok)  # the owner's own press still works
    await fake.wait_for(lambda: "Recorded" in fake.bot_messages(GROUP)[-1]["text"])
    assert len(rows(open_warehouse(settings), "feedback", BOB)) == 1


async def test_rate_limit_says_when_to_try_again(
    chat: tuple[FakeBotApi, Settings], animals_dev: Path
) -> None:
    fake, settings = chat
    for index in range(RATE_LIMIT + 2):
        fake.send_photo(CAROL, photo(animals_dev, "dog", index + 1))
    await prediction(fake, CAROL.id, count=RATE_LIMIT)
    limited = await fake.wait_for(lambda: [t for t in fake.texts(CAROL.id) if "try again in" in t])
    assert len(limited) == 1  # told once per window, further photos are dropped silently
    assert len(fake.texts(CAROL.id)) == RATE_LIMIT + 1
    # The images rows the bot holds in Redis reach the warehouse with a worker's next flush.
    warehouse = open_warehouse(settings)
    await fake.wait_for(lambda: len(rows(warehouse, "images", CAROL)) >= RATE_LIMIT)
    assert len(rows(warehouse, "images", CAROL)) == RATE_LIMIT


async def test_things_that_are_not_photos_get_a_friendly_reply(
    chat: tuple[FakeBotApi, Settings], animals_dev: Path
) -> None:
    fake, settings = chat
    stored_before = open_store(settings).list("images/")
    jpeg = photo(animals_dev, "zebra")
    fake.send_sticker(DAVE)
    fake.send_video(DAVE)
    fake.send_document(DAVE, b"%PDF-1.4 notes", "notes.pdf", "application/pdf")
    fake.send_document(DAVE, jpeg[: len(jpeg) // 3], "broken.jpg", "image/jpeg")
    big = b"\xff\xd8" + bytes(settings.images.max_bytes)
    huge = fake.send_document(DAVE, big, "huge.jpg", "image/jpeg")
    fake.send_text(DAVE, "hello?")
    expected = {
        views.STICKER,
        views.VIDEO,
        views.DOCUMENT,
        views.TEXT,
        views.too_large(settings.images.max_bytes),
        "That image looks damaged or incomplete. Please send it again.",
    }
    await fake.wait_for(lambda: expected <= set(fake.texts(DAVE.id)), timeout=30)
    replies = {m["text"]: m for m in fake.bot_messages(DAVE.id) if m["text"] in expected}
    assert all("reply_to_message" in reply for reply in replies.values())  # each says which
    too_large = replies[views.too_large(settings.images.max_bytes)]
    assert too_large["reply_to_message"]["message_id"] == huge["message_id"]
    assert len(fake.calls_to("getFile")) == 1  # only the broken one was downloaded
    assert rows(open_warehouse(settings), "images", DAVE) == []
    assert open_store(settings).list("images/") == stored_before

    fake.send_document(DAVE, jpeg, "zebra.jpg", "image/jpeg")  # an image sent as a file works
    assert (await prediction(fake, DAVE.id))["text"].startswith("I think this is a zebra")


async def test_help_and_forget(chat: tuple[FakeBotApi, Settings], animals_dev: Path) -> None:
    fake, settings = chat
    erin = User(1005, "Erin")
    fake.send_text(erin, "/start")
    (welcome,) = await fake.wait_for(lambda: fake.texts(erin.id))
    assert "Giraffe" in welcome and "Privacy" in welcome and "/forget" in welcome
    fake.send_photo(erin, photo(animals_dev, "elephant"))
    shown = await prediction(fake, erin.id)
    fake.press(erin, shown, button_data(shown, "✅ Correct"))
    await fake.wait_for(lambda: "Recorded" in fake.bot_messages(erin.id)[-1]["text"])
    fake.send_photo(erin, photo(animals_dev, "bird"))
    second = await prediction(fake, erin.id, count=2)
    # Answered, so the worker has flushed its interaction to the warehouse (see the report on
    # a flush racing /forget).
    fake.press(erin, second, button_data(second, "❌ Wrong"))
    await fake.wait_for(lambda: len(keyboard(fake.bot_messages(erin.id)[-1])) == 5)
    fake.press(erin, second, button_data(second, "Other"))
    await fake.wait_for(lambda: "Recorded" in fake.bot_messages(erin.id)[-1]["text"])
    warehouse = open_warehouse(settings)
    keys = [image["storage_key"] for image in rows(warehouse, "images", erin)]
    assert len(keys) == 2

    fake.send_text(erin, "/forget")
    done = await fake.wait_for(lambda: [t for t in fake.texts(erin.id) if t.startswith("Done")])
    assert done == ["Done. I deleted 2 photo(s), 2 prediction(s) and 2 answer(s) of yours. "
                    "They won't be used for training."]  # fmt: skip
    for table in ("images", "interactions", "feedback"):
        assert rows(warehouse, table, erin) == []
    assert not any(open_store(settings).exists(key) for key in keys)

    for data in (button_data(shown, "❌ Wrong"), button_data(shown, "✅ Correct")):
        query = fake.press(erin, shown, data)  # old buttons after /forget
        answer = await fake.wait_for(lambda q=query: fake.answers(q))
        assert answer == [{"callback_query_id": query, "text": views.EXPIRED, "show_alert": True}]
    assert rows(warehouse, "feedback", erin) == []
