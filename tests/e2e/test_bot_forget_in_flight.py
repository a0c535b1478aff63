"""A /forget that arrives while the person's photo is still being classified.

The classify task runs only once the worker comes up after the /forget, and succeeds. What it
logged must be forgotten too, and the person must get no buttons for it. When the service
already holds the photo (an acquired photo), /forget keeps it; when only the person sent it,
its original and its images row (held in Redis for the worker until then) go.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis

from bot import views
from core.held_images import held_images
from core.images import intake
from core.photos import store_photo
from core.queue import INTERACTION_ROW_KEY, PENDING_INTERACTIONS_KEY
from core.storage import open_store
from core.warehouse import open_warehouse
from testkit.bot_harness import (
    WorkerProcess,
    bot_settings,
    fake_bot_api,
    keyboard,
    private_redis_url,
    release_redis,
    running_bot,
    share_model_cache,
)
from testkit.telegram_api import FakeBotApi
from testkit.telegram_chats import User

pytestmark = [pytest.mark.e2e, pytest.mark.datasets, pytest.mark.timeout(300)]
ALICE = User(4001, "Alice")


def discarded(fake: FakeBotApi) -> list[dict[str, Any]]:
    return [m for m in fake.bot_messages(ALICE.id) if m.get("text") == views.FORGOTTEN_MEANWHILE]


@pytest.mark.parametrize("acquired", [True, False], ids=["held-already", "only-theirs"])
async def test_a_classification_under_way_at_forget_is_discarded(
    tmp_path: Path, animals_dev: Path, acquired: bool
) -> None:
    data_dir = tmp_path / "var"
    share_model_cache(data_dir)
    url = private_redis_url()
    sent = sorted((animals_dev / "dog").glob("inS_*.jpg"))[3].read_bytes()
    worker = WorkerProcess(data_dir, url)
    try:
        async with fake_bot_api() as fake:
            settings = bot_settings(data_dir, url, fake)
            store, warehouse = open_store(settings), open_warehouse(settings)
            if acquired:
                store_photo(store, warehouse, intake(sent), source="unsplash", weak_label="dog")
            async with running_bot(settings):
                fake.send_photo(ALICE, sent)  # no worker yet: the classify task waits
                await fake.wait_for(lambda: views.LOOKING in fake.texts(ALICE.id))
                fake.send_text(ALICE, "/forget")
                await fake.wait_for(lambda: [t for t in fake.texts(ALICE.id) if "Done" in t])
                await asyncio.to_thread(worker.start)
                status = await fake.wait_for(lambda: discarded(fake), timeout=120)
                assert keyboard(status[0]) == []  # nothing to answer
                # Let the worker's flusher run a few times: nothing of Alice may come back.
                await asyncio.sleep(3 * settings.workers.flush_seconds + 1)
        alice = {"u": f"telegram:{ALICE.id}"}
        for table in ("interactions", "images"):
            assert warehouse.query(f"SELECT * FROM {table} WHERE user_id = @u", alice) == []  # noqa: S608
        client = redis.Redis.from_url(url)
        assert client.scard(PENDING_INTERACTIONS_KEY) == 0
        assert list(client.scan_iter(INTERACTION_ROW_KEY + "*")) == []
        assert held_images(client) == 0
        # The acquired photo stays (it was not only Alice's); hers alone is gone.
        assert bool(store.list("images/")) is acquired
        assert len(warehouse.query("SELECT * FROM images")) == int(acquired)
    finally:
        worker.stop()
        release_redis(url)
