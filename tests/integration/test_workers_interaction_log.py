"""The interaction log: rows held in real Redis, written to a real DuckDB warehouse in batches."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import duckdb
import pytest
import redis

from core.queue import (
    INTERACTION_ROW_KEY,
    forget_flushed_interactions,
    forget_pending_interactions,
)
from core.settings import Settings
from core.warehouse import Warehouse, open_warehouse
from core.warehouse.records import get_interaction, interaction_ids, interaction_row
from testkit.workers_support import (
    SHARED_REDIS,
    claim_redis_db,
    release_redis_db,
    wait_until,
)
from workers.infrastructure.interaction_log import Flusher, InteractionLog


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    db = claim_redis_db()
    connection = redis.Redis.from_url(f"{SHARED_REDIS}/{db}")
    yield connection
    connection.close()
    release_redis_db(db)


@pytest.fixture
def warehouse(settings: Settings) -> Warehouse:
    return open_warehouse(settings)


def a_row(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "interaction_id": uuid.uuid4().hex, "channel": "telegram", "image_id": "b" * 64,
        "model_version": "v0", "top3": [("cat", 0.7), ("dog", 0.2), ("other", 0.1)],
        "probabilities": [1 / 16] * 16, "user_id": "telegram:1", "latency_ms": 21.0}  # fmt: skip
    fields.update(changes)
    return interaction_row(**fields)


def count(warehouse: Warehouse, interaction_id: str) -> int:
    rows = warehouse.query(
        "SELECT COUNT(*) AS n FROM interactions WHERE interaction_id = @id", {"id": interaction_id}
    )
    return int(rows[0]["n"])


def test_an_interaction_is_held_once_and_flushed_once(
    client: redis.Redis, warehouse: Warehouse
) -> None:
    log = InteractionLog(client, warehouse)
    row = a_row()
    assert log.add(row) is None
    again = log.add(a_row(interaction_id=row["interaction_id"], latency_ms=99.0))
    assert again is not None and again["latency_ms"] == 21.0  # the first row wins
    assert log.pending() == 1
    assert log.flush() == 1
    stored = get_interaction(warehouse, str(row["interaction_id"]))
    assert (
        stored is not None
        and stored["predicted_label"] == "cat"
        and stored["user_id"] == "telegram:1"
    )
    # A delivery after the flush still finds the first row and queues nothing.
    assert log.add(a_row(interaction_id=row["interaction_id"])) is not None
    assert log.pending() == 0 and log.flush() == 0
    assert count(warehouse, str(row["interaction_id"])) == 1


def test_a_flush_repeated_after_a_crash_writes_nothing_twice(
    client: redis.Redis, warehouse: Warehouse
) -> None:
    log = InteractionLog(client, warehouse)
    rows = [a_row() for _ in range(5)]
    for row in rows:
        log.add(row)
    warehouse.insert("interactions", rows[:3])  # a flusher died after writing, before clearing
    assert log.flush() == 5
    assert [count(warehouse, str(r["interaction_id"])) for r in rows] == [1] * 5


def test_batches_respect_the_limit_and_the_flusher_drains_everything(
    client: redis.Redis, warehouse: Warehouse
) -> None:
    log = InteractionLog(client, warehouse, batch_max=4)
    rows = [a_row() for _ in range(10)]
    for row in rows:
        log.add(row)
    assert log.flush() == 4 and log.pending() == 6
    flusher = Flusher(log, interval=0.1)
    flusher.start()
    wait_until(lambda: log.pending() == 0, 30, "the flusher to drain the log")
    log.add(a_row())
    flusher.stop()  # stopping flushes what arrived meanwhile
    assert log.pending() == 0
    assert len(warehouse.query("SELECT interaction_id FROM interactions")) == 11


def test_feedback_can_refer_to_a_pending_interaction_once_flushed(
    client: redis.Redis, warehouse: Warehouse
) -> None:
    log = InteractionLog(client, warehouse, batch_max=4)
    row = a_row()
    log.add(row)
    log.flush_one(str(row["interaction_id"]))
    assert get_interaction(warehouse, str(row["interaction_id"])) is not None
    log.flush_one(str(row["interaction_id"]))  # not pending any more: nothing to do
    assert log.pending() == 0 and count(warehouse, str(row["interaction_id"])) == 1


class FlakyWarehouse:
    """The real warehouse, whose first ``failures`` inserts fail as a locked file does."""

    def __init__(self, inner: Warehouse, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def insert(self, table: str, rows: object) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise duckdb.IOException("Could not set lock on file")
        return self.inner.insert(table, rows)  # type: ignore[arg-type]


def test_rows_stay_pending_while_the_warehouse_fails_and_are_written_later(
    client: redis.Redis, warehouse: Warehouse
) -> None:
    flaky = FlakyWarehouse(warehouse, failures=2)
    log = InteractionLog(client, flaky)  # type: ignore[arg-type]
    rows = [a_row() for _ in range(3)]
    for row in rows:
        log.add(row)
    flusher = Flusher(log, interval=0.05, max_backoff=0.2)
    assert flusher.flush_all() is False and log.pending() == 3
    flusher.start()
    wait_until(lambda: log.pending() == 0, 30, "the rows to reach the warehouse")
    flusher.stop()
    assert flaky.failures == 0
    assert [count(warehouse, str(r["interaction_id"])) for r in rows] == [1, 1, 1]


def test_forgetting_a_person_drops_their_pending_rows_and_flushed_rows_name_nobody(
    client: redis.Redis, warehouse: Warehouse
) -> None:
    log = InteractionLog(client, warehouse)
    mine, theirs = a_row(user_id="telegram:1"), a_row(user_id="telegram:2")
    log.add(mine)
    log.add(theirs)
    assert forget_pending_interactions(client, "telegram:1") == 1
    assert log.flush() == 1
    assert count(warehouse, str(mine["interaction_id"])) == 0
    assert count(warehouse, str(theirs["interaction_id"])) == 1
    kept = json.loads(client.get(INTERACTION_ROW_KEY + str(theirs["interaction_id"])) or "{}")
    assert kept["predicted_label"] == "cat" and "user_id" not in kept and "chat_id" not in kept


class ForgetOnInsert:
    """The warehouse, with telegram:1's /forget dropping their pending rows as a flush writes.

    ``before``: between the flush's read of the rows and its insert; else just after it.
    """

    def __init__(self, warehouse: Warehouse, client: redis.Redis, *, before: bool) -> None:
        self.warehouse, self.client, self.before = warehouse, client, before

    def __getattr__(self, name: str) -> object:
        return getattr(self.warehouse, name)

    def insert(self, table: str, rows: list[dict[str, object]]) -> int:
        if self.before:
            forget_pending_interactions(self.client, "telegram:1")
        written = self.warehouse.insert(table, rows)
        if not self.before:
            forget_pending_interactions(self.client, "telegram:1")
        return written


def test_a_person_forgotten_while_a_flush_writes_is_deleted_after_the_write(
    client: redis.Redis, warehouse: Warehouse
) -> None:
    log = InteractionLog(client, ForgetOnInsert(warehouse, client, before=True))  # type: ignore[arg-type]
    mine, theirs = a_row(user_id="telegram:1"), a_row(user_id="telegram:2")
    log.add(mine)
    log.add(theirs)
    assert log.flush() == 2
    assert count(warehouse, str(mine["interaction_id"])) == 0
    assert count(warehouse, str(theirs["interaction_id"])) == 1
    assert client.get(INTERACTION_ROW_KEY + str(mine["interaction_id"])) is None
    assert client.get(INTERACTION_ROW_KEY + str(theirs["interaction_id"])) is not None


def test_a_person_forgotten_just_after_the_write_leaves_no_copy_in_redis(
    client: redis.Redis, warehouse: Warehouse
) -> None:
    log = InteractionLog(client, ForgetOnInsert(warehouse, client, before=False))  # type: ignore[arg-type]
    mine = a_row(user_id="telegram:1")
    log.add(mine)
    assert log.flush() == 1
    assert count(warehouse, str(mine["interaction_id"])) == 0
    assert client.get(INTERACTION_ROW_KEY + str(mine["interaction_id"])) is None


def test_a_flush_finished_before_the_drop_is_found_in_the_warehouse_and_its_copy_dropped(
    client: redis.Redis, warehouse: Warehouse
) -> None:
    log = InteractionLog(client, warehouse)
    mine, theirs = a_row(user_id="telegram:1"), a_row(user_id="telegram:2")
    log.add(mine)
    log.add(theirs)
    assert log.flush() == 2  # before /forget: nothing pending is left to drop
    assert forget_pending_interactions(client, "telegram:1") == 0
    forget_flushed_interactions(client, interaction_ids(warehouse, "telegram:1"))
    assert client.get(INTERACTION_ROW_KEY + str(mine["interaction_id"])) is None
    assert client.get(INTERACTION_ROW_KEY + str(theirs["interaction_id"])) is not None
