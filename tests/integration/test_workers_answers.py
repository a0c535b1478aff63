"""Answers on real Redis and DuckDB: written once, parked while the warehouse cannot take them,
replayed in order after their interactions, refused only when the interaction is nowhere."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import duckdb
import pytest
import redis

from core.errors import UnknownInteraction
from core.queue import forget_pending_interactions
from core.schemas import FeedbackRequest
from core.settings import Settings
from core.warehouse import Row, Warehouse, open_warehouse
from core.warehouse.records import forget_user, interaction_row
from testkit.workers_support import SHARED_REDIS, claim_redis_db, release_redis_db
from workers.infrastructure.interaction_log import InteractionLog
from workers.services.feedback import AnswerLog


class Locked:
    """The warehouse as another process holding its file makes it: every call fails."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self.locked = True

    def _check(self) -> None:
        if self.locked:
            raise duckdb.IOException("Could not set lock on file: Conflicting lock is held")

    def create_tables(self) -> None:
        self.inner.create_tables()

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        self._check()
        return self.inner.insert(table, rows)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        self._check()
        return self.inner.query(sql, params)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        self._check()
        return self.inner.execute(sql, params)

    def ping(self) -> None:
        self._check()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    db = claim_redis_db()
    connection = redis.Redis.from_url(f"{SHARED_REDIS}/{db}")
    yield connection
    connection.close()
    release_redis_db(db)


class Rig:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.warehouse = open_warehouse(settings)
        self.locked = Locked(self.warehouse)
        self.locked.locked = False
        self.interactions = InteractionLog(client, self.locked)
        self.answers = AnswerLog(client, self.locked, self.interactions)

    def classified(self, user: str = "telegram:1") -> str:
        """An interaction classify logged (pending in Redis, not yet flushed)."""
        interaction_id = uuid.uuid4().hex
        self.interactions.add(interaction_row(
            interaction_id=interaction_id, channel="telegram", image_id="ab" * 32,
            model_version="v0", top3=[("dog", 0.8), ("cat", 0.1), ("bird", 0.1)],
            user_id=user, chat_id="1",
        ))  # fmt: skip
        return interaction_id

    def answer(self, interaction_id: str, label: str = "cat", user: str = "telegram:1") -> Any:
        request = FeedbackRequest(
            interaction_id=interaction_id,
            user_id=user,
            correct=False,
            label=label,
            channel="telegram",
            feedback_id=uuid.uuid4().hex,
        )
        return self.answers.record(request, delivery_key="task-1")

    def feedback(self) -> list[Row]:
        return self.warehouse.query("SELECT * FROM feedback ORDER BY created_at")


@pytest.fixture
def rig(client: redis.Redis, settings: Settings) -> Rig:
    return Rig(client, settings)


def test_an_answer_writes_its_pending_interaction_first_then_itself_once(rig: Rig) -> None:
    interaction_id = rig.classified()
    told = rig.answer(interaction_id)
    assert told["label"] == "cat" and told["is_correct"] is False
    assert rig.interactions.pending() == 0
    assert [row["feedback_id"] for row in rig.feedback()] == [told["feedback_id"]]


def test_an_answer_the_warehouse_cannot_take_is_parked_and_written_later_in_order(
    rig: Rig,
) -> None:
    interaction_id = rig.classified()
    rig.locked.locked = True
    first = rig.answer(interaction_id, "cat")
    second = rig.answer(interaction_id, "bird")  # the same person changes their mind
    assert (first["label"], second["label"]) == ("cat", "bird")  # told it was recorded
    assert rig.answers.parked() == 2 and rig.answers.replay() == 0  # still locked: kept
    rig.locked.locked = False
    rig.interactions.flush()
    assert rig.answers.replay() == 2 and rig.answers.parked() == 0
    rows = rig.feedback()
    assert [row["label"] for row in rows] == ["cat", "bird"]  # the later answer still counts
    assert rig.answers.replay() == 0 and len(rig.feedback()) == 2


def test_an_answer_to_an_interaction_that_exists_nowhere_is_refused(rig: Rig) -> None:
    with pytest.raises(UnknownInteraction):
        rig.answer(uuid.uuid4().hex)
    rig.locked.locked = True
    with pytest.raises(duckdb.IOException):  # cannot tell yet: the task retries
        rig.answer(uuid.uuid4().hex)
    assert rig.answers.parked() == 0


def test_an_answer_is_recorded_from_the_row_redis_holds_when_the_warehouse_lacks_it(
    rig: Rig,
) -> None:
    interaction_id = rig.classified()
    rig.interactions.flush()
    rig.warehouse.execute("DELETE FROM interactions WHERE TRUE")  # flushed, not readable
    told = rig.answer(interaction_id, "cat")
    assert [row["feedback_id"] for row in rig.feedback()] == [told["feedback_id"]]
    restored = rig.warehouse.query("SELECT interaction_id FROM interactions")
    assert restored == [{"interaction_id": interaction_id}]  # written again from Redis


def test_forget_drops_parked_answers_and_deletes_one_written_too_late(
    rig: Rig, client: redis.Redis
) -> None:
    mine, theirs = rig.classified("telegram:1"), rig.classified("telegram:2")
    rig.interactions.flush()
    rig.locked.locked = True
    rig.answer(mine, user="telegram:1")
    rig.answer(theirs, user="telegram:2")
    late = dict(client.hgetall("creature-vis:answers:parked"))
    assert forget_pending_interactions(client, "telegram:1") == 1
    rig.locked.locked = False
    forget_user(rig.warehouse, "telegram:1")
    client.hset("creature-vis:answers:parked", mapping=late)  # a replay already under way
    assert rig.answers.replay() == 2
    assert [row["user_id"] for row in rig.feedback()] == ["telegram:2"]
